"""The policies and the three optimizers: the policy and value networks, the config and its run-time
knobs, a batch with GAE advantages, and the NPG, TRPO and PPO updates."""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from lib.core.config import check_positive, check_positive_int, check_range
from lib.parts.nets import check_hidden_widths
from lib.loops.onpolicy import (
    collect_rollout,
    gae_advantages,
    init_policy_and_value,
    normalize,
    policy_output,
    state_value,
)
from lib.parts.distributions import (
    categorical_entropy,
    categorical_kl,
    categorical_log_prob,
    categorical_sample,
    gaussian_entropy,
    gaussian_kl,
    gaussian_log_prob,
    gaussian_sample,
)
from lib.algorithms.trust_region.fisher import conjugate_gradient, fisher_vector_product


# ================================================================ 3. policies and the three optimizers


class PolicyParams(NamedTuple):
    policy: list  # MLP: observation -> logits (categorical) or mean (Gaussian)
    log_std: jax.Array  # state-independent log standard deviation (Gaussian only; unused otherwise)
    value: list  # MLP: observation -> v(s; psi)


def init_policy(key, env, policy_hidden=(64, 64), value_hidden=(64, 64), initial_log_std=-0.5):
    """Policy and value MLPs (`lib.loops.onpolicy.init_policy_and_value`: tanh layers, the policy's output scaled
    by 0.01) and, for a Gaussian policy, its log standard deviation."""
    policy, value = init_policy_and_value(key, env, policy_hidden, value_hidden)
    return PolicyParams(policy, jnp.full((0 if env.discrete else env.action_size,), initial_log_std), value)


def distribution(env, policy, log_std, observations):
    """The policy's distribution parameters at each observation: logits, or (mean, log_std)."""
    out = policy_output(policy, observations)
    return out if env.discrete else (out, jnp.broadcast_to(log_std, out.shape))


def log_prob(env, dist, actions):
    """log d(a | s; w) from distribution parameters."""
    return categorical_log_prob(dist, actions) if env.discrete else gaussian_log_prob(*dist, actions)


def policy_kl(env, dist_old, dist_new):
    """KL(pi_old(. | s) || pi_new(. | s)) per state."""
    return categorical_kl(dist_old, dist_new) if env.discrete else gaussian_kl(*dist_old, *dist_new)


def entropy(env, dist):
    """Entropy of the policy at each state."""
    if env.discrete:
        return categorical_entropy(dist)
    return gaussian_entropy(dist[1])


def sample(env, dist, key):
    """A sampled action and its log-probability (Gaussian actions are clipped by the environment)."""
    if env.discrete:
        action = categorical_sample(key, dist)
    else:
        action = gaussian_sample(key, *dist)
    return action, log_prob(env, dist, action)


ALGORITHMS = ("npg", "trpo", "ppo")


