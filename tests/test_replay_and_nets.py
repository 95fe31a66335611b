"""Replay buffer semantics, MLP shapes and target-network updates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from lib.parts import nets
from lib.parts.replay import Transition, replay_add, replay_init, replay_sample


def transition(i):
    return Transition(
        jnp.full(3, float(i)), jnp.full(1, float(i)), jnp.array(float(i)), jnp.full(3, i + 1.0), jnp.array(i % 2 == 0)
    )


def test_replay_overwrites_the_oldest_when_full():
    buffer = replay_init(4, transition(0))
    for i in range(6):
        buffer = replay_add(buffer, transition(i))
    assert int(buffer.size) == 4 and int(buffer.position) == 2
    np.testing.assert_array_equal(np.sort(buffer.data.reward), [2.0, 3.0, 4.0, 5.0])


def test_replay_samples_only_filled_slots_uniformly():
    buffer = replay_init(100, transition(0))
    for i in range(1, 4):
        buffer = replay_add(buffer, transition(i))
    batch = replay_sample(buffer, jax.random.PRNGKey(0), 30_000)
    counts = np.bincount(np.asarray(batch.reward, dtype=int), minlength=4)
    assert counts[0] == 0  # slot never written
    np.testing.assert_allclose(counts[1:] / 30_000, 1 / 3, atol=4 * np.sqrt(2 / 9 / 30_000))
    np.testing.assert_array_equal(batch.next_observation[:, 0], batch.observation[:, 0] + 1)


def test_mlp_shapes_and_init_scale():
    params = nets.mlp_init(jax.random.PRNGKey(0), [4, 32, 2])
    assert nets.mlp_apply(params, jnp.ones((7, 4))).shape == (7, 2)
    assert jnp.max(jnp.abs(params[0]["w"])) <= 1 / 2  # 1/sqrt(fan_in = 4)


def test_mlp_init_draws_each_array_uniformly_within_one_over_root_fan_in():
    params = nets.mlp_init(jax.random.PRNGKey(1), [4, 256, 64])
    arrays = [(params[0]["w"], 4), (params[0]["b"], 4), (params[1]["w"], 256), (params[1]["b"], 256)]
    for array, fan_in in arrays:
        scaled = np.ravel(np.asarray(array)) * np.sqrt(fan_in)
        assert stats.kstest(scaled, stats.uniform(-1, 2).cdf).pvalue > 1e-3


def test_soft_update_is_polyak_average_and_rejects_bad_tau():
    target, online = {"w": jnp.zeros(2)}, {"w": jnp.ones(2)}
    np.testing.assert_allclose(nets.soft_update(target, online, 0.005)["w"], 0.005)
    with pytest.raises(ValueError, match="tau"):
        nets.soft_update(target, online, 1.5)


def test_periodic_hard_update_copies_only_on_period():
    target, online = {"w": jnp.zeros(2)}, {"w": jnp.ones(2)}
    assert float(nets.periodic_hard_update(target, online, 10, 5)["w"][0]) == 1.0
    assert float(nets.periodic_hard_update(target, online, 11, 5)["w"][0]) == 0.0


def test_twin_critics_are_two_independent_q_networks_applied_alike():
    twins = nets.twin_mlp_init(jax.random.PRNGKey(2), [4, 8, 1])
    obs, action = jax.random.normal(jax.random.PRNGKey(3), (5, 3)), jax.random.normal(jax.random.PRNGKey(4), (5, 1))
    values = nets.twin_q_apply(twins, obs, action)
    first, second = (jax.tree_util.tree_map(lambda x, j=j: x[j], twins) for j in (0, 1))
    assert values.shape == (2, 5) and not np.allclose(first[0]["w"], second[0]["w"])
    np.testing.assert_allclose(values[0], nets.mlp_apply(first, jnp.concatenate([obs, action], -1))[:, 0], rtol=1e-6)
    np.testing.assert_allclose(values[1], nets.q_apply(second, obs, action), rtol=1e-6)
    np.testing.assert_allclose(nets.first_q_apply(twins, obs, action), values[0], rtol=1e-6)
    target = jnp.arange(5.0)
    expected = np.mean((np.asarray(values[0]) - np.arange(5.0)) ** 2) + np.mean(
        (np.asarray(values[1]) - np.arange(5.0)) ** 2
    )
    np.testing.assert_allclose(nets.twin_squared_error(twins, obs, action, target), expected, rtol=1e-5)


def test_replay_sample_rejects_an_empty_buffer_and_a_bad_batch_size():
    buffer = replay_init(4, transition(0))
    with pytest.raises(ValueError, match="empty"):
        replay_sample(buffer, jax.random.PRNGKey(0), 2)
    with pytest.raises(ValueError, match="batch_size"):
        replay_sample(replay_add(buffer, transition(1)), jax.random.PRNGKey(0), 0)
