"""The compiled off-policy loop: what it stores, when it updates, how it resets, and determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.problems import envs
from lib.loops.offpolicy import OffPolicyAgent, OffPolicyConfig, make_off_policy_train, random_action
from lib.core.sweep import sweep

CONFIG = OffPolicyConfig(
    total_steps=1_200, warmup_steps=200, batch_size=16, buffer_capacity=2_000, eval_every=300, eval_episodes=2
)


def probe_agent(env):
    """Acts at random, counts its updates and reports the batches it was given."""
    return OffPolicyAgent(
        init=lambda key: {"updates": jnp.array(0)},
        act=lambda state, obs, key: (random_action(env, key), state),
        greedy=lambda state, obs: random_action(env, jax.random.PRNGKey(0)),
        update=lambda state, batch, key: ({"updates": state["updates"] + 1}, batch),
    )


def physics_from_observation(env, obs):
    if env.name == "Pendulum-v1":
        return jnp.array([jnp.arctan2(obs[1], obs[0]), obs[2]])
    return obs  # CartPole's observation is its physics


@pytest.fixture(scope="module", params=["Pendulum-v1", "CartPole-v1"])
def run(request):
    env = envs.make(request.param)
    final_state, log = jax.jit(make_off_policy_train(env, probe_agent(env), CONFIG))(jax.random.PRNGKey(0))
    return env, final_state, log


def test_updates_start_after_warmup_once_per_step(run):
    _, final_state, log = run
    assert int(final_state["updates"]) == CONFIG.total_steps - CONFIG.warmup_steps
    assert np.all(np.asarray(log.metrics.reward)[: CONFIG.warmup_steps] == 0)


def test_stored_transitions_follow_the_dynamics(run):
    """Every sampled (s, a, r, s', terminated) is one real step: s' is never a reset observation."""
    env, _, log = run
    batch = jax.tree_util.tree_map(lambda x: x[CONFIG.warmup_steps :].reshape((-1,) + x.shape[2:]), log.metrics)
    state = jax.vmap(lambda obs: envs.state_from_physics(physics_from_observation(env, obs)))(batch.observation)
    _, next_obs, reward, terminated, _ = jax.vmap(env.step)(state, batch.action)
    np.testing.assert_allclose(next_obs, batch.next_observation, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(reward, batch.reward, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(terminated, batch.terminated)
    if env.name == "CartPole-v1":
        assert 0 < int(batch.terminated.sum()) < batch.terminated.size  # terminal transitions were stored


def test_episode_returns_are_logged_at_episode_ends(run):
    env, _, log = run
    finished = np.asarray(log.finished_returns)
    ended = np.flatnonzero(~np.isnan(finished))
    if env.name == "Pendulum-v1":  # never terminates: every episode is truncated at 200 steps
        np.testing.assert_array_equal(ended, np.arange(199, CONFIG.total_steps, 200))
        assert np.all(finished[ended] < 0)
    else:  # CartPole pays +1 per step, so a return is the length of its episode
        np.testing.assert_array_equal(finished[ended], np.diff(np.concatenate([[-1], ended])))
    assert log.eval_returns.shape == (CONFIG.total_steps // CONFIG.eval_every,)
    np.testing.assert_array_equal(log.eval_steps, [300, 600, 900, 1200])


def test_seeds_differ_and_each_is_reproducible():
    env = envs.make("Pendulum-v1")
    train = make_off_policy_train(env, probe_agent(env), CONFIG)
    _, first = sweep(train, num_seeds=2, seed=3)
    _, again = sweep(train, num_seeds=2, seed=3)
    np.testing.assert_array_equal(first.finished_returns, again.finished_returns)
    assert not np.allclose(np.nan_to_num(first.finished_returns[0]), np.nan_to_num(first.finished_returns[1]))


def test_two_trainers_swept_together_equal_each_swept_alone():
    env = envs.make("Pendulum-v1")
    train = make_off_policy_train(env, probe_agent(env), CONFIG)
    other = make_off_policy_train(env, probe_agent(env), OffPolicyConfig(**{**CONFIG.__dict__, "warmup_steps": 0}))
    together = sweep({"probe": train, "no warm-up": other}, num_seeds=2, seed=3)
    for name, alone in (("probe", train), ("no warm-up", other)):
        _, log = sweep(alone, num_seeds=2, seed=3)
        np.testing.assert_array_equal(together[name][1].finished_returns, log.finished_returns)
    # each run keeps its own loop: 1000 updates after a 200-step warm-up, 1200 without one
    np.testing.assert_array_equal(together["probe"][0]["updates"], [1000, 1000])
    np.testing.assert_array_equal(together["no warm-up"][0]["updates"], [1200, 1200])


@pytest.mark.parametrize(
    "field, value",
    [("total_steps", 0), ("batch_size", -4), ("warmup_steps", 5_000), ("eval_every", 7), ("eval_episodes", 0)],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        OffPolicyConfig(**{**CONFIG.__dict__, field: value})


def test_divergence_is_reported_with_its_step_not_finished_silently():
    """TD3 with learning rate 1e3 blows up its Adam state at once; the sweep says so, naming the seed and the step."""
    from lib.algorithms import deterministic as det

    env = envs.make("Pendulum-v1")
    loop = OffPolicyConfig(
        total_steps=800, warmup_steps=500, batch_size=64, buffer_capacity=800, eval_every=400, eval_episodes=1
    )
    wild = det.make_td3_agent(env, det.TD3Config(policy_learning_rate=1e3, q_learning_rate=1e3))
    with pytest.raises(RuntimeError, match=r"TD3 diverged.*seed 0 at step \d+"):
        sweep({"TD3": make_off_policy_train(env, wild, loop)}, num_seeds=2)
    tame = det.make_td3_agent(env, det.TD3Config(policy_hidden=(16,), q_hidden=(16,)))
    _, log = sweep(make_off_policy_train(env, tame, loop), num_seeds=2)
    assert np.all(np.asarray(log.diverged_at) == -1)