@dataclass(frozen=True)
class PolicyOptimizationConfig:
    """One config for NPG, TRPO and PPO; the defaults solve CartPole-v1.

    algorithm: "npg", "trpo" or "ppo".
    total_steps: environment steps in the run (rounded down to whole iterations).
    num_envs, rollout_length: parallel environments and steps per environment in each rollout;
        one iteration uses num_envs * rollout_length transitions.
    policy_hidden, value_hidden: hidden widths (tanh) of the policy and of the value network, each an int >= 1.
    gamma, lam: discount and GAE parameter, in [0, 1].
    reward_scale: multiplies the rewards the learner sees (returns are logged unscaled), > 0.
    kl_bound: delta, the trust region on the mean KL for NPG and TRPO, > 0.
    cg_iterations, cg_damping: conjugate-gradient steps and the damping added to the Fisher matrix.
    backtrack_ratio, backtrack_steps: TRPO's line search tries beta^j * full step, j < backtrack_steps.
    clip_epsilon: PPO's clip, in (0, 1).
    epochs, num_minibatches: passes over each batch and mini-batches per pass (PPO's policy and value
        loss, and the value network of NPG and TRPO).
    learning_rate: the step of the one Adam that updates PPO's joint policy-and-value loss (and the
        NPG/TRPO value network), > 0; one optimizer, so one rate, not a policy_ and a value_learning_rate.
    anneal_learning_rate: decay the learning rate linearly to 0 over the run.
    value_coef, entropy_coef: PPO's loss weights, >= 0.
    max_grad_norm: global gradient-norm clip for the Adam updates, > 0.
    initial_log_std: the Gaussian policy's starting log standard deviation.
    """

    algorithm: str = "ppo"
    total_steps: int = 500_000
    num_envs: int = 32
    rollout_length: int = 32
    policy_hidden: tuple = (64, 64)
    value_hidden: tuple = (64, 64)
    gamma: float = 0.99
    lam: float = 0.95
    reward_scale: float = 1.0
    kl_bound: float = 0.01
    cg_iterations: int = 10
    cg_damping: float = 0.1
    backtrack_ratio: float = 0.8
    backtrack_steps: int = 10
    clip_epsilon: float = 0.2
    epochs: int = 4
    num_minibatches: int = 4
    learning_rate: float = 2.5e-3
    anneal_learning_rate: bool = True
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    initial_log_std: float = -0.5

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        for name in (
            "total_steps",
            "num_envs",
            "rollout_length",
            "cg_iterations",
            "backtrack_steps",
            "epochs",
            "num_minibatches",
        ):
            check_positive_int(name, getattr(self, name))
        check_hidden_widths(self, "policy_hidden", "value_hidden")
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("lam", self.lam, 0.0, 1.0)
        check_positive("reward_scale", self.reward_scale)
        check_positive("kl_bound", self.kl_bound)
        check_range("cg_damping", self.cg_damping, 0.0)
        check_range("backtrack_ratio", self.backtrack_ratio, 0.0, 1.0, low_open=True, high_open=True)
        check_range("clip_epsilon", self.clip_epsilon, 0.0, 1.0, low_open=True, high_open=True)
        check_positive("learning_rate", self.learning_rate)
        check_range("value_coef", self.value_coef, 0.0)
        check_range("entropy_coef", self.entropy_coef, 0.0)
        check_positive("max_grad_norm", self.max_grad_norm)
        check_range("initial_log_std", self.initial_log_std)  # any finite value
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches must divide num_envs * rollout_length = {self.batch_size}, got {self.num_minibatches}"
            )
        check_positive_int("total_steps // (num_envs * rollout_length)", self.num_iterations)

    @property
    def batch_size(self):
        return self.num_envs * self.rollout_length

    @property
    def num_iterations(self):
        return self.total_steps // self.batch_size


class Knobs(NamedTuple):
    """The values a slider may change without recompiling (traced arrays inside `train`)."""

    kl_bound: jax.Array
    clip_epsilon: jax.Array
    learning_rate: jax.Array
    algorithm: jax.Array  # index into ALGORITHMS (used by a switchable train)


def make_knobs(config, kl_bound=None, clip_epsilon=None, learning_rate=None, algorithm=None):
    """Knobs from a config, with optional overrides (scalars or arrays for a grid), validated."""
    kl_bound = config.kl_bound if kl_bound is None else kl_bound
    clip_epsilon = config.clip_epsilon if clip_epsilon is None else clip_epsilon
    learning_rate = config.learning_rate if learning_rate is None else learning_rate
    for name, values, check in (
        ("kl_bound", kl_bound, lambda v: check_positive("kl_bound", v)),
        (
            "clip_epsilon",
            clip_epsilon,
            lambda v: check_range("clip_epsilon", v, 0.0, 1.0, low_open=True, high_open=True),
        ),
        ("learning_rate", learning_rate, lambda v: check_positive("learning_rate", v)),
    ):
        for v in np.ravel(np.asarray(values, dtype=float)).tolist():
            check(v)
    algorithm = config.algorithm if algorithm is None else algorithm
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    return Knobs(
        jnp.asarray(kl_bound, jnp.float32),
        jnp.asarray(clip_epsilon, jnp.float32),
        jnp.asarray(learning_rate, jnp.float32),
        jnp.asarray(ALGORITHMS.index(algorithm), jnp.int32),
    )


class Batch(NamedTuple):
    """One iteration's transitions, flattened over time and environments."""

    observations: jax.Array
    actions: jax.Array
    log_probs: jax.Array
    advantages: jax.Array
    returns: jax.Array  # lambda-returns A + v(s): the value network's regression targets


