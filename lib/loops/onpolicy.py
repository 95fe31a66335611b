"""On-policy machinery shared by chapters 24 and 26: rollouts, returns and GAE, and the training scaffolding.

`collect_rollout` steps `num_envs` copies of a JAX environment for `rollout_length` steps under the
current policy, resetting each copy when its episode ends; everything is a `lax.scan` over time
and a `vmap` over copies, so it compiles once inside a training loop.

The scaffolding both chapters' trainers share lives here once: the policy and value MLPs, advantage
normalization, Adam whose step size a loop anneals (optax's `inject_hyperparams`), shuffled
mini-batch epochs, the scan over training iterations that tracks divergence, and the greedy evaluation.

Time-limit truncation is not termination: at a truncated step the value of the real next state
is still bootstrapped, which is why the rollout keeps `next_observations` (before any reset).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from lib.core.config import check_positive_int, check_range
from lib.core.divergence import all_finite, first_divergence
from lib.parts.evaluation import episode_returns
from lib.parts.nets import gradient_step, mlp_apply, mlp_init


class Rollout(NamedTuple):
    observations: jax.Array  # [T, N, obs]
    actions: jax.Array  # [T, N, ...]
    log_probs: jax.Array  # [T, N] log d(a_t | s_t; w) at collection time
    rewards: jax.Array  # [T, N]
    next_observations: jax.Array  # [T, N, obs], the state reached, before any reset
    terminated: jax.Array  # [T, N] true terminal state: no bootstrap
    done: jax.Array  # [T, N] episode ended (terminated or truncated): the trajectory is cut here


def reset_envs(env, key, num_envs):
    """Fresh states and observations for `num_envs` copies of `env`."""
    return jax.vmap(env.reset)(jax.random.split(key, num_envs))


def collect_rollout(env, sample_action, key, env_states, observations, rollout_length):
    """Step every copy `rollout_length` times with `sample_action(obs, key) -> (action, log_prob)`.

    Returns (env_states, observations, rollout, finished_returns) where finished_returns[t, n] is
    the undiscounted return of an episode that ended at step t in copy n, and 0 where none ended:
    `rollout.done` is the mask of the entries that are returns (NaN is left to mean divergence).
    Episode returns in progress are carried in the state tuple `env_states` as (states, running_returns).
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
        finished = jnp.where(done, running, 0.0)
        running = jnp.where(done, 0.0, running)
        transition = Rollout(observations, actions, log_probs, rewards, next_obs, terminated, done)
        return (states, keep(reset_obs, next_obs), running), (transition, finished)

    (states, observations, running), (rollout, finished) = jax.lax.scan(
        step, (states, observations, running), jax.random.split(key, rollout_length)
    )
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

    _, returns = jax.lax.scan(backward, jnp.zeros_like(rewards[0]), (rewards, done.astype(rewards.dtype)), reverse=True)
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

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, done.astype(deltas.dtype)), reverse=True)
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


def finished_episodes(finished_returns, done):
    """(mean return, count) of the episodes that ended in a rollout; the mean is 0 when none did."""
    count = jnp.sum(done)
    return jnp.sum(jnp.where(done, finished_returns, 0.0)) / jnp.maximum(count, 1), count


# ================================================================ the trainers' scaffolding


def init_policy_and_value(key, env, policy_hidden, value_hidden):
    """(policy, value) MLPs with tanh hidden layers. The policy's output layer (logits, or the Gaussian
    mean) is scaled by 0.01, so the first policy is close to uniform or to a zero-mean Gaussian."""
    key_policy, key_value = jax.random.split(key)
    policy = mlp_init(key_policy, [env.observation_size, *policy_hidden, env.action_size])
    policy[-1] = jax.tree_util.tree_map(lambda w: 0.01 * w, policy[-1])
    value = mlp_init(key_value, [env.observation_size, *value_hidden, 1])
    return policy, value


def policy_output(policy, observations):
    """The policy network's output: action logits (discrete) or the Gaussian mean (continuous)."""
    return mlp_apply(policy, observations, activation=jnp.tanh)


def state_value(value, observations):
    """v(s; theta), the value network's scalar output."""
    return mlp_apply(value, observations, activation=jnp.tanh)[..., 0]


