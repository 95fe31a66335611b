"""The trust-region loop in Euclidean space: the quadratic model m_k, its subproblem solved by the Cauchy
point or Steihaug's truncated conjugate gradient, and the radius update driven by rho_k."""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg

from lib.core.config import check_positive, check_positive_int, check_range


# ================================================================ 1. the trust-region loop


def rosenbrock(x):
    """f(x) = (1 - x_1)^2 + 100 (x_2 - x_1^2)^2, minimized at (1, 1) where f = 0."""
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


@dataclass(frozen=True)
class TrustRegionConfig:
    """The knobs of the trust-region loop (the book's symbols).

    eta_1, eta_2: thresholds on rho_k, 0 < eta_1 < eta_2 < 1. rho_k < eta_1 is a poor prediction
        (the step is rejected and the radius shrinks), rho_k >= eta_2 a very good one (it grows).
    alpha_1: shrink factor, 0 < alpha_1 < 1.  alpha_2: growth factor, alpha_2 > 1.
    initial_radius: Delta_0 > 0.  max_radius: a cap on Delta_k (>= Delta_0), so that a run of very
        good steps cannot grow the region without bound.
    num_iterations: a fixed number of iterations (the loop is a scan; converged iterations propose
        p = 0 and change nothing).
    solver: "steihaug" (truncated conjugate gradient on the model, follows negative curvature to
        the boundary) or "cauchy" (the model's minimizer along -g_k inside the region).
    """

    eta_1: float = 0.25
    eta_2: float = 0.75
    alpha_1: float = 0.25
    alpha_2: float = 2.0
    initial_radius: float = 1.0
    max_radius: float = 10.0
    num_iterations: int = 50
    solver: str = "steihaug"

    def __post_init__(self):
        check_range("eta_1", self.eta_1, 0.0, 1.0, low_open=True, high_open=True)
        check_range("eta_2", self.eta_2, self.eta_1, 1.0, low_open=True, high_open=True)
        check_range("alpha_1", self.alpha_1, 0.0, 1.0, low_open=True, high_open=True)
        check_range("alpha_2", self.alpha_2, 1.0, low_open=True)
        check_positive("initial_radius", self.initial_radius)
        check_range("max_radius", self.max_radius, self.initial_radius)
        check_positive_int("num_iterations", self.num_iterations)
        if self.solver not in ("steihaug", "cauchy"):
            raise ValueError(f"solver must be 'steihaug' or 'cauchy', got {self.solver!r}")


class TrustRegionTrace(NamedTuple):
    """The recorded run: K = num_iterations iterations."""

    iterates: jax.Array  # [K + 1, n] x_0 ... x_K
    values: jax.Array  # [K + 1] f(x_k)
    radii: jax.Array  # [K + 1] Delta_0 ... Delta_K
    steps: jax.Array  # [K, n] the proposed step p_k (accepted or not)
    rho: jax.Array  # [K] actual / predicted reduction
    accepted: jax.Array  # [K] bool


def quadratic_model(f, x):
    """(f(x), g, B): value, gradient and exact Hessian, the ingredients of m_k(p)."""
    value, gradient = jax.value_and_grad(f)(x)
    return value, gradient, jax.hessian(f)(x)


def model_decrease(gradient, hessian, step):
    """m_k(0) - m_k(p) = -(g^T p + 1/2 p^T B p), the reduction the model predicts."""
    return -(gradient @ step + 0.5 * step @ hessian @ step)


def cauchy_point(gradient, hessian, radius):
    """The minimizer of m_k along -g inside ||p|| <= Delta: p = -tau Delta g / ||g||."""
    norm = jnp.linalg.norm(gradient)
    curvature = gradient @ hessian @ gradient
    tau = jnp.where(curvature > 0, jnp.minimum(1.0, norm**3 / (radius * jnp.maximum(curvature, 1e-30))), 1.0)
    return jnp.where(norm > 0, -tau * radius * gradient / jnp.maximum(norm, 1e-30), jnp.zeros_like(gradient))


def _to_boundary(z, d, radius):
    """The tau >= 0 with ||z + tau d|| = radius (z inside the region)."""
    a, b, c = d @ d, 2.0 * z @ d, z @ z - radius**2
    a = jnp.maximum(a, 1e-30)
    return (-b + jnp.sqrt(jnp.maximum(b * b - 4.0 * a * c, 0.0))) / (2.0 * a)


def steihaug_cg(gradient, hessian, radius, tolerance=1e-10):
    """Approximate min m_k(p) s.t. ||p|| <= Delta by conjugate gradient on B p = -g, stopped early.

    CG from p = 0 runs until the residual is below `tolerance`, or leaves the region (the step is
    cut at the boundary), or meets a direction of non-positive curvature d^T B d <= 0 (followed to
    the boundary). At most 2n iterations; the first iterate is the Cauchy point.
    """
    n = gradient.shape[0]

    def cond(carry):
        j, _, _, _, done = carry
        return jnp.logical_and(j < 2 * n, jnp.logical_not(done))

    def body(carry):
        j, z, r, d, _ = carry
        curvature = d @ hessian @ d
        rr = r @ r
        alpha = rr / jnp.where(curvature > 0, curvature, 1.0)
        z_next = z + alpha * d
        leaves = jnp.logical_or(curvature <= 0, jnp.linalg.norm(z_next) >= radius)
        z_boundary = z + _to_boundary(z, d, radius) * d
        r_next = r + alpha * (hessian @ d)
        beta = (r_next @ r_next) / jnp.maximum(rr, 1e-30)
        small = jnp.sqrt(r_next @ r_next) < tolerance
        z = jnp.where(leaves, z_boundary, z_next)
        return j + 1, z, r_next, -r_next + beta * d, jnp.logical_or(leaves, small)

    start_done = jnp.sqrt(gradient @ gradient) < tolerance
    init = (0, jnp.zeros_like(gradient), gradient, -gradient, start_done)
    return jax.lax.while_loop(cond, body, init)[1]