def collect_batch(env, params, key, env_states, observations, rollout_length, gamma=0.99, lam=0.95, reward_scale=1.0):
    """Run the current policy for rollout_length steps in every environment copy and build the Batch:
    GAE advantages from the value network, lambda-returns as its targets. Returns
    (env_states, observations, batch, finished_returns[T, N], done[T, N]): done marks the entries of
    finished_returns that are the returns of episodes ending there."""

    def sample_action(observation, k):
        return sample(env, distribution(env, params.policy, params.log_std, observation), k)

    env_states, observations, rollout, finished = collect_rollout(
        env, sample_action, key, env_states, observations, rollout_length
    )
    rewards = reward_scale * rollout.rewards
    values = state_value(params.value, rollout.observations)
    next_values = state_value(params.value, rollout.next_observations)
    advantages = gae_advantages(
        rewards, values, next_values, rollout.terminated.astype(rewards.dtype), rollout.done, gamma, lam
    )
    flat = lambda x: x.reshape((-1,) + x.shape[2:])
    batch = Batch(
        flat(rollout.observations),
        flat(rollout.actions),
        flat(rollout.log_probs),
        flat(advantages),
        flat(advantages + values),
    )
    return env_states, observations, batch, finished, rollout.done


def _flat_policy(params):
    """theta = (policy weights, log_std) as one vector, and the map back."""
    return ravel_pytree((params.policy, params.log_std))


def natural_gradient_step(env, params, batch, kl_bound, cg_iterations=10, cg_damping=0.1):
    """The KL-normalized natural policy gradient step: it fills the damped Fisher form of the KL bound.

    g = grad of the surrogate L(theta) = mean[ratio(theta) A] at theta_k (the policy gradient);
    x = I_d^-1 g by `cg_iterations` steps of conjugate gradient with Fisher-vector products of the damped
    matrix I_d = I(theta_k) + cg_damping * Id; the step sqrt(2 delta / x^T I_d x) x satisfies
    1/2 step^T I_d step = delta, so the undamped 1/2 step^T I step is at most delta. Returns
    (theta_k as a vector, full step, unravel, surrogate, mean_kl, predicted improvement g^T step).
    """
    theta_k, unravel = _flat_policy(params)
    dist_k = distribution(env, params.policy, params.log_std, batch.observations)
    advantages = normalize(batch.advantages)

    def surrogate(theta):
        policy, log_std = unravel(theta)
        new_log_probs = log_prob(env, distribution(env, policy, log_std, batch.observations), batch.actions)
        return jnp.mean(jnp.exp(new_log_probs - batch.log_probs) * advantages)

    def mean_kl(theta):
        policy, log_std = unravel(theta)
        return jnp.mean(policy_kl(env, dist_k, distribution(env, policy, log_std, batch.observations)))

    gradient = jax.grad(surrogate)(theta_k)
    fvp = lambda v: fisher_vector_product(mean_kl, theta_k, v, cg_damping)
    direction = conjugate_gradient(fvp, gradient, cg_iterations)
    curvature = direction @ fvp(direction)
    step = jnp.sqrt(2.0 * kl_bound / jnp.maximum(curvature, 1e-12)) * direction
    return theta_k, step, unravel, surrogate, mean_kl, gradient @ step


def npg_update(env, params, batch, kl_bound, cg_iterations=10, cg_damping=0.1):
    """Natural policy gradient: take the full natural step. Returns (params, mean KL after the step)."""
    theta_k, step, unravel, _, mean_kl, _ = natural_gradient_step(
        env, params, batch, kl_bound, cg_iterations, cg_damping
    )
    theta = theta_k + step
    policy, log_std = unravel(theta)
    return params._replace(policy=policy, log_std=log_std), mean_kl(theta)


def trpo_update(
    env, params, batch, kl_bound, cg_iterations=10, cg_damping=0.1, backtrack_ratio=0.8, backtrack_steps=10
):
    """TRPO: the natural direction, then a backtracking line search on the exact constraint.

    The candidates theta_k + beta^j step (j = 0 .. J-1) are evaluated together; the first whose
    exact mean KL is <= delta and whose surrogate improves on L(theta_k) is taken. If none
    qualifies, theta_k is kept. Returns (params, mean KL of the accepted policy).
    """
    theta_k, step, unravel, surrogate, mean_kl, _ = natural_gradient_step(
        env, params, batch, kl_bound, cg_iterations, cg_damping
    )
    fractions = backtrack_ratio ** jnp.arange(backtrack_steps)
    candidates = theta_k[None] + fractions[:, None] * step[None]
    kls = jax.vmap(mean_kl)(candidates)
    gains = jax.vmap(surrogate)(candidates) - surrogate(theta_k)
    ok = jnp.logical_and(kls <= kl_bound, gains > 0)
    theta = jnp.where(ok.any(), candidates[jnp.argmax(ok)], theta_k)
    policy, log_std = unravel(theta)
    return params._replace(policy=policy, log_std=log_std), jnp.where(ok.any(), kls[jnp.argmax(ok)], 0.0)


