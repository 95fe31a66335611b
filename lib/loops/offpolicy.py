"""The off-policy training loop shared by NFQCA, DDPG, TD3 and SAC (chapters 21 and 22).

`make_off_policy_train(env, agent, config)` returns a pure `train(key)`: the whole run, acting,
storing in the replay buffer B, updating and evaluating, is one nested `lax.scan`, so it compiles
once, and `lib.core.sweep.sweep(train, num_seeds)` runs it for many seeds over every device.

An agent is four pure functions (an `OffPolicyAgent`); the algorithm lives in its `update`.
"""

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from lib.core.config import check_positive_int
from lib.core.divergence import all_finite, first_divergence
from lib.parts.evaluation import episode_returns
from lib.parts.replay import Transition, replay_add, replay_init, replay_sample


@dataclass(frozen=True)
class OffPolicyConfig:
    total_steps: int = 20_000  # environment steps, >= 1
    warmup_steps: int = 1_000  # uniformly random actions, no updates, before learning starts
    batch_size: int = 256  # mini-batch size b drawn from B
    buffer_capacity: int = 100_000  # the oldest transitions are overwritten beyond this
    eval_every: int = 1_000  # environment steps between evaluations; divides total_steps
    eval_episodes: int = 5  # greedy episodes per evaluation

    def __post_init__(self):
        for name in ("total_steps", "batch_size", "buffer_capacity", "eval_every", "eval_episodes"):
            check_positive_int(name, getattr(self, name))
        if self.warmup_steps < 0 or self.warmup_steps > self.total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={self.total_steps}], got {self.warmup_steps}")
        if self.total_steps % self.eval_every:
            raise ValueError(f"eval_every must divide total_steps={self.total_steps}, got {self.eval_every}")


class OffPolicyAgent(NamedTuple):
    init: Callable[[jax.Array], Any]  # key -> agent state
    act: Callable[[Any, jax.Array, jax.Array], tuple]  # (state, obs, key) -> (exploratory action, state)
    greedy: Callable[[Any, jax.Array], jax.Array]  # (state, obs) -> evaluation action
    update: Callable[[Any, Transition, jax.Array], tuple]  # (state, batch, key) -> (state, metrics)


class OffPolicyLog(NamedTuple):
    eval_steps: jax.Array  # environment steps at each evaluation
    eval_returns: jax.Array  # mean greedy return at each evaluation
    finished_returns: jax.Array  # per step: the return of the episode that ended there, else nan
    metrics: Any  # the agent's update metrics, one entry per step (zeros before warmup)
    diverged_at: jax.Array  # the first step after which a loss or parameter was inf/NaN; -1 if none
    # (lib.core.divergence.raise_if_diverged turns it into a clear error)


def random_action(env, key):
    """A uniformly random action: the warm-up behaviour."""
    if env.discrete:
        return jax.random.randint(key, (), 0, env.action_size)
    return jax.random.uniform(key, (env.action_size,), minval=env.action_low, maxval=env.action_high)


def _zero_action(env):
    """An action of the right shape and dtype: the replay buffer's layout needs no random draw."""
    if env.discrete:
        return jnp.zeros((), jnp.int32)
    return jnp.zeros((env.action_size,), jnp.float32)


def _select_tree(condition, on_true, on_false):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), on_true, on_false)


def make_off_policy_train(env, agent, config):
    """Build `train(key) -> (agent_state, OffPolicyLog)` for `agent` on `env`."""

    def environment_step(carry, step_index):
        agent_state, buffer, env_state, obs, episode_return, diverged_at, key = carry
        key, key_act, key_random, key_reset, key_sample, key_update = jax.random.split(key, 6)
        policy_action, agent_state = agent.act(agent_state, obs, key_act)
        action = jnp.where(step_index < config.warmup_steps, random_action(env, key_random), policy_action)
        next_state, next_obs, reward, terminated, truncated = env.step(env_state, action)
        buffer = replay_add(buffer, Transition(obs, action, reward, next_obs, terminated))

        episode_return = episode_return + reward
        done = jnp.logical_or(terminated, truncated)
        reset_state, reset_obs = env.reset(key_reset)
        env_state = _select_tree(done, reset_state, next_state)
        obs = jnp.where(done, reset_obs, next_obs)
        finished_return = jnp.where(done, episode_return, jnp.nan)
        episode_return = jnp.where(done, 0.0, episode_return)

        def learn(agent_state):
            batch = replay_sample(buffer, key_sample, config.batch_size)
            return agent.update(agent_state, batch, key_update)

        def wait(agent_state):
            metrics = jax.eval_shape(learn, agent_state)[1]
            return agent_state, jax.tree_util.tree_map(lambda m: jnp.zeros(m.shape, m.dtype), metrics)

        # step_index is not batched over seeds, so this stays a real branch under vmap.
        agent_state, metrics = jax.lax.cond(step_index >= config.warmup_steps, learn, wait, agent_state)
        diverged_at = first_divergence(diverged_at, all_finite((agent_state, metrics)), step_index)
        return (agent_state, buffer, env_state, obs, episode_return, diverged_at, key), (finished_return, metrics)

    def train_and_evaluate(carry, step_indices):
        carry, (finished, metrics) = jax.lax.scan(environment_step, carry, step_indices)
        agent_state, key = carry[0], carry[-1]
        key, key_eval = jax.random.split(key)
        returns = episode_returns(env, lambda o: agent.greedy(agent_state, o), key_eval, config.eval_episodes)
        return carry[:-1] + (key,), (jnp.mean(returns), finished, metrics)

    def train(key):
        key, key_agent, key_env = jax.random.split(key, 3)
        agent_state = agent.init(key_agent)
        env_state, obs = env.reset(key_env)
        example = Transition(obs, _zero_action(env), jnp.array(0.0), obs, jnp.array(False))
        buffer = replay_init(config.buffer_capacity, example)
        carry = (agent_state, buffer, env_state, obs, jnp.array(0.0), jnp.array(-1, jnp.int32), key)
        num_evals = config.total_steps // config.eval_every
        step_indices = jnp.arange(config.total_steps).reshape(num_evals, config.eval_every)
        carry, (eval_returns, finished, metrics) = jax.lax.scan(train_and_evaluate, carry, step_indices)
        flat = lambda x: x.reshape((config.total_steps,) + x.shape[2:])
        log = OffPolicyLog(
            eval_steps=(jnp.arange(num_evals) + 1) * config.eval_every,
            eval_returns=eval_returns,
            finished_returns=flat(finished),
            metrics=jax.tree_util.tree_map(flat, metrics),
            diverged_at=carry[-2],
        )
        return carry[0], log

    return train
