"""Exact finite-MDP answers against value iteration and simulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.problems import mdp


@pytest.fixture(scope="module")
def small_mdp():
    return mdp.random_mdp(jax.random.PRNGKey(0), num_states=5, num_actions=3, gamma=0.9)


def random_policy(key, num_states, num_actions):
    return jax.nn.softmax(jax.random.normal(key, (num_states, num_actions)), axis=1)


def test_exact_evaluation_is_fixed_point_of_bellman_operator(small_mdp):
    policy = random_policy(jax.random.PRNGKey(1), 5, 3)
    values = mdp.evaluate_policy(small_mdp, policy)
    backed_up = jnp.sum(policy * mdp.q_from_v(small_mdp, values), axis=1)
    np.testing.assert_allclose(backed_up, values, rtol=1e-5, atol=1e-5)


def test_exact_evaluation_matches_iterative_evaluation(small_mdp):
    policy = random_policy(jax.random.PRNGKey(2), 5, 3)
    values = jnp.zeros(5)
    for _ in range(400):
        values = jnp.sum(policy * mdp.q_from_v(small_mdp, values), axis=1)
    np.testing.assert_allclose(mdp.evaluate_policy(small_mdp, policy), values, rtol=1e-4, atol=1e-4)


def test_greedy_policy_of_value_iteration_is_optimal(small_mdp):
    optimal = mdp.value_iteration(small_mdp)
    greedy = mdp.greedy_policy(mdp.q_from_v(small_mdp, optimal))
    np.testing.assert_allclose(mdp.evaluate_policy(small_mdp, greedy), optimal, rtol=1e-4, atol=1e-4)
    # No other deterministic policy does better in any state (3^5 = 243 of them).
    for index in range(3**5):
        actions = [(index // 3**s) % 3 for s in range(5)]
        values = mdp.evaluate_policy(small_mdp, jax.nn.one_hot(jnp.array(actions), 3))
        assert jnp.all(values <= optimal + 1e-4)


def test_advantages_average_to_zero_under_the_policy(small_mdp):
    policy = random_policy(jax.random.PRNGKey(3), 5, 3)
    advantages = mdp.policy_advantages(small_mdp, policy)
    np.testing.assert_allclose(jnp.sum(policy * advantages, axis=1), 0.0, atol=1e-5)


def test_discounted_return_matches_monte_carlo_within_standard_error(small_mdp):
    policy = random_policy(jax.random.PRNGKey(4), 5, 3)
    horizon = 200  # gamma^200 ~ 7e-10: truncation is negligible
    _, _, rewards = mdp.sample_trajectories(small_mdp, policy, jax.random.PRNGKey(5), 20_000, horizon)
    returns = rewards @ small_mdp.gamma ** jnp.arange(horizon)
    standard_error = jnp.std(returns) / jnp.sqrt(returns.shape[0])
    assert abs(jnp.mean(returns) - mdp.expected_return(small_mdp, policy)) < 4 * standard_error


def test_discounted_visitation_matches_simulated_frequencies(small_mdp):
    policy = random_policy(jax.random.PRNGKey(6), 5, 3)
    horizon = 200
    states, _, _ = mdp.sample_trajectories(small_mdp, policy, jax.random.PRNGKey(7), 20_000, horizon)
    weights = (1 - small_mdp.gamma) * small_mdp.gamma ** jnp.arange(horizon)
    per_episode = jax.vmap(lambda s: jnp.zeros(5).at[s].add(weights))(states)
    standard_error = jnp.std(per_episode, axis=0) / jnp.sqrt(per_episode.shape[0])
    visitation = mdp.discounted_visitation(small_mdp, policy)
    np.testing.assert_allclose(jnp.sum(visitation), 1.0, rtol=1e-5)
    assert jnp.all(jnp.abs(jnp.mean(per_episode, axis=0) - visitation) < 4 * standard_error)


@pytest.mark.parametrize("field, value", [("num_states", 0), ("num_actions", -1), ("gamma", 1.0), ("gamma", -0.1)])
def test_random_mdp_rejects_bad_arguments(field, value):
    arguments = {"num_states": 4, "num_actions": 2, "gamma": 0.9, field: value}
    with pytest.raises(ValueError, match=field):
        mdp.random_mdp(jax.random.PRNGKey(0), **arguments)
