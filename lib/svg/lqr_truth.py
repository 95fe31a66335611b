"""The LQR ground truth: the exact q of a linear Gaussian policy, each estimator's objective and the
expected return in closed form, whose `jax.grad` is the exact gradient the estimators are tested against."""

import functools

import jax
import jax.numpy as jnp

from lib.lqr import linear_policy_cost_matrix
from lib.svg.estimators import check_unroll_depth


# ------------------------------------------------------------------ LQR ground truth
@jax.jit
def lqr_q_function(lqr, params):
    """The exact q_K(x, u) = -(z^T H z + c) of the policy u = -K x + sigma eps, as critic params (H, c)."""
    K, sigma = params["gain"], jnp.exp(params["log_std"])
    P = linear_policy_cost_matrix(lqr, K)
    noise = lqr.noise_cov + lqr.B @ jnp.diag(sigma**2) @ lqr.B.T
    value_constant = (jnp.sum(sigma**2 * jnp.diag(lqr.R)) + lqr.gamma * jnp.trace(P @ noise)) / (1 - lqr.gamma)
    g = lqr.gamma
    H = jnp.block(
        [
            [lqr.Q + g * lqr.A.T @ P @ lqr.A, g * lqr.A.T @ P @ lqr.B],
            [g * lqr.B.T @ P @ lqr.A, lqr.R + g * lqr.B.T @ P @ lqr.B],
        ]
    )
    return H, g * jnp.trace(P @ lqr.noise_cov) + g * value_constant


def lqr_n_step_objective(lqr, params, n, start_mean, start_cov, critic_params=None, stochastic=True):
    """Exact E[sum_{t<n} gamma^t r(x_t, u_t) + gamma^n q(x_n, u_n)] for u = -K x (+ sigma eps if
    stochastic) from x_0 ~ N(start_mean, start_cov), with x_{t+1} = A x_t + B u_t + w_t and the
    quadratic critic q = -(z^T H z + c) (dropped if critic_params is None). A finite sum over the
    Gaussian state moments m_t, S_t; jax.grad of it is the exact gradient of every estimator.
    """
    n = check_unroll_depth(n)
    return lqr_objectives_by_depth(lqr, params, n, start_mean, start_cov, critic_params, stochastic)[n]


def lqr_objectives_by_depth(lqr, params, max_depth, start_mean, start_cov, critic_params=None, stochastic=True):
    """[J_0, ..., J_N] of `lqr_n_step_objective` for every depth n = 0..N = max_depth in one pass."""
    return _lqr_objectives_by_depth(
        lqr, params, check_unroll_depth(max_depth), start_mean, start_cov, critic_params, bool(stochastic)
    )


@functools.partial(jax.jit, static_argnums=(2, 6))
def _lqr_objectives_by_depth(lqr, params, max_depth, start_mean, start_cov, critic_params, stochastic):
    K = params["gain"]
    sigma2 = jnp.exp(2 * params["log_std"]) if stochastic else jnp.zeros(K.shape[0])
    closed = lqr.A - lqr.B @ K
    noise = lqr.noise_cov + lqr.B @ jnp.diag(sigma2) @ lqr.B.T
    stage = lqr.Q + K.T @ lqr.R @ K
    quad = lambda M, mean, cov: mean @ M @ mean + jnp.trace(M @ cov)
    if critic_params is None:
        terminal = lambda mean, cov: jnp.zeros((), cov.dtype)
    else:
        H, c = critic_params
        state_size = K.shape[1]
        lift = jnp.concatenate([jnp.eye(state_size), -K])  # z = lift x + [0; sigma eps]
        action_block = H[state_size:, state_size:]
        terminal = lambda mean, cov: (
            -(quad(lift.T @ H @ lift, mean, cov) + jnp.sum(sigma2 * jnp.diag(action_block)) + c)
        )

    def step(carry, _):
        mean, cov, discount, total = carry
        objective = total + discount * terminal(mean, cov)  # J_t: t rewards, then the critic
        total = total - discount * (quad(stage, mean, cov) + jnp.sum(sigma2 * jnp.diag(lqr.R)))
        return (closed @ mean, closed @ cov @ closed.T + noise, discount * lqr.gamma, total), objective

    dtype = jnp.result_type(closed, noise)
    init = (jnp.asarray(start_mean, dtype), jnp.asarray(start_cov, dtype), jnp.ones((), dtype), jnp.zeros((), dtype))
    (mean, cov, discount, total), objectives = jax.lax.scan(step, init, None, max_depth)
    return jnp.append(objectives, total + discount * terminal(mean, cov))


@functools.partial(jax.jit, static_argnames="stochastic")
def lqr_expected_return(lqr, params, start_mean, start_cov, stochastic=True):
    """Exact E[sum_t gamma^t r] of u = -K x (+ sigma eps) from x_0 ~ N(start_mean, start_cov), via P_K."""
    K = params["gain"]
    sigma2 = jnp.exp(2 * params["log_std"]) if stochastic else jnp.zeros(K.shape[0])
    P = linear_policy_cost_matrix(lqr, K)
    noise = lqr.noise_cov + lqr.B @ jnp.diag(sigma2) @ lqr.B.T
    constant = (jnp.sum(sigma2 * jnp.diag(lqr.R)) + lqr.gamma * jnp.trace(P @ noise)) / (1 - lqr.gamma)
    return -(start_mean @ P @ start_mean + jnp.trace(P @ start_cov) + constant)
