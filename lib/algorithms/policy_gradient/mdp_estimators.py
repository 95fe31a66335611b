"""Finite MDP, estimators: the score-function gradient with whole returns, rewards to go, a baseline or
GAE, on sampled episodes vmapped over independent trials, and their bias and variance."""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.core.config import check_positive_int
from lib.problems.mdp import sample_trajectories
from lib.loops.onpolicy import discounted_returns_to_go, gae_advantages
from lib.algorithms.policy_gradient.mdp_exact import softmax_policy


# =============================================================== finite MDP: estimators


class GradientEstimates(NamedTuple):
    """One gradient estimate per trial, each of shape [trials, *params.shape] (gae: [lambdas, trials, ...])."""

    whole_return: jax.Array
    reward_to_go: jax.Array
    baseline: jax.Array
    gae: jax.Array


def score_function_gradient(params, states, actions, weights, policy_fn=softmax_policy):
    """(1/E) sum_episodes sum_t weights_t grad_w log d(a_t|s_t; w) for [E, H] arrays of one trial.

    The gradient of the surrogate (1/E) sum weights_t log d(a_t|s_t; w) with the weights held fixed:
    the weights carry the return information, the log-probability carries w.
    """

    def surrogate(w):
        log_policy = jnp.log(policy_fn(w))
        return jnp.sum(weights * log_policy[states, actions]) / states.shape[0]

    return jax.grad(surrogate)(params)


def checked_lambdas(lams):
    """`lams` as a 1-D array, after checking every lambda lies in [0, 1] (a ValueError naming `lams`)."""
    lams = jnp.atleast_1d(jnp.asarray(lams))
    if bool(jnp.any((lams < 0) | (lams > 1) | ~jnp.isfinite(lams))):
        raise ValueError(f"lams must lie in [0, 1], got {lams}")
    return lams


def _psi_whole_return(rewards, gamma):
    """psi_t = G(tau) = sum_k gamma^k r_k on every step ([H, E] time-major arrays)."""
    discounts = gamma ** jnp.arange(rewards.shape[0])[:, None]
    return jnp.broadcast_to(jnp.sum(discounts * rewards, axis=0), rewards.shape)


def _psi_rewards_to_go(rewards, gamma, done):
    """psi_t = gamma^t G_t = sum_{k >= t} gamma^k r_k: the rewards before t dropped (causality)."""
    discounts = gamma ** jnp.arange(rewards.shape[0])[:, None]
    return discounts * discounted_returns_to_go(rewards, done, gamma)


def finite_mdp_estimates(mdp, params, critic, key, lams, num_trials, num_episodes, horizon, policy_fn=softmax_policy):
    """Gradient estimates over `num_trials` independent trials of `num_episodes` episodes each.

    Every trial samples its own episodes of `horizon` steps (pick gamma^horizon negligible: the
    episode is cut there) and forms the four estimators from the same episodes:
      whole_return: psi_t = sum_k gamma^k r_k (the whole discounted return on every step),
      reward_to_go: psi_t = gamma^t G_t,
      baseline:     psi_t = gamma^t (G_t - v_hat(s_t)),
      gae:          psi_t = gamma^t A_t^GAE(gamma, lambda) with critic v_hat, one row per lambda in `lams`.
    `critic[s]` is v_hat. With the exact v_d the baseline is the usual choice, not the variance-minimizing
    one: that weights the returns by the squared norm of the score, b*(s) = E[|grad log d|^2 G | s] /
    E[|grad log d|^2 | s] (Exercise 6 of chapter 24 finds it on a bandit).
    """
    for name, value in (("num_trials", num_trials), ("num_episodes", num_episodes), ("horizon", horizon)):
        check_positive_int(name, value)
    return _finite_mdp_estimates(
        mdp, params, critic, key, checked_lambdas(lams), num_trials, num_episodes, horizon, policy_fn
    )


