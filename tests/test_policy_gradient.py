"""Chapter 24: the policy gradient theorem against autodiff, estimators against the exact gradient.

GAE's limits (lambda = 0 is the TD error, lambda = 1 the return minus the baseline) are tested in
tests/test_onpolicy.py, on the function this module calls.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from lib.problems import envs
from lib.problems import mdp as mdps
from lib.loops import onpolicy
from lib.algorithms import policy_gradient as pg
from lib.notebook.catalog import implemented_boxes
from lib.core.sweep import sweep

NUM_STATES, NUM_ACTIONS, GAMMA = 5, 3, 0.9


def make_problem(gamma=GAMMA):
    mdp = mdps.random_mdp(jax.random.PRNGKey(0), NUM_STATES, NUM_ACTIONS, gamma)
    logits = jax.random.normal(jax.random.PRNGKey(1), (NUM_STATES, NUM_ACTIONS))
    return mdp, logits


def test_theorem_gradient_equals_autodiff_through_the_linear_solve_float64():
    with jax.enable_x64(True):
        mdp, logits = make_problem()
        reference = jax.grad(lambda w: mdps.expected_return(mdp, jax.nn.softmax(w, axis=-1)))(logits)
        theorem = pg.policy_gradient_theorem(mdp, logits)
        assert theorem.dtype == jnp.float64
        np.testing.assert_allclose(theorem, reference, rtol=1e-8, atol=1e-12 * np.abs(reference).max())


def test_theorem_holds_for_a_non_tabular_policy_with_shared_parameters_float64():
    with jax.enable_x64(True):
        mdp, _ = make_problem()
        features = jax.random.normal(jax.random.PRNGKey(2), (NUM_STATES, NUM_ACTIONS, 4))
        policy_fn = lambda theta: jax.nn.softmax(features @ theta, axis=-1)  # log-linear policy
        theta = jax.random.normal(jax.random.PRNGKey(3), (4,))
        reference = jax.grad(lambda t: mdps.expected_return(mdp, policy_fn(t)))(theta)
        np.testing.assert_allclose(pg.policy_gradient_theorem(mdp, theta, policy_fn), reference, rtol=1e-8)


def test_second_form_with_q_or_with_advantages_equals_the_gradient_float64():
    with jax.enable_x64(True):
        mdp, logits = make_problem()
        policy = pg.softmax_policy(logits)
        exact = jax.grad(pg.exact_return, argnums=1)(mdp, logits)
        for table in (mdps.policy_q_values(mdp, policy), mdps.policy_advantages(mdp, policy)):
            np.testing.assert_allclose(pg.gradient_from_action_values(mdp, logits, table), exact, rtol=1e-8)


def test_occupancy_is_the_unnormalized_visitation_summing_to_one_over_one_minus_gamma():
    with jax.enable_x64(True):
        mdp, logits = make_problem()
        visits = pg.occupancy(mdp, pg.softmax_policy(logits))
        np.testing.assert_allclose(visits.sum(), 1 / (1 - GAMMA), rtol=1e-10)


@pytest.mark.parametrize("lam", [0.0, 0.4, 1.0])
def test_expected_gae_with_the_exact_critic_is_the_exact_advantage_for_every_lambda(lam):
    with jax.enable_x64(True):
        mdp, logits = make_problem()
        policy = pg.softmax_policy(logits)
        values = mdps.evaluate_policy(mdp, policy)
        np.testing.assert_allclose(
            pg.gae_expected_advantages(mdp, policy, values, lam), mdps.policy_advantages(mdp, policy), atol=1e-10
        )


def test_expected_gae_with_a_wrong_critic_is_q_minus_critic_at_one_and_expected_td_error_at_zero():
    with jax.enable_x64(True):
        mdp, logits = make_problem()
        policy = pg.softmax_policy(logits)
        critic = jax.random.normal(jax.random.PRNGKey(4), (NUM_STATES,))
        q_values = mdps.policy_q_values(mdp, policy)
        np.testing.assert_allclose(
            pg.gae_expected_advantages(mdp, policy, critic, 1.0), q_values - critic[:, None], atol=1e-10
        )
        np.testing.assert_allclose(
            pg.gae_expected_advantages(mdp, policy, critic, 0.0),
            mdps.q_from_v(mdp, critic) - critic[:, None],
            atol=1e-10,
        )


@pytest.mark.parametrize("gamma", [0.0, 0.9])
def test_visitation_sampler_passes_a_chi_square_test_against_the_exact_distribution(gamma):
    mdp, logits = make_problem(gamma)
    policy = pg.softmax_policy(logits)
    num_samples = 20_000
    states = pg.sample_discounted_visitation(mdp, policy, jax.random.PRNGKey(5), num_samples)
    counts = np.bincount(np.asarray(states), minlength=NUM_STATES)
    expected = np.asarray(mdps.discounted_visitation(mdp, policy), np.float64)
    result = stats.chisquare(counts, num_samples * expected / expected.sum())
    assert result.pvalue > 1e-3, (counts / num_samples, expected)


@pytest.fixture(scope="module")
def estimates():
    """1000 trials of 10 episodes of 100 steps (gamma^100 = 3e-5), critics: exact and wrong."""
    mdp, logits = make_problem()
    policy = pg.softmax_policy(logits)
    values = mdps.evaluate_policy(mdp, policy)
    wrong = values + jax.random.normal(jax.random.PRNGKey(6), values.shape)
    lams = jnp.array([0.0, 0.5, 1.0])
    key = jax.random.PRNGKey(7)
    exact_critic = pg.finite_mdp_estimates(mdp, logits, values, key, lams, 1000, 10, 100)
    wrong_critic = pg.finite_mdp_estimates(mdp, logits, wrong, key, lams, 1000, 10, 100)
    return mdp, logits, policy, wrong, lams, exact_critic, wrong_critic


def assert_within_standard_errors(samples, target, num_se=4.0):
    samples = np.asarray(samples, np.float64).reshape(samples.shape[0], -1)
    mean = samples.mean(axis=0)
    standard_error = samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])
    z = np.abs(mean - np.ravel(target)) / standard_error
    assert np.all(z < num_se), f"max |z| = {z.max():.2f}"


def test_whole_return_reward_to_go_and_baseline_estimators_are_unbiased_within_their_standard_error(estimates):
    mdp, logits, _, _, _, exact_critic, wrong_critic = estimates
    exact = pg.policy_gradient_theorem(mdp, logits)
    for samples in (exact_critic.whole_return, exact_critic.reward_to_go, exact_critic.baseline, wrong_critic.baseline):
        assert_within_standard_errors(samples, exact)


def test_gae_is_unbiased_for_every_lambda_with_the_exact_critic_and_at_lambda_one_with_a_wrong_one(estimates):
    mdp, logits, _, _, lams, exact_critic, wrong_critic = estimates
    exact = pg.policy_gradient_theorem(mdp, logits)
    for i in range(len(lams)):
        assert_within_standard_errors(exact_critic.gae[i], exact)
    assert_within_standard_errors(wrong_critic.gae[-1], exact)


def test_gae_with_a_wrong_critic_has_the_predicted_bias_at_lambda_zero(estimates):
    mdp, logits, policy, wrong, _, _, wrong_critic = estimates
    predicted_mean = pg.gradient_from_action_values(mdp, logits, pg.gae_expected_advantages(mdp, policy, wrong, 0.0))
    assert_within_standard_errors(wrong_critic.gae[0], predicted_mean)
    exact = pg.policy_gradient_theorem(mdp, logits)
    summary = pg.summarize_estimates(wrong_critic.gae[0], exact)
    assert summary.bias_norm > 10 * summary.bias_se  # the bias is real, not noise


def test_reward_to_go_then_baseline_each_reduce_the_variance(estimates):
    *_, exact_critic, _ = estimates
    variances = [
        float(np.var(np.asarray(x), axis=0, ddof=1).sum())
        for x in (exact_critic.whole_return, exact_critic.reward_to_go, exact_critic.baseline)
    ]
    # With 1000 trials a variance is known to about sqrt(2/1000) = 4.5%: factors of 2 are far outside that.
    assert variances[0] > 2 * variances[1] > 4 * variances[2], variances


def test_estimators_reject_lambda_outside_the_unit_interval_and_bad_sizes():
    mdp, logits = make_problem()
    values = jnp.zeros(NUM_STATES)
    with pytest.raises(ValueError, match="lams"):
        pg.finite_mdp_estimates(mdp, logits, values, jax.random.PRNGKey(0), jnp.array([0.5, 1.5]), 2, 2, 5)
    with pytest.raises(ValueError, match="num_trials"):
        pg.finite_mdp_estimates(mdp, logits, values, jax.random.PRNGKey(0), 0.5, 0, 2, 5)
    with pytest.raises(ValueError, match="num_samples"):
        pg.sample_discounted_visitation(mdp, pg.softmax_policy(logits), jax.random.PRNGKey(0), 0)
    with pytest.raises(ValueError, match="lam"):
        pg.gae_expected_advantages(mdp, pg.softmax_policy(logits), values, -0.1)


# ----------------------------------------------------------------------------- CartPole


def test_each_of_the_four_boxes_is_claimed_by_one_function_of_this_module():
    claims = implemented_boxes()
    assert {box: claims[box] for box in ("24.1", "24.2", "24.3", "24.4")} == {
        "24.1": "lib.algorithms.policy_gradient.baseline_update",
        "24.2": "lib.algorithms.policy_gradient.value_minibatch_update",
        "24.3": "lib.algorithms.policy_gradient.gae_update",
        "24.4": "lib.algorithms.policy_gradient.actor_critic_td0_step",
    }


def test_first_episode_mask_keeps_steps_up_to_and_including_the_first_end():
    done = jnp.array([[0, 0], [1, 0], [0, 0], [1, 1]], dtype=bool)
    np.testing.assert_array_equal(pg.first_episode_mask(done), [[1, 1], [1, 1], [0, 1], [0, 1]])


@pytest.mark.parametrize(
    "field, value",
    [
        ("estimator", "ppo"),
        ("gamma", 1.5),
        ("lam", -0.1),
        ("policy_learning_rate", 0.0),
        ("num_episodes", 0),
        ("num_minibatches", 2.5),
        ("num_minibatches", 17),
        ("policy_hidden", (64.0, 64.0)),
        ("value_hidden", ()),
    ],
)
def test_config_rejects_out_of_range_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        pg.PolicyGradientConfig(**{field: value})


def test_make_train_rejects_configs_of_different_shapes_and_continuous_actions():
    cartpole = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="num_iterations"):
        pg.make_train(cartpole, [pg.PolicyGradientConfig(num_iterations=3), pg.PolicyGradientConfig(num_iterations=4)])
    with pytest.raises(ValueError, match="discrete"):
        pg.make_train(envs.make("Pendulum-v1"), pg.PolicyGradientConfig())


def test_gae_actor_critic_improves_the_cartpole_return_over_a_few_iterations():
    cartpole = envs.make("CartPole-v1")
    config = pg.PolicyGradientConfig(
        estimator="gae",
        num_iterations=12,
        num_episodes=8,
        policy_hidden=(32, 32),
        value_hidden=[32, 32],
        policy_learning_rate=3e-3,
        value_learning_rate=3e-3,
        anneal_learning_rate=False,
    )
    _, log = sweep(pg.make_train(cartpole, config), num_seeds=2)
    returns = np.asarray(log.episode_returns)
    # A uniform random policy lasts about 22 steps; each iteration averages 8 episodes.
    assert returns[:, :2].mean() < 40 and returns[:, -3:].mean() > 2 * returns[:, :2].mean(), returns
    np.testing.assert_array_equal(log.diverged_at, [-1, -1])
    np.testing.assert_array_equal(log.learning_rate, np.full((2, 12), np.float32(3e-3)))  # not annealed


def test_annealed_step_size_of_iteration_i_is_the_closed_form_rate_times_one_minus_i_over_n():
    cartpole = envs.make("CartPole-v1")
    config = pg.PolicyGradientConfig(
        estimator="reward_to_go",
        num_iterations=4,
        num_episodes=2,
        num_minibatches=1,
        policy_hidden=(4,),
        value_hidden=(4,),
        policy_learning_rate=0.01,
    )
    _, log = jax.jit(pg.make_train(cartpole, config))(jax.random.key(0))
    closed_form = np.float32(0.01) * (1.0 - np.arange(4, dtype=np.float32) / np.float32(4))
    np.testing.assert_array_equal(log.learning_rate, closed_form)  # 0.01, 0.0075, 0.005, 0.0025 in float32


def test_a_diverging_run_raises_naming_the_estimator_and_the_iteration():
    cartpole = envs.make("CartPole-v1")
    config = pg.PolicyGradientConfig(
        estimator="gae",
        num_iterations=3,
        num_episodes=2,
        num_minibatches=1,
        policy_hidden=(4,),
        value_hidden=(4,),
        value_learning_rate=1e30,
    )
    with pytest.raises(RuntimeError, match=r"policy gradient \(gae\) diverged.*seed 0 at step"):
        sweep({"policy gradient (gae)": pg.make_train(cartpole, config)}, num_seeds=1)


# ---------------------------------------------------------------- the four CartPole boxes, step by step
# With Adam replaced by a plain step (params - grads), each box's update is minus the gradient of the
# loss the box writes down, with the box's targets: checked against that gradient computed here from
# the rollout. (Adam's first step is lr * sign(grad), blind to most wrong targets; the plain step is not.)


def _plain_steps(monkeypatch):
    def plain_step(optimizer, params, opt_state, grads):
        return jax.tree_util.tree_map(lambda p, g: p - g, params, grads), opt_state

    monkeypatch.setattr(pg.boxes, "gradient_step", plain_step)
    monkeypatch.setattr(onpolicy, "gradient_step", plain_step)


def _cartpole_rollout(config, steps=30, copies=3, cut_copy_0_after=None):
    """A short rollout; with `cut_copy_0_after`, copy 0 starts that many steps before the time limit cuts it."""
    cartpole = envs.make("CartPole-v1")
    state = pg.init_agent(jax.random.key(0), cartpole, config)
    env_states, observations = onpolicy.start_envs(cartpole, jax.random.key(1), copies)
    if cut_copy_0_after is not None:
        physics_states, returns = env_states
        time = physics_states.time.at[0].set(cartpole.max_episode_steps - cut_copy_0_after)
        env_states = (physics_states._replace(time=time), returns)
    sample = pg.agent._sampler(state.policy, cartpole)
    _, _, rollout, _ = onpolicy.collect_rollout(cartpole, sample, jax.random.key(2), env_states, observations, steps)
    return state, rollout, pg.first_episode_mask(rollout.done)


def _minus_grad(loss, params, *args):
    return jax.tree_util.tree_map(lambda p, g: p - g, params, jax.grad(loss)(params, *args))


def _assert_trees_close(actual, expected):
    for a, e in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-6)


SMALL_BOX_CONFIG = dict(
    num_episodes=3, num_minibatches=1, value_epochs=1, policy_epochs=1, policy_hidden=(8,), value_hidden=(8,)
)


def test_box_24_1_fits_the_baseline_to_the_returns_then_weighs_the_score_by_return_minus_the_new_baseline(
    monkeypatch,
):
    _plain_steps(monkeypatch)
    config = pg.PolicyGradientConfig(estimator="baseline", gamma=0.9, **SMALL_BOX_CONFIG)
    state, rollout, mask = _cartpole_rollout(config)
    returns = onpolicy.discounted_returns_to_go(rollout.rewards, rollout.done, 0.9)
    value = _minus_grad(pg.agent._value_loss, state.value, rollout.observations, returns, mask)
    advantages = returns - onpolicy.state_value(value, rollout.observations)
    policy = _minus_grad(pg.agent._policy_loss, state.policy, rollout.observations, rollout.actions, advantages, mask)
    new = pg.boxes.baseline_update(config, state, rollout, mask)
    _assert_trees_close(new.value, value)
    _assert_trees_close(new.policy, policy)


def _fit_then_policy(state, rollout, mask, targets, advantages=None):
    """One full-batch step on (v - targets)^2, then one on -log d * normalize(A), A = targets - v_new by default."""
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
    observations, actions, weights = flat(rollout.observations), flat(rollout.actions), flat(mask)
    value = _minus_grad(pg.agent._value_loss, state.value, observations, flat(targets), weights)
    if advantages is None:
        advantages = flat(targets) - onpolicy.state_value(value, observations)
    else:
        advantages = flat(advantages)
    advantages = onpolicy.normalize(advantages, weights)
    policy = _minus_grad(pg.agent._policy_loss, state.policy, observations, actions, advantages, weights)
    return value, policy


def test_box_24_2_fits_v_to_the_returns_then_steps_on_normalized_returns_minus_the_fitted_v(monkeypatch):
    _plain_steps(monkeypatch)
    config = pg.PolicyGradientConfig(estimator="value_minibatch", gamma=0.9, **SMALL_BOX_CONFIG)
    state, rollout, mask = _cartpole_rollout(config)
    returns = onpolicy.discounted_returns_to_go(rollout.rewards, rollout.done, 0.9)
    value, policy = _fit_then_policy(state, rollout, mask, returns)
    new = pg.boxes.value_minibatch_update(config, state, rollout, mask, jax.random.key(3))
    _assert_trees_close(new.value, value)
    _assert_trees_close(new.policy, policy)


def test_box_24_3_fits_v_to_the_lambda_return_and_steps_on_the_normalized_gae_advantages(monkeypatch):
    _plain_steps(monkeypatch)
    config = pg.PolicyGradientConfig(estimator="gae", gamma=0.9, lam=0.8, **SMALL_BOX_CONFIG)
    state, rollout, mask = _cartpole_rollout(config, cut_copy_0_after=5)
    cut = np.asarray(rollout.done & ~rollout.terminated)
    assert cut[4, 0] and mask[4, 0] == 1  # copy 0's first episode ends at the time limit: v(s') is bootstrapped
    values = onpolicy.state_value(state.value, rollout.observations)
    next_values = onpolicy.state_value(state.value, rollout.next_observations)
    advantages = onpolicy.gae_advantages(
        rollout.rewards, values, next_values, rollout.terminated, rollout.done, 0.9, 0.8
    )
    value, policy = _fit_then_policy(state, rollout, mask, advantages + values, advantages)
    new = pg.boxes.gae_update(config, state, rollout, mask, jax.random.key(3))
    _assert_trees_close(new.value, value)
    _assert_trees_close(new.policy, policy)


def test_box_24_4_td0_step_moves_the_critic_by_delta_grad_v_with_no_bootstrap_past_a_terminal(monkeypatch):
    _plain_steps(monkeypatch)
    cartpole = envs.make("CartPole-v1")
    config = pg.PolicyGradientConfig(estimator="td0", gamma=0.5, **SMALL_BOX_CONFIG)
    state = pg.init_agent(jax.random.key(0), cartpole, config)
    # Copy 0 falls on this step whatever it does (theta + tau theta_dot is past 12 degrees); 1 and 2 do not;
    # copy 3 takes its 500th step, so the time limit cuts it: not a terminal, v(s') still counts.
    physics = jnp.array(
        [[0.0, 0.0, 0.2, 2.0], [0.01, 0.1, 0.02, -0.1], [-0.02, -0.2, -0.03, 0.2], [0.0, 0.1, 0.01, 0.1]]
    )
    env_states = (envs.EnvState(physics, jnp.array([0, 0, 0, 499], jnp.int32)), jnp.zeros(4))
    alive = jnp.ones(4)
    new, _, _, step, _ = pg.boxes.actor_critic_td0_step(
        config, state, cartpole, jax.random.key(4), env_states, physics, alive
    )
    np.testing.assert_array_equal(step.terminated, [True, False, False, False])
    np.testing.assert_array_equal(step.done, [True, False, False, True])
    v = lambda theta, s: onpolicy.state_value(theta, s)  # noqa: E731
    deltas = step.rewards + 0.5 * (1.0 - step.terminated) * v(state.value, step.next_observations)
    deltas = deltas - v(state.value, step.observations)  # delta_t, held fixed in both steps
    value = _minus_grad(lambda theta: -jnp.mean(deltas * v(theta, step.observations)), state.value)
    policy = _minus_grad(pg.agent._policy_loss, state.policy, step.observations, step.actions, deltas, alive)
    _assert_trees_close(new.value, value)
    _assert_trees_close(new.policy, policy)
