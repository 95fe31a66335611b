"""On-policy machinery shared by chapters 24 and 26: vectorized rollouts, returns and GAE.

`collect_rollout` steps `num_envs` copies of a JAX environment for `num_steps` steps under the
current policy, resetting each copy when its episode ends; everything is a `lax.scan` over time
and a `vmap` over copies, so it compiles once inside a training loop.

Time-limit truncation is not termination: at a truncated step the value of the real next state
is still bootstrapped, which is why the rollout keeps `next_observations` (before any reset).
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.config import check_positive_int, check_range


class Rollout(NamedTuple):
    observations: jax.Array       # [T, N, obs]
    actions: jax.Array            # [T, N, ...]
    log_probs: jax.Array          # [T, N] log d(a_t | s_t; w) at collection time
    rewards: jax.Array            # [T, N]
    next_observations: jax.Array  # [T, N, obs], the state reached, before any reset
    terminated: jax.Array         # [T, N] true terminal state: no bootstrap
    done: jax.Array               # [T, N] episode ended (terminated or truncated): the trajectory is cut here


def reset_envs(env, key, num_envs):
    """Fresh states and observations for `num_envs` copies of `env`."""
    return jax.vmap(env.reset)(jax.random.split(key, num_envs))


def collect_rollout(env, sample_action, key, env_states, observations, num_steps):
    """Step every copy `num_steps` times with `sample_action(obs, key) -> (action, log_prob)`.

    Returns (env_states, observations, rollout, finished_returns) where finished_returns[t, n] is
    the undiscounted return of an episode that ended at step t in copy n (nan elsewhere). Episode
    returns in progress are carried in the state tuple `env_states` as (states, running_returns).
    """
    states, running = env_states

    def step(carry, step_key):
        states, observations, running = carry
        key_act, key_reset = jax.random.split(step_key)
        num_envs = observations.shape[0]
        actions, log_probs = jax.vmap(sample_action)(observations, jax.random.split(key_act, num_envs))
        next_states, next_obs, rewards, terminated, truncated = jax.vmap(env.step)(states, actions)
        done = jnp.logical_or(terminated, truncated)
        reset_states, reset_obs = reset_envs(env, key_reset, num_envs)
        keep = lambda fresh, old: jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), fresh, old)
        states = jax.tree_util.tree_map(keep, reset_states, next_states)
        running = running + rewards
        finished = jnp.where(done, running, jnp.nan)
        running = jnp.where(done, 0.0, running)
        transition = Rollout(observations, actions, log_probs, rewards, next_obs, terminated, done)
        return (states, keep(reset_obs, next_obs), running), (transition, finished)

    (states, observations, running), (rollout, finished) = jax.lax.scan(
        step, (states, observations, running), jax.random.split(key, num_steps))
    return (states, running), observations, rollout, finished


def start_envs(env, key, num_envs):
    """The `env_states` and observations `collect_rollout` starts from."""
    states, observations = reset_envs(env, key, num_envs)
    return (states, jnp.zeros(num_envs)), observations


def discounted_returns_to_go(rewards, done, gamma):
    """G_t = r_t + gamma G_{t+1}, restarted where an episode ended; a reverse scan over time."""
    check_range("gamma", gamma, 0.0, 1.0)
    def backward(future, inputs):
        reward, ended = inputs
        value = reward + gamma * (1.0 - ended) * future
        return value, value

    _, returns = jax.lax.scan(backward, jnp.zeros_like(rewards[0]), (rewards, done.astype(rewards.dtype)),
                              reverse=True)
    return returns


def gae_advantages(rewards, values, next_values, terminated, done, gamma, lam):
    """Generalized advantage estimates, the lambda-weighted sum of TD errors (used by box 24.3).

    delta_t = r_t + gamma (1 - terminated_t) v(s_{t+1}) - v(s_t) and
    A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}, computed by a reverse scan over time.
    lambda = 0 gives the TD error; lambda = 1 the discounted return minus the baseline v(s_t).
    """
    check_range("lam", lam, 0.0, 1.0)
    check_range("gamma", gamma, 0.0, 1.0)
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values

    def backward(future, inputs):
        delta, ended = inputs
        advantage = delta + gamma * lam * (1.0 - ended) * future
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, done.astype(deltas.dtype)),
                                 reverse=True)
    return advantages


def shuffled_minibatches(key, data, num_minibatches):
    """`data` (arrays with a leading sample axis) shuffled and cut into `num_minibatches` equal parts.

    Returns the same pytree with leading axes [num_minibatches, samples // num_minibatches], ready for a
    `lax.scan` over mini-batches; a remainder of fewer than `num_minibatches` samples sits the epoch out.
    """
    num_samples = jax.tree_util.tree_leaves(data)[0].shape[0]
    check_positive_int("num_minibatches", num_minibatches)
    if num_minibatches > num_samples:
        raise ValueError(f"num_minibatches must be at most the {num_samples} samples, got {num_minibatches}")
    size = num_samples // num_minibatches
    order = jax.random.permutation(key, num_samples)[: size * num_minibatches]
    return jax.tree_util.tree_map(lambda x: x[order].reshape((num_minibatches, size) + x.shape[1:]), data)
