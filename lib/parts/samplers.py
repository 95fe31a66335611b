"""Reparameterized samplers (chapter 23.2.1): x = g(noise, parameters), differentiable in the parameters.

Each sampler comes as a pure transform of explicit noise (`*_from_uniform`, or a Gumbel noise
array) plus a convenience `sample_*` that draws that noise from a PRNG key. Parameters are
checked when they are concrete (ValueError naming the parameter); inside `jax.grad` or
`jax.jit` they are tracers and the check is skipped, so the transforms stay differentiable.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import log_ndtr, ndtr, ndtri

from lib.core.config import check_positive, concrete
from lib.parts.distributions import gaussian_log_prob


def _check_positive(name, value):
    """ValueError naming `name` unless every entry of value is > 0."""
    arr = concrete(value)
    if arr is not None:
        check_positive(name, float(np.min(arr)))  # np.min propagates NaN, which is rejected


def _check_interval(a, b):
    """ValueError unless a < b entrywise."""
    lo, hi = concrete(a), concrete(b)
    if lo is not None and hi is not None and not np.all(lo < hi):
        raise ValueError(f"a must be < b for the interval [a, b], got a={a}, b={b}")


def uniform_noise(key, shape=()):
    """u ~ Uniform(tiny, 1): never exactly 0, so log(u) and log(-log(u)) stay finite."""
    return jax.random.uniform(key, shape, minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)


# --- Multivariate normal x = mu + L eps (change of variables) -----------------------------------


def multivariate_normal_from_noise(eps, mu, scale_tril):
    """x = mu + L eps with eps ~ N(0, I): a sample of N(mu, L L^T), differentiable in mu and L.

    `scale_tril` is L, the lower-triangular Cholesky factor of the covariance Sigma = L L^T (the
    book's Sigma^{1/2}); `eps` holds standard normals in its last axis. Only L's lower triangle
    is used, so a gradient with respect to L is zero above the diagonal.
    """
    return mu + eps @ jnp.tril(scale_tril).T


def multivariate_normal_log_density(x, mu, scale_tril):
    """log p(x) by the change of variables: log q(eps) - log |det L|, eps = L^{-1} (x - mu), q = N(0, I).

    The density of `multivariate_normal_from_noise`'s output: the sampler's inverse maps x back to
    its noise, and the Jacobian determinant of x = mu + L eps is det L, the product of L's diagonal.
    """
    scale_tril = jnp.tril(scale_tril)
    _check_positive("the diagonal of scale_tril", jnp.diagonal(scale_tril))
    eps = solve_triangular(scale_tril, jnp.moveaxis(x - mu, -1, 0), lower=True)
    log_q = -0.5 * jnp.sum(eps**2, axis=0) - 0.5 * eps.shape[0] * jnp.log(2.0 * jnp.pi)
    return log_q - jnp.sum(jnp.log(jnp.diagonal(scale_tril)))


# --- Truncated normal on [a, b] (inverse CDF) -------------------------------------------------


def truncated_normal_from_uniform(u, mu, sigma, a, b):
    """x = mu + sigma Phi^{-1}(Phi(alpha) + u (Phi(beta) - Phi(alpha))), alpha, beta = (a, b) standardized.

    The book's inverse-CDF reparameterization of N(mu, sigma^2) restricted to [a, b], with
    Phi the standard normal CDF (`ndtr`) and Phi^{-1} its quantile (`ndtri`). An interval in the
    right tail is mapped to its mirror image in the left tail, where Phi keeps its precision.
    Differentiable in mu, sigma, a and b.
    """
    _check_positive("sigma", sigma)
    _check_interval(a, b)
    return _truncated_normal_transform(u, mu, sigma, a, b)


@jax.jit
def _truncated_normal_transform(u, mu, sigma, a, b):
    alpha, beta = (a - mu) / sigma, (b - mu) / sigma
    flip = alpha > 0  # whole interval right of the mean: sample -z on [-beta, -alpha]
    lo, hi = jnp.where(flip, -beta, alpha), jnp.where(flip, -alpha, beta)
    cdf_lo, cdf_hi = ndtr(lo), ndtr(hi)
    z = jnp.clip(ndtri(cdf_lo + u * (cdf_hi - cdf_lo)), lo, hi)
    return mu + sigma * jnp.where(flip, -z, z)


def sample_truncated_normal(key, mu, sigma, a, b, shape=()):
    """Draw truncated-normal samples of the given shape with explicit key."""
    return truncated_normal_from_uniform(uniform_noise(key, shape), mu, sigma, a, b)


def truncated_normal_log_density(x, mu, sigma, a, b):
    """log of phi((x - mu)/sigma) / (sigma (Phi(beta) - Phi(alpha))) on [a, b]; -inf outside."""
    _check_positive("sigma", sigma)
    _check_interval(a, b)
    return _truncated_normal_log_density(x, mu, sigma, a, b)


@jax.jit
def _truncated_normal_log_density(x, mu, sigma, a, b):
    alpha, beta = (a - mu) / sigma, (b - mu) / sigma
    # The mass Phi(beta) - Phi(alpha), in log space and mirrored into the left tail as the sampler
    # does: in the right tail both CDFs round to 1 in float32 and their difference to 0.
    flip = alpha > 0
    log_lo, log_hi = log_ndtr(jnp.where(flip, -beta, alpha)), log_ndtr(jnp.where(flip, -alpha, beta))
    log_mass = log_hi + jnp.log1p(-jnp.exp(log_lo - log_hi))
    normal = gaussian_log_prob(jnp.expand_dims(mu, -1), jnp.expand_dims(jnp.log(sigma), -1), jnp.expand_dims(x, -1))
    log_p = normal - log_mass
    return jnp.where((x >= a) & (x <= b), log_p, -jnp.inf)


# --- Kumaraswamy(alpha, beta) on [0, 1] --------------------------------------------------------


def kumaraswamy_from_uniform(u, alpha, beta):
    """x = (1 - (1 - u)^(1/beta))^(1/alpha), the inverse of the CDF F(x) = 1 - (1 - x^alpha)^beta.

    Solving u = F(x): (1 - x^alpha)^beta = 1 - u, so x^alpha = 1 - (1 - u)^(1/beta). Written with
    log1p/expm1 so that u near 0 or 1 keeps its precision. Differentiable in alpha and beta.
    """
    _check_positive("alpha", alpha)
    _check_positive("beta", beta)
    return _kumaraswamy_transform(u, alpha, beta)


@jax.jit
def _kumaraswamy_transform(u, alpha, beta):
    x_pow_alpha = -jnp.expm1(jnp.log1p(-u) / beta)
    return jnp.exp(jnp.log(x_pow_alpha) / alpha)


def sample_kumaraswamy(key, alpha, beta, shape=()):
    """Draw Kumaraswamy(alpha, beta) samples of the given shape with explicit key."""
    return kumaraswamy_from_uniform(uniform_noise(key, shape), alpha, beta)


def kumaraswamy_log_density(x, alpha, beta):
    """log f(x; alpha, beta) = log(alpha beta) + (alpha - 1) log x + (beta - 1) log(1 - x^alpha)."""
    _check_positive("alpha", alpha)
    _check_positive("beta", beta)
    return _kumaraswamy_log_density(x, alpha, beta)


@jax.jit
def _kumaraswamy_log_density(x, alpha, beta):
    log_x = jnp.log(x)
    log_one_minus_x_pow_alpha = jnp.log(-jnp.expm1(alpha * log_x))  # log(1 - x^alpha), accurately
    return jnp.log(alpha * beta) + (alpha - 1.0) * log_x + (beta - 1.0) * log_one_minus_x_pow_alpha


# --- Gumbel noise, Gumbel-max and Gumbel-softmax ----------------------------------------------


def gumbel_from_uniform(u):
    """g = -log(-log u): Gumbel(0, 1) noise from u ~ Uniform(0, 1)."""
    return -jnp.log(-jnp.log(u))


def sample_gumbel(key, shape=()):
    """Draw Gumbel(0, 1) noise of the given shape with explicit key."""
    return gumbel_from_uniform(uniform_noise(key, shape))


def gumbel_max(logits, gumbel):
    """argmax_i (log pi_i + g_i) over the last axis: an exact sample of Categorical(pi).

    `logits` are log pi up to an additive constant (the argmax does not see it); `gumbel`
    is Gumbel(0, 1) noise whose last axis matches the categories. Not differentiable.
    """
    return jnp.argmax(logits + gumbel, axis=-1)


def gumbel_softmax(logits, gumbel, temperature):
    """z_i = exp((log pi_i + g_i)/tau) / sum_j exp((log pi_j + g_j)/tau), over the last axis.

    The Gumbel-softmax (Concrete) relaxation of `gumbel_max` with temperature tau > 0: z lies on
    the probability simplex, its argmax is the Gumbel-max category, and it tends to that
    one-hot vector as tau -> 0. Differentiable in the logits (and in tau).
    """
    _check_positive("temperature", temperature)
    return _gumbel_softmax(logits, gumbel, temperature)


@jax.jit
def _gumbel_softmax(logits, gumbel, temperature):
    return jax.nn.softmax((logits + gumbel) / temperature, axis=-1)
