"""The discounted linear-quadratic regulator and its exact solution.

Dynamics x' = A x + B u + w with w ~ N(0, Sigma); reward r(x, u) = -(x^T Q x + u^T R u); discount
gamma. The optimal value is v*(x) = -(x^T P x + c) where P solves the discounted Riccati equation

    P = Q + gamma A^T P A - gamma^2 A^T P B (R + gamma B^T P B)^{-1} B^T P A,

the optimal policy is linear, u = -K x with K = gamma (R + gamma B^T P B)^{-1} B^T P A, and
q*(x, u) = r(x, u) + gamma E[v*(x')]. Chapters 20, 21 and 25 check their answers against these.

Every quadratic here has one sign convention, the one of v*: a value is minus a quadratic form plus a
constant, q(x, u) = -(z^T H z + c) with z = (x, u) and H positive semidefinite. `optimal_q_matrix`
gives (H*, c*) of q*; for a linear Gaussian policy u = -K x + sigma eps, `policy_q_matrix` gives the
(H, c) of its q_K, `policy_expected_return` its exact return and `n_step_objective` /
`objectives_by_depth` the exact expectation of chapter 25's n-step objectives; `jax.grad` of these
closed forms is the exact gradient the estimators are tested against.

The pieces their learners share live here too: `lqr_base_points` (a fixed batch of transitions),
`quadratic_features` / `quadratic_q` (a critic class that holds q* exactly) and `linear_policy`.
"""

import operator
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lib.core.config import check_positive, check_positive_int, check_range, concrete
from lib.parts.replay import Transition


class LQR(NamedTuple):
    A: jax.Array
    B: jax.Array
    Q: jax.Array
    R: jax.Array
    gamma: float
    noise_cov: jax.Array  # Sigma, the covariance of the dynamics noise w


class RiccatiSolution(NamedTuple):
    P: jax.Array  # v*(x) = -(x^T P x + constant)
    K: jax.Array  # optimal action u = -K x
    constant: float  # gamma / (1 - gamma) tr(P Sigma), the price of the noise


def make_lqr(A, B, Q, R, gamma, noise_cov=None):
    """An LQR with checked shapes and discount."""
    A, B, Q, R = (jnp.atleast_2d(jnp.asarray(m, dtype=float)) for m in (A, B, Q, R))
    n, m = B.shape
    check_range("gamma", gamma, 0.0, 1.0, high_open=True)
    for name, matrix, shape in (("A", A, (n, n)), ("Q", Q, (n, n)), ("R", R, (m, m))):
        if matrix.shape != shape:
            raise ValueError(f"{name} must have shape {shape} to match B {B.shape}, got {matrix.shape}")
    noise_cov = jnp.zeros((n, n)) if noise_cov is None else jnp.atleast_2d(jnp.asarray(noise_cov, float))
    if noise_cov.shape != (n, n):
        raise ValueError(f"noise_cov must have shape {(n, n)}, got {noise_cov.shape}")
    for name, matrix in (("A", A), ("B", B), ("Q", Q), ("R", R), ("noise_cov", noise_cov)):
        values = concrete(matrix)
        if values is not None and not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must have finite entries, got {values.tolist()}")
    _check_semidefinite("Q", Q)
    _check_semidefinite("R", R, strict=True)
    _check_semidefinite("noise_cov", noise_cov)
    return LQR(A, B, Q, R, gamma, noise_cov)


def _check_semidefinite(name, matrix, strict=False):
    """Raise ValueError unless a concrete `matrix` is symmetric positive semidefinite (definite if strict)."""
    matrix = concrete(matrix)
    if matrix is None:
        return
    scale = 1.0 + np.max(np.abs(matrix))
    if not np.allclose(matrix, matrix.T, atol=1e-6 * scale):
        raise ValueError(f"{name} must be symmetric, got {matrix.tolist()}")
    smallest = float(np.min(np.linalg.eigvalsh(0.5 * (matrix + matrix.T))))
    if smallest <= 0.0 if strict else smallest < -1e-9 * scale:
        kind = "definite" if strict else "semidefinite"
        raise ValueError(f"{name} must be positive {kind}; its smallest eigenvalue is {smallest:.3g}")


