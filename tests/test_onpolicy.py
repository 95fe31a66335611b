"""GAE and returns against their definitions; rollouts against the dynamics."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lib.parts import nets
from lib.problems import envs
from lib.loops.onpolicy import (
    annealable_adam,
    collect_rollout,
    discounted_returns_to_go,
    gae_advantages,
    shuffled_minibatches,
    start_envs,
)

GAMMA = 0.9


@pytest.fixture
def trajectory():
    """Two episodes in one stream of 12 steps: the first terminates at t = 4, the second is cut at t = 11."""
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    rewards = jax.random.normal(keys[0], (12,))
    values = jax.random.normal(keys[1], (12,))
    next_values = jnp.concatenate([values[1:], jax.random.normal(keys[2], (1,))])
    terminated = jnp.zeros(12).at[4].set(1.0)
    done = terminated.at[11].set(1.0)
    return rewards, values, next_values, terminated, done


def test_gae_with_lambda_zero_is_the_td_error(trajectory):
    rewards, values, next_values, terminated, done = trajectory
    advantages = gae_advantages(rewards, values, next_values, terminated, done, GAMMA, 0.0)
    np.testing.assert_allclose(advantages, rewards + GAMMA * (1 - terminated) * next_values - values, rtol=1e-6)


def test_gae_with_lambda_one_is_the_return_minus_the_baseline(trajectory):
    rewards, values, next_values, terminated, done = trajectory
    advantages = gae_advantages(rewards, values, next_values, terminated, done, GAMMA, 1.0)
    returns = discounted_returns_to_go(rewards, done, GAMMA)
    # The first episode terminated: the advantage is exactly G_t - v(s_t).
    np.testing.assert_allclose(advantages[:5], returns[:5] - values[:5], rtol=1e-5, atol=1e-6)
    # The second was cut by the time limit: its return is completed by the bootstrap v(s_12).
    bootstrap = GAMMA ** jnp.arange(7, 0, -1) * next_values[11]
    np.testing.assert_allclose(advantages[5:], returns[5:] + bootstrap - values[5:], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lam", [0.3, 0.95])
def test_gae_equals_the_lambda_weighted_sum_of_td_errors(trajectory, lam):
    rewards, values, next_values, terminated, done = map(np.asarray, trajectory)
    deltas = rewards + GAMMA * (1 - terminated) * next_values - values
    expected = np.zeros(12)
    for t in range(12):
        for l in range(t, 12):
            expected[t] += (GAMMA * lam) ** (l - t) * deltas[l]
            if done[l]:
                break
    np.testing.assert_allclose(gae_advantages(*trajectory, GAMMA, lam), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lam", [-0.1, 1.5])
def test_gae_rejects_lambda_outside_unit_interval(trajectory, lam):
    with pytest.raises(ValueError, match="lam"):
        gae_advantages(*trajectory, GAMMA, lam)


def test_rollout_transitions_follow_the_dynamics_and_reset_at_episode_ends():
    env = envs.make("CartPole-v1")
    env_states, obs = start_envs(env, jax.random.PRNGKey(1), 4)
    random_policy = lambda o, k: (jax.random.randint(k, (), 0, 2), jnp.log(0.5))
    _, _, rollout, finished = jax.jit(collect_rollout, static_argnums=(0, 1, 5))(
        env, random_policy, jax.random.PRNGKey(2), env_states, obs, 300
    )
    flat = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), rollout)
    _, next_obs, rewards, terminated, _ = jax.vmap(env.step)(
        jax.vmap(envs.state_from_physics)(flat.observations), flat.actions
    )
    np.testing.assert_allclose(next_obs, flat.next_observations, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(terminated, flat.terminated)
    # After an episode ends the next observation is a fresh reset state, not the terminal one.
    ended = np.asarray(rollout.done[:-1])
    restarted = np.asarray(rollout.observations[1:])[ended]
    assert ended.sum() > 10 and np.all(np.abs(restarted) <= 0.05)
    # CartPole pays +1 per step: a finished return is the episode's length.
    lengths = [np.diff(np.concatenate([[-1], np.flatnonzero(rollout.done[:, n])])) for n in range(4)]
    done = np.asarray(rollout.done)
    np.testing.assert_array_equal(
        np.concatenate([np.asarray(finished)[:, n][done[:, n]] for n in range(4)]), np.concatenate(lengths)
    )
    np.testing.assert_array_equal(np.asarray(finished)[~done], 0.0)  # no NaN sentinel: `done` is the mask


def test_shuffled_minibatches_hold_each_sample_once_and_drop_only_the_remainder():
    data = {"x": jnp.arange(10.0), "y": jnp.arange(10.0)[:, None] * jnp.ones((1, 2))}
    even = shuffled_minibatches(jax.random.PRNGKey(0), data, 5)
    assert even["x"].shape == (5, 2) and even["y"].shape == (5, 2, 2)
    np.testing.assert_array_equal(np.sort(np.ravel(even["x"])), np.arange(10.0))
    np.testing.assert_array_equal(even["y"][..., 0], even["x"])  # rows stay together
    uneven = shuffled_minibatches(jax.random.PRNGKey(0), data, 3)
    assert uneven["x"].shape == (3, 3) and len(np.unique(np.asarray(uneven["x"]))) == 9


@pytest.mark.parametrize(
    "optimizer", [annealable_adam(1e-3), annealable_adam(1e-3, max_grad_norm=100.0), optax.adam(1e-3)]
)
def test_adam_first_moment_after_one_step_is_a_tenth_of_the_gradient(optimizer):
    params = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(3.0)}
    grads = {"a": jnp.array([0.5, 4.0]), "b": jnp.array(-1.0)}
    _, state = optimizer.update(grads, optimizer.init(params), params)
    moment = nets.adam_first_moment(state)
    for name in params:
        np.testing.assert_allclose(moment[name], 0.1 * grads[name], rtol=1e-6)