@partial(jax.jit, static_argnums=(5, 6, 7, 8))
def _finite_mdp_estimates(mdp, params, critic, key, lams, num_trials, num_episodes, horizon, policy_fn):
    policy = policy_fn(params)
    gamma = mdp.gamma

    def one_trial(trial_key):
        states, actions, rewards = sample_trajectories(mdp, policy, trial_key, num_episodes, horizon)
        # Time-major [H, E] for the reverse scans of lib.loops.onpolicy; the episode ends at the horizon.
        states_t, rewards_t = states.T, rewards.T
        done = jnp.zeros_like(rewards_t).at[-1].set(1.0)
        discounts = gamma ** jnp.arange(horizon)[:, None]
        values = critic[states_t]
        next_values = jnp.concatenate([values[1:], jnp.zeros_like(values[:1])])
        psi = {
            "whole_return": _psi_whole_return(rewards_t, gamma),
            "reward_to_go": _psi_rewards_to_go(rewards_t, gamma, done),
        }
        psi["baseline"] = psi["reward_to_go"] - discounts * values
        # score_function_gradient wants episode-major [E, H] arrays: transpose the weights back.
        gradient = lambda weights: score_function_gradient(params, states, actions, weights.T, policy_fn)
        estimates = {name: gradient(weights) for name, weights in psi.items()}

        def gae_gradient(lam):
            advantages = gae_advantages(rewards_t, values, next_values, done, done, gamma, lam)
            return gradient(discounts * advantages)

        estimates["gae"] = jax.vmap(gae_gradient)(lams)
        return GradientEstimates(**estimates)

    estimates = jax.vmap(one_trial)(jax.random.split(key, num_trials))
    return estimates._replace(gae=jnp.moveaxis(estimates.gae, 1, 0))


class EstimatorSummary(NamedTuple):
    """Bias, variance and MSE of an estimator of a vector: all summed over the vector's components."""

    bias_norm: float  # || mean estimate - exact ||
    bias_se: float  # standard error of that mean, sqrt(trace Cov / trials)
    variance: float  # trace of the covariance of one trial's estimate
    mse: float  # bias_norm^2 + variance
    max_z: float  # max over components of |mean - exact| / (its standard error): the unbiasedness test's statistic


def summarize_estimates(estimates, exact):
    """Bias and variance of `estimates[trials, ...]` against the `exact` gradient (at least 2 trials)."""
    if estimates.shape[0] < 2:
        raise ValueError(f"estimates must hold at least 2 trials for a variance, got {estimates.shape[0]}")
    flat = jnp.reshape(estimates, (estimates.shape[0], -1))
    mean = jnp.mean(flat, axis=0)
    component_variances = jnp.var(flat, axis=0, ddof=1)
    variance = jnp.sum(component_variances)
    error = mean - jnp.ravel(exact)
    bias = jnp.linalg.norm(error)
    # Per component, not on the norm: a norm-based band is as wide as the noise of all components together.
    z = jnp.abs(error) / jnp.sqrt(component_variances / flat.shape[0])
    return EstimatorSummary(
        float(bias),
        float(jnp.sqrt(variance / flat.shape[0])),
        float(variance),
        float(bias**2 + variance),
        float(jnp.max(z)),
    )


def gae_advantage_moments(mdp, policy, critic, key, lams, num_episodes, horizon):
    """Mean and variance of sampled GAE advantages for each (s, a), one row per lambda in `lams`.

    Only steps t < horizon / 2 count, so the cut at the horizon (weight (gamma lambda)^(H/2)) is
    negligible. Returns (mean[L, S, A], variance[L, S, A], count[S, A]); unvisited pairs give nan.
    """
    check_positive_int("num_episodes", num_episodes)
    check_positive_int("horizon", horizon)
    return _gae_advantage_moments(mdp, policy, critic, key, checked_lambdas(lams), num_episodes, horizon)


@partial(jax.jit, static_argnums=(5, 6))
def _gae_advantage_moments(mdp, policy, critic, key, lams, num_episodes, horizon):
    num_states, num_actions = mdp.rewards.shape
    states, actions, rewards = sample_trajectories(mdp, policy, key, num_episodes, horizon)
    states, actions, rewards = states.T, actions.T, rewards.T
    done = jnp.zeros_like(rewards).at[-1].set(1.0)
    values = critic[states]
    next_values = jnp.concatenate([values[1:], jnp.zeros_like(values[:1])])
    keep = (jnp.arange(horizon) < horizon // 2)[:, None] * jnp.ones_like(rewards)
    pair = (states * num_actions + actions).ravel()

    def pair_sum(x):
        return jax.ops.segment_sum((keep * x).ravel(), pair, num_states * num_actions).reshape(num_states, num_actions)

    count = pair_sum(jnp.ones_like(rewards))

    def moments(lam):
        advantages = gae_advantages(rewards, values, next_values, done, done, mdp.gamma, lam)
        mean = pair_sum(advantages) / count
        return mean, pair_sum(advantages**2) / count - mean**2

    mean, variance = jax.vmap(moments)(lams)
    return mean, variance * count / (count - 1), count