def double_integrator(dt=0.1, gamma=0.95, control_cost=0.1, noise_std=0.0):
    """A cart on a line: state (position, velocity), action a force; the chapters' default LQR."""
    check_positive("dt", dt)
    check_positive("control_cost", control_cost)
    check_range("noise_std", noise_std, 0.0)
    A = [[1.0, dt], [0.0, 1.0]]
    B = [[0.0], [dt]]
    return make_lqr(A, B, jnp.eye(2), control_cost * jnp.eye(1), gamma, noise_std**2 * jnp.eye(2))


def optimal_gain(lqr, P):
    """K = gamma (R + gamma B^T P B)^{-1} B^T P A."""
    return lqr.gamma * jnp.linalg.solve(lqr.R + lqr.gamma * lqr.B.T @ P @ lqr.B, lqr.B.T @ P @ lqr.A)


def riccati_step(lqr, P):
    """One application of the discounted Riccati map (value iteration on v(x) = -x^T P x)."""
    K = optimal_gain(lqr, P)
    closed_loop = lqr.A - lqr.B @ K
    return lqr.Q + K.T @ lqr.R @ K + lqr.gamma * closed_loop.T @ P @ closed_loop


def solve_riccati(lqr, tol=1e-10, max_iterations=100_000):
    """Iterate the Riccati map from P = Q to its fixed point; return P, K and the noise constant."""

    def not_converged(carry):
        P, previous, iteration = carry
        return (jnp.max(jnp.abs(P - previous)) > tol * (1 + jnp.max(jnp.abs(P)))) & (iteration < max_iterations)

    def iterate(carry):
        P, _, iteration = carry
        return riccati_step(lqr, P), P, iteration + 1

    P, _, iterations = jax.lax.while_loop(not_converged, iterate, (riccati_step(lqr, lqr.Q), lqr.Q, 1))
    if not isinstance(P, jax.core.Tracer):
        if not np.all(np.isfinite(np.asarray(P))):
            raise ValueError(
                "the Riccati iteration diverged (P is not finite): (A, B) is not stabilizable "
                "at this discount, so no policy has a finite cost"
            )
        if int(iterations) >= max_iterations:
            raise ValueError(f"the Riccati iteration did not reach tol={tol:g} in max_iterations={max_iterations}")
    P = 0.5 * (P + P.T)
    constant = lqr.gamma / (1 - lqr.gamma) * jnp.trace(P @ lqr.noise_cov)
    return RiccatiSolution(P, optimal_gain(lqr, P), constant)


def reward(lqr, x, u):
    """r(x, u) = -(x^T Q x + u^T R u)."""
    return -(x @ lqr.Q @ x + u @ lqr.R @ u)


def lqr_step(lqr, x, u, key=None):
    """x' = A x + B u + w; pass a key to draw the noise w ~ N(0, Sigma)."""
    mean = lqr.A @ x + lqr.B @ u
    if key is None:
        return mean
    return mean + jnp.linalg.cholesky(lqr.noise_cov + 1e-12 * jnp.eye(x.shape[0])) @ jax.random.normal(key, x.shape)


def optimal_value(lqr, solution, x):
    """v*(x) = -(x^T P x + constant)."""
    return -(x @ solution.P @ x + solution.constant)


def optimal_q(lqr, solution, x, u):
    """q*(x, u) = r(x, u) + gamma E[v*(A x + B u + w)]."""
    mean_next = lqr.A @ x + lqr.B @ u
    expected_next_value = -(
        mean_next @ solution.P @ mean_next + jnp.trace(solution.P @ lqr.noise_cov) + solution.constant
    )
    return reward(lqr, x, u) + lqr.gamma * expected_next_value


def linear_policy(w, s):
    """d(s; w) = w s, so the gain of u = -K x is K = -w."""
    return s @ w.T