def _solve_in_kl_ball(solve, gradient, hessian, fisher, kl_bound):
    """The subproblem's step in the KL ball 1/2 p^T I p <= Delta (I = L L^T, Cholesky), by `solve`.

    In the coordinates q = L^T p the ball is the Euclidean ball ||q|| <= sqrt(2 Delta) and the model
    has gradient L^-1 g and Hessian L^-1 B L^-T; the solver's q maps back to p = L^-T q.
    """
    lower = jnp.linalg.cholesky(fisher)
    to_q = lambda m: jax.scipy.linalg.solve_triangular(lower, m, lower=True)  # L^-1 m
    scaled_hessian = to_q(to_q(hessian).T).T  # L^-1 B L^-T (B symmetric)
    q = solve(to_q(gradient), scaled_hessian, jnp.sqrt(2.0 * kl_bound))
    return jax.scipy.linalg.solve_triangular(lower.T, q, lower=False)


def trust_region_step(f, x, radius, eta_1, eta_2, alpha_1, alpha_2, max_radius, solver="steihaug", fisher=None):
    """One iteration: model, step, rho_k, acceptance, radius update. Returns (x, radius, p, rho, accepted).

    With `fisher` (a function x -> the Fisher matrix I(x), positive definite) the region is the KL ball
    of the book's second subproblem in its Fisher form, 1/2 p^T I(x_k) p <= Delta_k, and `radius` is
    that KL bound Delta_k; without it, the Euclidean ball ||p|| <= Delta_k.
    """
    value, gradient, hessian = quadratic_model(f, x)
    solve = steihaug_cg if solver == "steihaug" else cauchy_point
    if fisher is None:
        step = solve(gradient, hessian, radius)
    else:
        step = _solve_in_kl_ball(solve, gradient, hessian, fisher(x), radius)
    predicted = model_decrease(gradient, hessian, step)
    actual = value - f(x + step)
    # p = 0 (a stationary point) predicts and achieves nothing: count it as a perfect prediction.
    rho = jnp.where(predicted > 0, actual / jnp.where(predicted > 0, predicted, 1.0), 1.0)
    accepted = rho >= eta_1
    x = jnp.where(accepted, x + step, x)
    radius = jnp.where(rho < eta_1, alpha_1 * radius, jnp.where(rho >= eta_2, alpha_2 * radius, radius))
    return x, jnp.minimum(radius, max_radius), step, rho, accepted


def _trust_region_run(f, x0, knobs, num_iterations, solver, fisher):
    eta_1, eta_2, alpha_1, alpha_2, initial_radius, max_radius = knobs

    def iteration(carry, _):
        x, radius = carry
        x_next, radius_next, step, rho, accepted = trust_region_step(
            f, x, radius, eta_1, eta_2, alpha_1, alpha_2, max_radius, solver, fisher
        )
        return (x_next, radius_next), (x_next, f(x_next), radius_next, step, rho, accepted)

    radius0 = jnp.asarray(initial_radius, x0.dtype)
    _, (xs, fs, radii, steps, rho, accepted) = jax.lax.scan(iteration, (x0, radius0), None, num_iterations)
    return TrustRegionTrace(
        jnp.concatenate([x0[None], xs]),
        jnp.concatenate([f(x0)[None], fs]),
        jnp.concatenate([radius0[None], radii]),
        steps,
        rho,
        accepted,
    )


_trust_region_run_jit = jax.jit(_trust_region_run, static_argnames=("f", "num_iterations", "solver", "fisher"))


def trust_region_minimize(f, x0, config=TrustRegionConfig(), fisher=None):
    """Minimize f from x0 with the trust-region loop; returns the whole TrustRegionTrace.

    With `fisher` (a module-level function x -> I(x), the Fisher matrix of the distribution that x
    parametrizes) the regions are KL balls 1/2 p^T I(x_k) p <= Delta_k, and the config's radii
    (initial_radius, max_radius) and the trace's `radii` are KL bounds in nats.

    The thresholds, factors and radii enter the compiled loop as array values, so a new config with
    the same num_iterations and solver (a slider move) reuses the compiled code. `f` and
    `fisher` must be hashable functions (module-level defs), as they are static arguments.
    """
    if not isinstance(config, TrustRegionConfig):
        raise ValueError("config must be a TrustRegionConfig")
    x0 = jnp.asarray(x0)
    if x0.ndim != 1:
        raise ValueError(f"x0 must be a vector, got shape {x0.shape}")
    knobs = jnp.asarray(
        [config.eta_1, config.eta_2, config.alpha_1, config.alpha_2, config.initial_radius, config.max_radius], x0.dtype
    )
    return _trust_region_run_jit(f, x0, knobs, config.num_iterations, config.solver, fisher)
