"""The training loop: `make_train` compiles rollout + update for NPG, TRPO or PPO (or all three,
switchable) into one `train(key, knobs)`."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.loops.onpolicy import (
    annealable_adam,
    annealed_learning_rate,
    current_learning_rate,
    finished_episodes,
    minibatch_epochs,
    run_iterations,
    start_envs,
    state_value,
    with_learning_rate,
)
from lib.algorithms.trust_region.optimizers import (
    ALGORITHMS,
    PolicyOptimizationConfig,
    PolicyParams,
    collect_batch,
    init_policy,
    make_knobs,
    mean_policy_kl,
    npg_update,
    ppo_loss,
    trpo_update,
)


class PolicyOptimizationLog(NamedTuple):
    """Per iteration, and the run's divergence."""

    steps: jax.Array  # environment steps so far
    episode_returns: jax.Array  # mean return of the episodes that ended in the iteration (the previous
    # iteration's value when none ended; 0 before the first: see episodes_so_far)
    episodes_so_far: jax.Array  # episodes ended up to and including the iteration
    kl: jax.Array  # exact mean KL between the policies before and after the update
    learning_rate: jax.Array  # Adam's step size in the iteration (annealed or fixed)
    diverged_at: jax.Array  # the first iteration after which a parameter was inf/NaN; -1 if none


def _update_rule(env, config, optimizer):
    """`update(algorithm, params, opt_state, batch, key, knobs) -> (params, opt_state)` for one iteration."""

    def ppo_objective(clip_epsilon):
        return lambda p, b: (ppo_loss(env, p, b, clip_epsilon, config.value_coef, config.entropy_coef), None)

    def value_loss(p, b):
        return jnp.mean((state_value(p.value, b.observations) - b.returns) ** 2), None

    def update(algorithm, params, opt_state, batch, key, knobs):
        if algorithm == "ppo":
            params, opt_state, _ = minibatch_epochs(
                ppo_objective(knobs.clip_epsilon),
                params,
                opt_state,
                optimizer,
                batch,
                key,
                config.epochs,
                config.num_minibatches,
            )
            return params, opt_state
        if algorithm == "npg":
            new_params, _ = npg_update(env, params, batch, knobs.kl_bound, config.cg_iterations, config.cg_damping)
        else:
            new_params, _ = trpo_update(
                env,
                params,
                batch,
                knobs.kl_bound,
                config.cg_iterations,
                config.cg_damping,
                config.backtrack_ratio,
                config.backtrack_steps,
            )
        # The value network is fitted on the batch with Adam (its loss does not involve the policy).
        fitted, opt_state, _ = minibatch_epochs(
            value_loss, params, opt_state, optimizer, batch, key, config.epochs, config.num_minibatches
        )
        return new_params._replace(value=fitted.value), opt_state

    return update


class _Carry(NamedTuple):
    params: PolicyParams
    opt_state: tuple
    env_states: tuple
    observations: jax.Array
    last_return: jax.Array
    episodes_so_far: jax.Array


@functools.lru_cache(maxsize=16)
def make_train(env, config=PolicyOptimizationConfig(), switchable=False):
    """A pure `train(key, knobs) -> (params, PolicyOptimizationLog)` running config.algorithm on `env`.

    With switchable=True all three updates are compiled into one program and `knobs.algorithm`
    (an index into ALGORITHMS) picks one at run time: one compilation serves NPG, TRPO and PPO.

    The whole run is one `lax.scan` over iterations (`lib.loops.onpolicy.run_iterations`): collect a rollout
    with the current policy, compute GAE advantages and lambda-returns, update the policy (NPG, TRPO
    or PPO) and the value network. Jit it once; vmap it over keys for seeds and over knobs for a grid
    of KL bounds or clips: `lib.core.sweep.sweep(train, num_seeds, settings=[knobs, ...])` does that over every
    device and raises if a run diverged. Cached per (env, config, switchable), so new knobs reuse the program.
    """
    if not isinstance(config, PolicyOptimizationConfig):
        raise ValueError("config must be a PolicyOptimizationConfig")
    optimizer = annealable_adam(config.learning_rate, config.max_grad_norm, eps=1e-5)
    update = _update_rule(env, config, optimizer)

    def iteration(knobs, carry, key, index):
        key_rollout, key_update = jax.random.split(key)
        env_states, obs, batch, finished, done = collect_batch(
            env,
            carry.params,
            key_rollout,
            carry.env_states,
            carry.observations,
            config.rollout_length,
            config.gamma,
            config.lam,
            config.reward_scale,
        )
        rate = annealed_learning_rate(knobs.learning_rate, index, config.num_iterations, config.anneal_learning_rate)
        operands = (carry.params, with_learning_rate(carry.opt_state, rate), batch, key_update, knobs)
        if switchable:
            branches = [lambda *a, name=name: update(name, *a) for name in ALGORITHMS]
            params, opt_state = jax.lax.switch(knobs.algorithm, branches, *operands)
        else:
            params, opt_state = update(config.algorithm, *operands)
        kl = mean_policy_kl(env, carry.params, params, batch.observations)
        mean_return, count = finished_episodes(finished, done)
        last_return = jnp.where(count > 0, mean_return, carry.last_return)
        episodes = carry.episodes_so_far + count
        row = ((index + 1) * config.batch_size, last_return, episodes, kl, current_learning_rate(opt_state))
        return _Carry(params, opt_state, env_states, obs, last_return, episodes), row

    def train(key, knobs=None):
        knobs = make_knobs(config) if knobs is None else knobs
        key_init, key_env, key_loop = jax.random.split(key, 3)
        params = init_policy(key_init, env, config.policy_hidden, config.value_hidden, config.initial_log_std)
        env_states, obs = start_envs(env, key_env, config.num_envs)
        carry = _Carry(params, optimizer.init(params), env_states, obs, jnp.zeros(()), jnp.zeros((), jnp.int32))
        carry, rows, diverged_at = run_iterations(
            lambda c, k, i: iteration(knobs, c, k, i), carry, key_loop, config.num_iterations
        )
        return carry.params, PolicyOptimizationLog(*rows, diverged_at)

    return train