class StepProfile(NamedTuple):
    """Quantities along theta_k + t * (natural step), for each fraction t."""

    kl: jax.Array  # exact mean KL(pi_k || pi_t)
    fisher_kl: jax.Array  # its Fisher form 1/2 t^2 s^T I s (undamped I)
    surrogate_gain: jax.Array  # L(theta_t) - L(theta_k), L = mean[ratio A]
    clipped_gain: jax.Array  # the same for PPO's clipped surrogate at clip_epsilon
    outside_share: jax.Array  # share of samples whose ratio is outside [1 - eps, 1 + eps] (not all of
    # them clipped: the min keeps r A where it is the lower term)
    trpo_fraction: jax.Array  # the fraction TRPO's line search accepts (0 if none)
    trpo_kl: jax.Array  # the exact mean KL at that fraction


def natural_step_profile(
    env,
    params,
    batch,
    kl_bound,
    clip_epsilon,
    fractions,
    cg_iterations=10,
    cg_damping=0.1,
    backtrack_ratio=0.8,
    backtrack_steps=10,
):
    """What one update sees along the natural direction: exact KL against its Fisher form, the
    surrogate against PPO's clipped surrogate, and where TRPO's line search stops."""
    theta_k, step, unravel, surrogate, mean_kl, _ = natural_gradient_step(
        env, params, batch, kl_bound, cg_iterations, cg_damping
    )
    advantages = normalize(batch.advantages)
    curvature = step @ fisher_vector_product(mean_kl, theta_k, step)

    def at(t):
        policy, log_std = unravel(theta_k + t * step)
        ratio = jnp.exp(
            log_prob(env, distribution(env, policy, log_std, batch.observations), batch.actions) - batch.log_probs
        )
        clipped = jnp.mean(
            jnp.minimum(ratio * advantages, jnp.clip(ratio, 1 - clip_epsilon, 1 + clip_epsilon) * advantages)
        )
        outside = jnp.mean(jnp.abs(ratio - 1.0) > clip_epsilon)
        return mean_kl(theta_k + t * step), surrogate(theta_k + t * step), clipped, outside

    kl, surr, clipped, outside = jax.vmap(at)(fractions)
    _, surr_k, clipped_k, _ = at(0.0)
    tries = backtrack_ratio ** jnp.arange(backtrack_steps)
    try_kl, try_surr, _, _ = jax.vmap(at)(tries)
    ok = jnp.logical_and(try_kl <= kl_bound, try_surr > surr_k)
    return StepProfile(
        kl,
        0.5 * fractions**2 * curvature,
        surr - surr_k,
        clipped - clipped_k,
        outside,
        jnp.where(ok.any(), tries[jnp.argmax(ok)], 0.0),
        jnp.where(ok.any(), try_kl[jnp.argmax(ok)], 0.0),
    )


def ppo_loss(env, params, batch, clip_epsilon, value_coef=0.5, entropy_coef=0.01):
    """PPO's loss on a mini-batch: -clipped surrogate + c_v (v - target)^2 - c_e entropy.

    The clipped surrogate mean[min(r A, clip(r, 1 - eps, 1 + eps) A)], r = d(a|s; w) / d(a|s; w_k),
    removes any incentive to move r outside [1 - eps, 1 + eps]; where a move makes a sample worse
    the min keeps the unclipped r A, so the objective can fall.
    """
    dist = distribution(env, params.policy, params.log_std, batch.observations)
    new_log_probs = log_prob(env, dist, batch.actions)
    ratio = jnp.exp(new_log_probs - batch.log_probs)
    advantages = normalize(batch.advantages)
    clipped = jnp.clip(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon)
    policy_objective = jnp.mean(jnp.minimum(ratio * advantages, clipped * advantages))
    value_loss = jnp.mean((state_value(params.value, batch.observations) - batch.returns) ** 2)
    loss = -policy_objective + value_coef * value_loss - entropy_coef * jnp.mean(entropy(env, dist))
    return loss


def mean_policy_kl(env, params_old, params_new, observations):
    """The exact mean over `observations` of KL(pi_old(. | s) || pi_new(. | s)): the KL an update moved by."""
    dist_old = distribution(env, params_old.policy, params_old.log_std, observations)
    return jnp.mean(policy_kl(env, dist_old, distribution(env, params_new.policy, params_new.log_std, observations)))
