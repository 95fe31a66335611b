"""lib.problems.envs against gymnasium itself: same states, same actions, same everything.

Trajectory comparisons run under float64 (`jax.enable_x64`) so that they stay tight over
hundreds of steps; a float32 check of single steps covers the default precision.
"""

import math

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from lib.problems import envs
from lib.problems.gym_adapter import rollout_gymnasium

NAMES = ["Pendulum-v1", "CartPole-v1", "MountainCarContinuous-v0"]

# gymnasium's reset distributions: independent uniforms on [low, high] (documented in its sources).
RESET_BOUNDS = {
    "Pendulum-v1": ([-math.pi, -1.0], [math.pi, 1.0]),
    "CartPole-v1": ([-0.05] * 4, [0.05] * 4),
    "MountainCarContinuous-v0": ([-0.6, 0.0], [-0.4, 0.0]),
}


def random_action(name, rng, obs):
    """Random actions that exercise every branch: torques and forces beyond the clip, and for
    MountainCar bang-bang pushes along the velocity (flipped 10% of the time) that reach the goal."""
    if name == "Pendulum-v1":
        return rng.uniform(-3.0, 3.0, size=1).astype(np.float32)
    if name == "CartPole-v1":
        return int(rng.integers(2))
    direction = np.sign(obs[1]) if obs[1] != 0 else rng.choice([-1.0, 1.0])
    if rng.random() < 0.1:
        direction = -direction
    return np.array([direction * rng.uniform(0.5, 1.5)], np.float32)


def gymnasium_reset_state(gym_env, seed):
    gym_env.reset(seed=seed)
    return np.asarray(gym_env.unwrapped.state, np.float64)


