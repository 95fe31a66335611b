"""CartPole, the training loop: `make_train` returns one pure `train(key)` that collects B episodes and
updates, repeated in one `lax.scan`."""

import functools
from functools import partial

import jax
import jax.numpy as jnp

from lib.loops.onpolicy import collect_rollout, current_learning_rate, run_iterations, start_envs
from lib.algorithms.policy_gradient.agent import (
    PolicyGradientConfig,
    PolicyGradientLog,
    _sampler,
    _with_step_sizes,
    first_episode_mask,
    init_agent,
)
from lib.algorithms.policy_gradient.boxes import (
    actor_critic_td0_step,
    baseline_update,
    gae_update,
    reinforce_update,
    value_minibatch_update,
)


# =============================================================== CartPole: the training loop


def collect_episodes(env, policy, key, num_episodes):
    """One complete episode in each of `num_episodes` fresh copies: (rollout [T, B], mask [T, B]).

    Runs env.max_episode_steps steps, so every first episode ends inside the window (terminated or
    truncated by the time limit); `mask` keeps those steps and drops the ones after a reset.
    """
    key_reset, key_collect = jax.random.split(key)
    env_states, observations = start_envs(env, key_reset, num_episodes)
    _, _, rollout, _ = collect_rollout(
        env, _sampler(policy, env), key_collect, env_states, observations, env.max_episode_steps
    )
    return rollout, first_episode_mask(rollout.done)


def _batch_update(config, state, rollout, mask, key, index):
    """The update rule of `config.estimator` (all but "td0") on a batch of complete episodes."""
    state = _with_step_sizes(config, state, index)
    if config.estimator in ("whole_return", "reward_to_go"):
        return reinforce_update(config, state, rollout, mask)
    if config.estimator == "baseline":
        return baseline_update(config, state, rollout, mask)
    if config.estimator == "value_minibatch":
        return value_minibatch_update(config, state, rollout, mask, key)
    return gae_update(config, state, rollout, mask, key)


def _td0_episodes(env, config, state, key, index):
    """B episodes in parallel copies with an Algorithm 24.4 update at every step."""
    state = _with_step_sizes(config, state, index)
    key_reset, key_steps = jax.random.split(key)
    env_states, observations = start_envs(env, key_reset, config.num_episodes)

    def online_step(carry, step_key):
        state, env_states, observations, alive = carry
        state, env_states, observations, step, next_alive = actor_critic_td0_step(
            config, state, env, step_key, env_states, observations, alive
        )
        return (state, env_states, observations, next_alive), (step.rewards, alive)

    alive = jnp.ones(config.num_episodes)
    (state, _, _, _), (rewards, mask) = jax.lax.scan(
        online_step, (state, env_states, observations, alive), jax.random.split(key_steps, env.max_episode_steps)
    )
    return state, rewards, mask


def _checked_configs(env, configs):
    """`configs` as a non-empty tuple of PolicyGradientConfig that agree on the shapes one program needs."""
    if not env.discrete:
        raise ValueError(f"make_train needs a discrete-action environment, got {env.name}")
    configs = (configs,) if isinstance(configs, PolicyGradientConfig) else tuple(configs)
    if not configs or not all(isinstance(c, PolicyGradientConfig) for c in configs):
        raise ValueError("configs must be a PolicyGradientConfig or a non-empty sequence of them")
    shapes = {(c.num_iterations, c.num_episodes, c.policy_hidden, c.value_hidden) for c in configs}
    if len(shapes) != 1:
        raise ValueError(
            f"configs must agree on (num_iterations, num_episodes, policy_hidden, value_hidden), got {sorted(shapes)}"
        )
    return configs


def make_train(env, configs):
    """A pure `train(key, which=0) -> (AgentState, PolicyGradientLog)`, the whole run one compiled lax.scan.

    `configs` is one PolicyGradientConfig or a sequence of them; `which` (an integer, may be traced)
    picks the config to run. A sequence compiles every estimator into ONE program (a lax.switch per
    iteration), so comparing estimators costs one compilation instead of one each; the configs must
    then agree on num_iterations, num_episodes and the widths. Every iteration collects one complete
    episode in each of B = num_episodes fresh copies of `env` (`collect_episodes`) and updates with
    the estimator's rule; for "td0" the update happens at every step of those episodes instead.
    `lib.core.sweep.sweep(train, num_seeds, settings=range(len(configs)))` runs every config for every seed;
    `make_train` is cached, so sweeping the same configs again reuses the compiled program.
    """
    return _make_train(env, _checked_configs(env, configs))


@functools.lru_cache(maxsize=16)
def _make_train(env, configs):
    first = configs[0]
    batch = [c for c in configs if c.estimator != "td0"]
    online = [c for c in configs if c.estimator == "td0"]
    # which -> position among the batch configs or among the online ones.
    position = jnp.array([(batch if c.estimator != "td0" else online).index(c) for c in configs])
    is_online = jnp.array([c.estimator == "td0" for c in configs])

    def batch_iteration(state, key, which, index):
        key_collect, key_update = jax.random.split(key)
        rollout, mask = collect_episodes(env, state.policy, key_collect, first.num_episodes)
        branches = [partial(_batch_update, c) for c in batch]
        state = jax.lax.switch(position[which], branches, state, rollout, mask, key_update, index)
        return state, rollout.rewards, mask

    def online_iteration(state, key, which, index):
        branches = [partial(_td0_episodes, env, c) for c in online]
        return jax.lax.switch(position[which], branches, state, key, index)

    def train(key, which=0):
        key_init, key_loop = jax.random.split(key)

        def iteration(state, key, index):
            if batch and online:
                state, rewards, mask = jax.lax.cond(
                    is_online[which], online_iteration, batch_iteration, state, key, which, index
                )
            else:
                state, rewards, mask = (online_iteration if online else batch_iteration)(state, key, which, index)
            returns = jnp.sum(mask * rewards, axis=0)
            rate = current_learning_rate(state.policy_opt_state)
            return state, (jnp.mean(returns), jnp.mean(jnp.sum(mask, axis=0)), rate)

        state, rows, diverged_at = run_iterations(
            iteration, init_agent(key_init, env, first), key_loop, first.num_iterations
        )
        return state, PolicyGradientLog(*rows, diverged_at)

    return train
