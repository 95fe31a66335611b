"""The exercise checks of lib.exercises reject plausible wrong answers.

(Chapters 19, 24 and 26 grade with lib.exercises.grade and cases written in the notebook; their wrong
answers are tested in tests/test_assignments.py.) That the checks accept the solutions is tested by running the chapters' exercises sections
(tests/test_assignments.py); here each check meets a typical mistake and must fail.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import exercises, lqr, mdp


def learning_rate_without_the_factor_two(system, P):
    """Mistake: 2 / (R + gamma B^T P B), forgetting that the curvature of -q* is twice that."""
    return 2.0 / (system.R + system.gamma * system.B.T @ P @ system.B)[0, 0]


def gain_without_discount(system, P):
    """Mistake: drops gamma from both blocks of the quadratic form."""
    return jnp.linalg.solve(system.R + system.B.T @ P @ system.B, system.B.T @ P @ system.A)


def dpg_at_the_start_distribution_only(system, gain, initial_cov):
    """Mistake: weights the action gradient by Sigma_0 instead of the discounted visitation Sigma_K."""
    P = lqr.linear_policy_cost_matrix(system, gain)
    slope = (system.R + system.gamma * system.B.T @ P @ system.B) @ gain - system.gamma * system.B.T @ P @ system.A
    return -2.0 * slope @ initial_cov


def random_actions_mdp(key, num_states, num_actions, gamma):
    """Mistake: an ordinary random MDP, whose actions differ."""
    return mdp.random_mdp(key, num_states, num_actions, gamma)


def entropy_with_the_wrong_sign(q_values, temperature):
    policy = jax.nn.softmax(q_values / temperature, axis=-1)
    log_policy = jax.nn.log_softmax(q_values / temperature, axis=-1)
    return jnp.sum(policy * (q_values + temperature * log_policy), axis=-1)


def ratio_without_the_constants():
    """Mistake: solves theta^6 + 18 theta^4 + 39 theta^2 = 160 theta^2, dropping the 2 and the 20."""
    return float(np.sqrt(max(np.roots([1.0, 18.0, 39.0 - 160.0]).real)))


def score_without_the_normalizer(eps, mu, sigma):
    """Mistake: differentiates only the exponent of the density, dropping -1/sigma from the score."""
    x = mu + sigma * eps
    return x**2 * (x - mu) ** 2 / sigma**3, 2.0 * x * eps


def noise_moments_without_behavior_noise(behavior_gain, behavior_std, gain, std, state_mean, state_cov):
    """Mistake: forgets the behavior policy's own noise sigma_b eps."""
    difference = gain - behavior_gain
    return difference @ state_mean / std, difference @ state_cov @ difference.T / std**2


WRONG_ANSWERS = [
    (exercises.check_largest_stable_learning_rate, learning_rate_without_the_factor_two),
    (exercises.check_greedy_gain, gain_without_discount),
    (exercises.check_dpg_gradient, dpg_at_the_start_distribution_only),
    (exercises.check_equally_good_mdp, random_actions_mdp),
    (exercises.check_soft_max_from_entropy, entropy_with_the_wrong_sign),
    (exercises.check_ten_times_theta, ratio_without_the_constants),
    (exercises.check_scale_estimators, score_without_the_normalizer),
    (exercises.check_off_policy_noise_moments, noise_moments_without_behavior_noise),
]


@pytest.mark.parametrize("check, wrong", WRONG_ANSWERS, ids=[wrong.__name__ for _, wrong in WRONG_ANSWERS])
def test_check_rejects_a_typical_mistake(check, wrong, capsys):
    with pytest.raises(AssertionError, match="Exercise"):
        check(wrong)
    assert "passed" not in capsys.readouterr().out


def test_every_check_has_a_wrong_answer_test():
    checks = {name for name in dir(exercises) if name.startswith("check_")}
    assert checks == {check.__name__ for check, _ in WRONG_ANSWERS}