def quadratic_features(x, u):
    """phi(x, u): 1 and every product z_i z_j (i <= j) of z = (x, u), so that phi . theta is any
    quadratic in (x, u) without linear terms (the class of q*); batched over leading axes."""
    z = jnp.concatenate([x, u], axis=-1)
    rows, cols = jnp.triu_indices(z.shape[-1])
    return jnp.concatenate([jnp.ones(z.shape[:-1] + (1,), z.dtype), z[..., rows] * z[..., cols]], axis=-1)


def quadratic_q(theta, x, u):
    """q(x, u; theta) = phi(x, u) . theta with the quadratic features above."""
    return quadratic_features(x, u) @ theta


def lqr_base_points(problem, key, num_points, state_scale=1.0, action_scale=3.0):
    """A fixed batch B of LQR transitions: x ~ U[-state_scale, state_scale]^n, u ~ U[-action_scale,
    action_scale]^m, r = r(x, u), x' = A x + B u + w (one noise draw per point; none if Sigma = 0)."""
    check_positive_int("num_points", num_points)
    check_positive("state_scale", state_scale)
    check_positive("action_scale", action_scale)
    noisy = bool(np.any(np.asarray(problem.noise_cov) != 0))  # NumPy: a trainer calls this inside jit
    return _lqr_transitions(problem, key, num_points, state_scale, action_scale, noisy)


@partial(jax.jit, static_argnames=("num_points", "noisy"))
def _lqr_transitions(problem, key, num_points, state_scale, action_scale, noisy):
    n, m = problem.B.shape
    key_x, key_u, key_w = jax.random.split(key, 3)
    x = jax.random.uniform(key_x, (num_points, n), minval=-state_scale, maxval=state_scale)
    u = jax.random.uniform(key_u, (num_points, m), minval=-action_scale, maxval=action_scale)
    r = jax.vmap(lambda x, u: reward(problem, x, u))(x, u)
    keys = jax.random.split(key_w, num_points)
    next_x = jax.vmap(lambda x, u, k: lqr_step(problem, x, u, k if noisy else None))(x, u, keys)
    return Transition(x, u, r, next_x, jnp.zeros((num_points,), bool))


def closed_loop_radius(lqr, gain):
    """The spectral radius of sqrt(gamma) (A - B K): the policy u = -K x has a finite cost iff it is < 1."""
    closed_loop = jnp.sqrt(lqr.gamma) * (lqr.A - lqr.B @ gain)
    return jnp.max(jnp.abs(jnp.linalg.eigvals(jax.lax.stop_gradient(closed_loop))))


def linear_policy_cost_matrix(lqr, gain):
    """P_K with v_K(x) = -(x^T P_K x + const) for the policy u = -K x (a discounted Lyapunov solve).

    Every entry is +inf when sqrt(gamma)(A - B K) is not stable: the discounted cost diverges, and
    the linear system below would return a finite matrix that means nothing.
    """
    closed_loop = jnp.sqrt(lqr.gamma) * (lqr.A - lqr.B @ gain)
    n = lqr.A.shape[0]
    stage = lqr.Q + gain.T @ lqr.R @ gain
    # vec(P) = (I - C^T kron C^T)^{-1} vec(stage), valid when sqrt(gamma)(A - B K) is stable.
    system = jnp.eye(n * n) - jnp.kron(closed_loop.T, closed_loop.T)
    P = jnp.linalg.solve(system, stage.reshape(-1)).reshape(n, n)
    return jnp.where(closed_loop_radius(lqr, gain) < 1.0, P, jnp.inf)


# ------------------------------------------------------------------ the ground truth as matrices
def optimal_q_matrix(lqr, solution):
    """(H*, c*) with q*(x, u) = -(z^T H* z + c*), z = (x, u): H* = diag(Q, R) + gamma [A B]^T P [A B]."""
    AB = jnp.concatenate([lqr.A, lqr.B], axis=1)
    n, m = lqr.B.shape
    cost = jnp.zeros((n + m, n + m)).at[:n, :n].set(lqr.Q).at[n:, n:].set(lqr.R)
    H = cost + lqr.gamma * AB.T @ solution.P @ AB
    c = lqr.gamma * (jnp.trace(solution.P @ lqr.noise_cov) + solution.constant)
    return H, c


