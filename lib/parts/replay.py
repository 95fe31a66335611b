"""A functional replay buffer B: fixed-size arrays, a write position, uniform sampling.

Being a NamedTuple of arrays, the buffer lives inside a compiled `lax.scan` and vmaps over seeds.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.core.config import check_positive_int, concrete


class Transition(NamedTuple):
    observation: jax.Array
    action: jax.Array
    reward: jax.Array
    next_observation: jax.Array
    terminated: jax.Array  # true only at a real terminal state; time-limit truncation still bootstraps


def not_terminal(batch):
    """1 where a transition's next state may be bootstrapped from, 0 where the episode terminated there."""
    return 1.0 - batch.terminated.astype(jnp.float32)


class ReplayBuffer(NamedTuple):
    data: Transition  # each field has a leading axis of length `capacity`
    position: jax.Array  # where the next transition is written
    size: jax.Array  # how many slots hold data


def replay_init(capacity, example):
    """An empty buffer shaped like the `example` transition."""
    data = jax.tree_util.tree_map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example)
    return ReplayBuffer(data, jnp.array(0, jnp.int32), jnp.array(0, jnp.int32))


def replay_add(buffer, transition):
    """Write one transition, overwriting the oldest when full."""
    capacity = buffer.data.reward.shape[0]
    data = jax.tree_util.tree_map(lambda store, x: store.at[buffer.position].set(x), buffer.data, transition)
    return ReplayBuffer(data, (buffer.position + 1) % capacity, jnp.minimum(buffer.size + 1, capacity))


def replay_sample(buffer, key, batch_size):
    """A mini-batch drawn uniformly with replacement from the filled slots (ValueError if none is filled;
    inside a compiled loop the size is traced, and the loop's warm-up must fill it first)."""
    check_positive_int("batch_size", batch_size)
    size = concrete(buffer.size)
    if size is not None and size < 1:
        raise ValueError("buffer is empty: add transitions before sampling a mini-batch from it")
    indices = jax.random.randint(key, (batch_size,), 0, buffer.size)
    return jax.tree_util.tree_map(lambda store: store[indices], buffer.data)