def greedy_action(env, policy, observation):
    """The policy's mode: the argmax logit, or the Gaussian mean."""
    output = policy_output(policy, observation)
    return jnp.argmax(output, axis=-1) if env.discrete else output


def greedy_returns(env, policy, key, num_episodes=10):
    """Undiscounted returns of the greedy policy over whole episodes, for a final evaluation."""
    return episode_returns(env, lambda obs: greedy_action(env, policy, obs), key, num_episodes)


def masked_mean(x, mask):
    """The mean of x over the entries where mask is 1 (0 if there are none)."""
    return jnp.sum(mask * x) / jnp.maximum(jnp.sum(mask), 1.0)


def normalize(advantages, mask=None):
    """(A - mean) / (std + 1e-8) over the entries where `mask` is 1, or over all of them without a mask."""
    if mask is None:
        return (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    mean = masked_mean(advantages, mask)
    std = jnp.sqrt(masked_mean((advantages - mean) ** 2, mask))
    return (advantages - mean) / (std + 1e-8)


def annealable_adam(learning_rate, max_grad_norm=None, eps=1e-8):
    """Adam (after a global-norm clip if `max_grad_norm` is given) with its step size kept in the optimizer
    state by `optax.inject_hyperparams`, so a training loop can anneal it (`with_learning_rate`)."""

    def adam(learning_rate):
        step = optax.adam(learning_rate, eps=eps)
        return step if max_grad_norm is None else optax.chain(optax.clip_by_global_norm(max_grad_norm), step)

    return optax.inject_hyperparams(adam)(learning_rate=learning_rate)


def annealed_learning_rate(learning_rate, iteration, num_iterations, anneal=True):
    """The step size of iteration i = 0 .. N-1: learning_rate (1 - i / N) when annealing, else constant."""
    rate = learning_rate * (1.0 - iteration / num_iterations) if anneal else learning_rate
    return jnp.asarray(rate, jnp.float32)


def with_learning_rate(opt_state, learning_rate):
    """An `annealable_adam` state whose next steps use `learning_rate`."""
    rates = dict(opt_state.hyperparams, learning_rate=jnp.asarray(learning_rate, jnp.float32))
    return opt_state._replace(hyperparams=rates)


def current_learning_rate(opt_state):
    """The step size an `annealable_adam` state applies next."""
    return opt_state.hyperparams["learning_rate"]


def minibatch_epochs(loss, params, opt_state, optimizer, data, key, num_epochs, num_minibatches):
    """`num_epochs` shuffled passes over `data` (a pytree with a leading sample axis), one optimizer step
    per mini-batch on `loss(params, minibatch) -> (loss, aux)`. Returns (params, opt_state, aux[epochs, batches])."""

    def epoch(carry, epoch_key):
        def minibatch_step(carry, minibatch):
            params, opt_state = carry
            (_, aux), grads = jax.value_and_grad(loss, has_aux=True)(params, minibatch)
            return gradient_step(optimizer, params, opt_state, grads), aux

        return jax.lax.scan(minibatch_step, carry, shuffled_minibatches(epoch_key, data, num_minibatches))

    (params, opt_state), aux = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, num_epochs))
    return params, opt_state, aux


def run_iterations(iteration, state, key, num_iterations):
    """The outer training loop as one `lax.scan`: `iteration(state, key, index) -> (state, log_row)`.

    Each iteration gets its own key (one split of `key`). The scan also tracks the first iteration
    after which a number in `state` (parameters, optimizer states) was inf or NaN. Returns
    (state, log rows stacked over iterations, diverged_at: that iteration, or -1 if none).
    """

    def step(carry, inputs):
        state, diverged_at = carry
        iteration_key, index = inputs
        state, row = iteration(state, iteration_key, index)
        return (state, first_divergence(diverged_at, all_finite(state), index)), row

    inputs = (jax.random.split(key, num_iterations), jnp.arange(num_iterations))
    (state, diverged_at), rows = jax.lax.scan(step, (state, jnp.asarray(-1, jnp.int32)), inputs)
    return state, rows, diverged_at