def gymnasium_obs(gym_env, physics):
    """gymnasium's observation of a physics state."""
    if gym_env.spec.id == "Pendulum-v1":
        gym_env.unwrapped.state = np.asarray(physics, np.float64)
        return gym_env.unwrapped._get_obs()
    return np.asarray(physics, np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_spaces_and_time_limit_match_gymnasium(name):
    env, gym_env = envs.make(name), gymnasium.make(name)
    assert env.name == name
    assert env.observation_size == gym_env.observation_space.shape[0]
    assert env.max_episode_steps == gym_env.spec.max_episode_steps
    if env.discrete:
        assert env.action_size == gym_env.action_space.n
        assert (env.action_low, env.action_high) == (0, gym_env.action_space.n - 1)
    else:
        assert env.action_size == gym_env.action_space.shape[0]
        assert env.action_low == gym_env.action_space.low[0]
        assert env.action_high == gym_env.action_space.high[0]


@pytest.mark.parametrize("name", NAMES)
def test_float64_trajectories_match_gymnasium_step_by_step(name):
    env, gym_env = envs.make(name), gymnasium.make(name)
    step = jax.jit(env.step)
    rng = np.random.default_rng(0)
    steps = episodes = terminations = truncations = 0
    with jax.enable_x64(True):
        while steps < 250:
            gym_obs, _ = gym_env.reset(seed=episodes)
            state = envs.state_from_physics(jnp.asarray(gym_env.unwrapped.state, jnp.float64))
            episodes += 1
            done = False
            while not done:
                action = random_action(name, rng, gym_obs)
                gym_obs, gym_reward, gym_terminated, gym_truncated, _ = gym_env.step(action)
                state, obs, reward, terminated, truncated = step(state, jnp.asarray(action))
                assert obs.dtype == jnp.float32 and state.physics.dtype == jnp.float64
                np.testing.assert_allclose(obs, gym_obs, rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(reward, gym_reward, rtol=1e-5, atol=1e-6)
                assert bool(terminated) == gym_terminated
                assert bool(truncated) == gym_truncated
                done = gym_terminated or gym_truncated
                steps += 1
                terminations += gym_terminated
                truncations += gym_truncated
    # The interesting branches were exercised: truncation at 200, falls, the goal's +100.
    if name == "Pendulum-v1":
        assert truncations >= 1
    else:
        assert terminations >= 3


def sample_states_and_actions(name, rng, n):
    """Physics states spread over (and a little past) the region an episode visits, and actions
    beyond the clip."""
    if name == "Pendulum-v1":
        physics = rng.uniform([-2 * math.pi, -8.0], [2 * math.pi, 8.0], (n, 2))
        actions = rng.uniform(-3.0, 3.0, (n, 1))
    elif name == "CartPole-v1":
        physics = rng.uniform([-2.4, -3.0, -0.21, -3.0], [2.4, 3.0, 0.21, 3.0], (n, 4))
        actions = rng.integers(2, size=n)
    else:
        physics = rng.uniform([-1.2, -0.07], [0.6, 0.07], (n, 2))
        actions = rng.uniform(-1.5, 1.5, (n, 1))
    return physics.astype(np.float32), actions.astype(np.float32 if actions.ndim == 2 else int)


@pytest.mark.parametrize("name", NAMES)
def test_float32_single_steps_match_gymnasium_from_random_states(name):
    env, gym_env = envs.make(name), gymnasium.make(name)
    physics, actions = sample_states_and_actions(name, np.random.default_rng(1), 400)
    states = envs.EnvState(jnp.asarray(physics), jnp.zeros(len(physics), jnp.int32))
    new_states, obs, rewards, terminated, truncated = jax.jit(jax.vmap(env.step))(states, actions)
    assert new_states.physics.dtype == jnp.float32 and obs.dtype == jnp.float32
    assert rewards.dtype == jnp.float32 and rewards.shape == (len(physics),)
    assert np.all(new_states.time == 1) and not np.any(truncated)
    obs, rewards, terminated = np.asarray(obs), np.asarray(rewards), np.asarray(terminated)
    gym_env.reset(seed=0)
    for i in range(len(physics)):
        gym_env.reset()
        gym_env.unwrapped.state = physics[i].astype(np.float64)
        action = int(actions[i]) if env.discrete else actions[i]
        gym_obs, gym_reward, gym_terminated, _, _ = gym_env.step(action)
        np.testing.assert_allclose(obs[i], gym_obs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rewards[i], gym_reward, rtol=1e-5, atol=1e-6)
        assert bool(terminated[i]) == gym_terminated
    if name != "Pendulum-v1":
        assert 0 < np.mean(terminated) < 1  # both branches seen


@pytest.mark.parametrize("name", NAMES)
def test_reset_distribution_has_gymnasium_support_and_law(name):
    env, gym_env = envs.make(name), gymnasium.make(name)
    n = 1000
    states, obs = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), n))
    ours = np.asarray(states.physics)
    assert np.all(states.time == 0) and obs.dtype == jnp.float32
    obs = np.asarray(obs)
    theirs = np.array([gymnasium_reset_state(gym_env, seed) for seed in range(n)])
    low, high = (np.array(b, np.float32) for b in RESET_BOUNDS[name])
    assert np.all((theirs >= low) & (theirs <= high))  # the bounds really are gymnasium's
    assert np.all((ours >= low) & (ours <= high))
    width = high - low
    for d in range(ours.shape[1]):
        if width[d] == 0:
            assert np.all(ours[:, d] == low[d])
            continue
        # Spread over the whole interval: with 1000 uniforms, each end is within 1% of the
        # width unless an event of probability 0.99**1000 < 1e-4 happened.
        assert ours[:, d].min() < low[d] + 0.01 * width[d]
        assert ours[:, d].max() > high[d] - 0.01 * width[d]
        assert scipy.stats.ks_2samp(ours[:, d], theirs[:, d]).pvalue > 1e-3
    for i in range(5):  # reset's observation is gymnasium's observation of the reset state
        np.testing.assert_allclose(obs[i], gymnasium_obs(gym_env, ours[i]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_truncated_exactly_when_max_episode_steps_reached(name):
    env = envs.make(name)
    action = jnp.array(0) if env.discrete else jnp.zeros(env.action_size)
    n = env.max_episode_steps + 3

    @jax.jit
    def run(key):
        def body(state, _):
            state, _, _, _, truncated = env.step(state, action)
            return state, (state.time, truncated)

        return jax.lax.scan(body, env.reset(key)[0], length=n)[1]

    times, truncated = run(jax.random.key(0))
    np.testing.assert_array_equal(times, np.arange(1, n + 1))
    np.testing.assert_array_equal(truncated, np.arange(1, n + 1) >= env.max_episode_steps)


def test_unknown_name_raises_listing_known_names():
    with pytest.raises(ValueError, match="Pendulum-v1.*CartPole-v1.*MountainCarContinuous-v0"):
        envs.make("Pendulum-v0")


def test_environment_is_hashable_and_works_as_static_argument():
    env = envs.make("CartPole-v1")
    assert env == envs.make("CartPole-v1") and hash(env) == hash(envs.make("CartPole-v1"))

    @jax.jit
    def first_obs(key):
        return env.reset(key)[1]

    reset = jax.jit(lambda e, key: e.reset(key)[1], static_argnums=0)
    np.testing.assert_array_equal(reset(env, jax.random.key(3)), first_obs(jax.random.key(3)))


def test_pendulum_step_jacobian_equals_analytic_derivative():
    env = envs.make("Pendulum-v1")
    dt, g = envs.PENDULUM_DT, envs.PENDULUM_G
    with jax.enable_x64(True):
        theta, theta_dot, u = 2.5, -1.3, 0.7  # inside every clip

        def next_physics_and_reward(physics, action):
            state, _, reward, _, _ = env.step(envs.state_from_physics(physics), action)
            return jnp.append(state.physics, reward)

        physics, action = jnp.array([theta, theta_dot]), jnp.array([u])
        jacobian = jax.jit(jax.jacfwd(next_physics_and_reward, argnums=(0, 1)))
        d_physics, d_action = jacobian(physics, action)
    # new_theta_dot = theta_dot + (3 g / 2 sin(theta) + 3 u) dt; new_theta = theta + new_theta_dot dt;
    # reward = -(theta^2 + 0.1 theta_dot^2 + 0.001 u^2) for theta in [-pi, pi).
    dthdot = np.array([1.5 * g * math.cos(theta) * dt, 1.0])
    expected_physics = np.array([[1.0, 0.0] + dthdot * dt, dthdot, [-2 * theta, -0.2 * theta_dot]])
    expected_action = np.array([[3 * dt * dt], [3 * dt], [-0.002 * u]])
    np.testing.assert_allclose(d_physics, expected_physics, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d_action, expected_action, rtol=1e-12, atol=1e-15)


# Deterministic policies in JAX, used on both sides: a float32 function of a float32 observation.
POLICIES = {
    "Pendulum-v1": lambda obs: jnp.clip(-2.0 * obs[1] - 0.5 * obs[2], -2.0, 2.0)[None],
    "CartPole-v1": lambda obs: (obs[2] + 0.3 * obs[3] > 0).astype(jnp.int32),
    "MountainCarContinuous-v0": lambda obs: jnp.where(obs[1] >= 0, 0.8, -0.8)[None],
}


@pytest.mark.parametrize("name", NAMES)
def test_adapter_returns_equal_jax_env_returns_from_same_start(name):
    env, gym_env = envs.make(name), gymnasium.make(name)
    policy = jax.jit(POLICIES[name])
    seed, episodes = 10, 3

    @jax.jit
    def jax_return(physics, obs):
        def body(carry, _):
            state, obs, done = carry
            state, obs, reward, terminated, truncated = env.step(state, policy(obs))
            return (state, obs, done | terminated | truncated), jnp.where(done, 0.0, reward)

        start = envs.state_from_physics(physics)
        carry = (start, obs, jnp.array(False))
        (_, _, done), rewards = jax.lax.scan(body, carry, length=env.max_episode_steps)
        return rewards.sum(), done

    with jax.enable_x64(True):
        returns = rollout_gymnasium(gym_env, lambda obs: np.asarray(policy(obs)), episodes, seed)
        for i in range(episodes):
            obs, _ = gym_env.reset(seed=seed + i)
            total, done = jax_return(jnp.asarray(gym_env.unwrapped.state, jnp.float64), obs)
            assert bool(done)
            np.testing.assert_allclose(total, returns[i], rtol=1e-8)
    assert returns.shape == (episodes,)