def _policy_noise(lqr, params, stochastic=True):
    """(K, sigma^2, Sigma + B diag(sigma^2) B^T) of u = -K x + sigma eps: the exploration noise enters the
    dynamics through B, beside the dynamics noise Sigma (sigma = 0 if not stochastic)."""
    K = params["gain"]
    sigma2 = jnp.exp(2 * params["log_std"]) if stochastic else jnp.zeros(K.shape[0])
    return K, sigma2, lqr.noise_cov + lqr.B @ jnp.diag(sigma2) @ lqr.B.T


def _policy_value_constant(lqr, P, sigma2, noise):
    """c_K with v_K(x) = -(x^T P_K x + c_K): the cost of the action noise and of the state noise, forever."""
    return (jnp.sum(sigma2 * jnp.diag(lqr.R)) + lqr.gamma * jnp.trace(P @ noise)) / (1 - lqr.gamma)


@jax.jit
def policy_q_matrix(lqr, params):
    """(H, c) with q_K(x, u) = -(z^T H z + c) for the policy u = -K x + sigma eps, params = {"gain": K,
    "log_std": log sigma}: H = diag(Q, R) + gamma [A B]^T P_K [A B] (P_K from `linear_policy_cost_matrix`)."""
    K, sigma2, noise = _policy_noise(lqr, params)
    P = linear_policy_cost_matrix(lqr, K)
    AB = jnp.concatenate([lqr.A, lqr.B], axis=1)
    H = jax.scipy.linalg.block_diag(lqr.Q, lqr.R) + lqr.gamma * AB.T @ P @ AB
    c = lqr.gamma * (jnp.trace(P @ lqr.noise_cov) + _policy_value_constant(lqr, P, sigma2, noise))
    return H, c


@partial(jax.jit, static_argnames="stochastic")
def policy_expected_return(lqr, params, start_mean, start_cov, stochastic=True):
    """Exact E[sum_t gamma^t r] of u = -K x (+ sigma eps) from x_0 ~ N(start_mean, start_cov), via P_K."""
    K, sigma2, noise = _policy_noise(lqr, params, stochastic)
    P = linear_policy_cost_matrix(lqr, K)
    constant = _policy_value_constant(lqr, P, sigma2, noise)
    return -(start_mean @ P @ start_mean + jnp.trace(P @ start_cov) + constant)


def check_unroll_depth(n):
    """The unroll depth n as an int; ValueError unless it is a non-negative integer."""
    try:
        if isinstance(n, bool):
            raise TypeError
        depth = operator.index(n)
    except TypeError:
        raise ValueError(f"n (the unroll depth) must be a non-negative integer, got {n!r}") from None
    if depth < 0:
        raise ValueError(f"n (the unroll depth) must be a non-negative integer, got {n}")
    return depth


def n_step_objective(lqr, params, n, start_mean, start_cov, critic_params=None, stochastic=True):
    """Exact E[sum_{t<n} gamma^t r(x_t, u_t) + gamma^n q(x_n, u_n)] for u = -K x (+ sigma eps if
    stochastic) from x_0 ~ N(start_mean, start_cov), with x_{t+1} = A x_t + B u_t + w_t and the
    quadratic critic q = -(z^T H z + c) of critic_params = (H, c) (dropped if None). A finite sum over
    the Gaussian state moments m_t, S_t; jax.grad of it is the exact gradient of every estimator.
    """
    n = check_unroll_depth(n)
    return objectives_by_depth(lqr, params, n, start_mean, start_cov, critic_params, stochastic)[n]


def objectives_by_depth(lqr, params, max_depth, start_mean, start_cov, critic_params=None, stochastic=True):
    """[J_0, ..., J_N] of `n_step_objective` for every depth n = 0..N = max_depth in one pass."""
    return _objectives_by_depth(
        lqr, params, check_unroll_depth(max_depth), start_mean, start_cov, critic_params, bool(stochastic)
    )


@partial(jax.jit, static_argnums=(2, 6))
def _objectives_by_depth(lqr, params, max_depth, start_mean, start_cov, critic_params, stochastic):
    K, sigma2, noise = _policy_noise(lqr, params, stochastic)
    closed = lqr.A - lqr.B @ K
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
