"""The overestimation experiment: the critic's q(s0, d(s0)) against the Monte Carlo discounted return
of the same greedy policy from the same s0."""

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lib.core.config import check_positive_int, check_range
from lib.algorithms.deterministic.ddpg_td3 import policy_action
from lib.parts.evaluation import episode_returns
from lib.loops.offpolicy import OffPolicyAgent


# ------------------------------------------------------------------ the overestimation experiment
class Snapshotting(NamedTuple):
    agent: Any  # the wrapped agent's state
    policy: Any  # policy parameters after `every`, 2 `every`, ... updates, stacked [count, ...]
    q: Any  # critic parameters at the same moments
    updates: jax.Array


def with_snapshots(agent, every, count):
    """Wrap a DDPG or TD3 OffPolicyAgent so that its state also keeps copies of (policy, q)
    after every `every` updates, `count` times; the learning itself is unchanged."""
    check_positive_int("every", every)
    check_positive_int("count", count)

    def init(key):
        inner = agent.init(key)
        stack = lambda tree: jax.tree_util.tree_map(lambda x: jnp.zeros((count,) + x.shape, x.dtype), tree)
        return Snapshotting(inner, stack(inner.policy), stack(inner.q), jnp.array(0, jnp.int32))

    def act(state, obs, key):
        action, inner = agent.act(state.agent, obs, key)
        return action, state._replace(agent=inner)

    def greedy(state, obs):
        return agent.greedy(state.agent, obs)

    def update(state, batch, key):
        inner, metrics = agent.update(state.agent, batch, key)
        updates = state.updates + 1
        index = jnp.minimum(updates // every - 1, count - 1)
        write = (updates % every == 0) & (updates // every <= count)
        keep = lambda stack, params: jax.tree_util.tree_map(
            lambda s, p: s.at[index].set(jnp.where(write, p, s[index])), stack, params
        )
        return Snapshotting(inner, keep(state.policy, inner.policy), keep(state.q, inner.q), updates), metrics

    return OffPolicyAgent(init, act, greedy, update)


def without_time_limit(env, horizon):
    """The same task truncated after `horizon` steps instead of env.max_episode_steps (for long
    Monte Carlo returns that approximate the infinite discounted sum)."""
    check_positive_int("horizon", horizon)

    def step(state, action):
        state, obs, reward, terminated, _ = env.step(state, action)
        return state, obs, reward, terminated, state.time >= horizon

    return dataclasses.replace(env, max_episode_steps=horizon, step=step)


def value_estimates(env, policy_params, q_params, q_fn, key, gamma, num_states=16, horizon=1000):
    """The critic's estimate against the truth for one greedy policy d(s; w).

    Returns (mean_s0 q(s0, d(s0); theta), mean_s0 of the Monte Carlo discounted return of d from s0),
    over `num_states` start states s0 drawn by env.reset; `horizon` steps (default 1000, so
    gamma^horizon is negligible for gamma = 0.99). q_fn(q_params, obs, action) -> q values: `lib.parts.nets.q_apply`
    for DDPG, `lib.parts.nets.first_q_apply` (the critic TD3's policy ascends) for TD3.
    """
    check_range("gamma", gamma, 0.0, 1.0, high_open=True)
    check_positive_int("num_states", num_states)
    policy = lambda obs: policy_action(env, policy_params, obs)
    # episode_returns draws episode i's start from env.reset(split(key)[i]); use the same s0 here.
    _, start_obs = jax.vmap(env.reset)(jax.random.split(key, num_states))
    q_estimate = jnp.mean(q_fn(q_params, start_obs, policy(start_obs)))
    returns = episode_returns(without_time_limit(env, horizon), policy, key, num_states, discount=gamma)
    return q_estimate, jnp.mean(returns)


def snapshot_value_estimates(env, snapshots, q_fn, key, gamma, num_states=16, horizon=1000):
    """`value_estimates` for every snapshot kept by `with_snapshots` (of every seed, when the runs
    were vmapped): two arrays (q estimate, Monte Carlo return) shaped [seeds..., count]."""
    first_weights = snapshots.policy[0]["w"]  # a 2-D matrix in one network; extra leading axes are stacked
    lead = first_weights.ndim - 2
    shape = first_weights.shape[:lead]
    flat = lambda tree: jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[lead:]), tree)
    one = lambda policy, q: value_estimates(env, policy, q, q_fn, key, gamma, num_states, horizon)
    q, mc = jax.jit(jax.vmap(one))(flat(snapshots.policy), flat(snapshots.q))
    return q.reshape(shape), mc.reshape(shape)
