"""The KL divergence as the distance between policies: KL between Gaussian or categorical policies
(`lib.parts.distributions.gaussian_kl`, `categorical_kl`, re-exported by `lib.algorithms.trust_region`), its Fisher form,
Fisher-vector products by automatic differentiation, and conjugate gradient."""

import jax
import jax.numpy as jnp

from lib.core.config import check_positive_int, check_range, concrete
from lib.parts.distributions import categorical_kl, gaussian_kl  # noqa: F401 (re-exported as lib.algorithms.trust_region.*_kl)


# ================================================================ 2. KL, Fisher, conjugate gradient


def categorical_fisher(logits):
    """Fisher information of a categorical with respect to its logits: diag(p) - p p^T."""
    p = jax.nn.softmax(logits)
    return jnp.diag(p) - jnp.outer(p, p)


def gaussian_fisher(log_std):
    """Fisher information of a diagonal Gaussian with respect to (mean, log_std): diag(1/sigma^2, 2)."""
    return jnp.diag(jnp.concatenate([jnp.exp(-2.0 * log_std), 2.0 * jnp.ones_like(log_std)]))


def fisher_quadratic_form(fisher, delta):
    """1/2 d^T I(theta_k) d: the second-order approximation of KL(p(theta_k + d) || p(theta_k))."""
    return 0.5 * delta @ fisher @ delta


def fisher_vector_product(mean_kl, params, vector, damping=0.0):
    """I(theta_k) v + damping v without forming I: the Hessian-vector product of the mean KL at theta_k.

    `mean_kl(theta)` must be KL(pi_{theta_k} || pi_theta) averaged over states, with theta_k held
    fixed, evaluated here at theta = params = theta_k: its gradient vanishes there and its Hessian is
    the Fisher matrix. Pearlmutter's trick: the jvp of the gradient in the direction v.
    """
    check_range("damping", damping, 0.0)
    return jax.jvp(jax.grad(mean_kl), (params,), (vector,))[1] + damping * vector


def conjugate_gradient(matvec, b, num_iterations=10):
    """Solve A x = b for symmetric positive-definite A given only v -> A v, in a fixed number of steps.

    Exact (in exact arithmetic) after n iterations for an n x n system; fewer give the usual
    truncated solution. Steps with a vanishing residual leave x unchanged (no division by zero).
    A is refused where it is not positive definite: a search direction with d^T A d <= 0 stops the
    iteration. Called with concrete values that raises a ValueError; under jit (no value to raise on)
    the iterate reached before that direction is returned, as Steihaug's method does.
    """
    check_positive_int("num_iterations", num_iterations)
    x, refused = _conjugate_gradient(matvec, b, num_iterations)
    refused = concrete(refused)
    if refused is not None and bool(refused):
        raise ValueError(
            "matvec must be a symmetric positive-definite matrix: conjugate_gradient met a direction d "
            "with d^T A d <= 0 (add damping, or use steihaug_cg for an indefinite model)"
        )
    return x


def _conjugate_gradient(matvec, b, num_iterations):
    """(x, refused): CG's iterate and whether a direction of non-positive curvature stopped it."""

    def body(_, carry):
        x, r, d, rr, refused = carry
        ad = matvec(d)
        curvature = d @ ad
        refused = refused | ((rr > 1e-30) & (curvature <= 0))
        live = (rr > 1e-30) & ~refused
        alpha = jnp.where(live, rr / jnp.where(live, curvature, 1.0), 0.0)
        x = x + alpha * d
        r = r - alpha * ad
        rr_next = r @ r
        d = r + jnp.where(live, rr_next / jnp.where(live, rr, 1.0), 0.0) * d
        return x, r, d, rr_next, refused

    x0 = jnp.zeros_like(b)
    x, _, _, _, refused = jax.lax.fori_loop(0, num_iterations, body, (x0, b, b, b @ b, jnp.array(False)))
    return x, refused
