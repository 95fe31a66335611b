"""A Gaussian fitted to a Boltzmann target in one dimension (section 22.3): a two-peaked q, the target's
density and normalizer on a grid, and the exact KL of a fit. The fit itself (Adam on the reparameterized
loss) is `lib.parts.boltzmann_fit.fit_gaussian_to_boltzmann`, which chapter 25 uses too."""

import jax
import jax.numpy as jnp

from lib.parts.distributions import gaussian_entropy
from lib.algorithms.soft.smooth_bellman import check_temperature


# ------------------------------------------------------- a Gaussian fit to a Boltzmann target


def multimodal_q(action):
    """A 1-D q with two peaks: log of 0.6 N(-1, 0.35^2) + 0.4 N(1.3, 0.5^2) (+ a constant).

    At beta = 1 its Boltzmann distribution is exactly that two-component mixture. The log is taken
    in log space, with no floor: a floor would make exp(q/beta) integrate to infinity over R.
    """
    norm = jax.scipy.stats.norm
    return jnp.logaddexp(jnp.log(0.6) + norm.logpdf(action, -1.0, 0.35), jnp.log(0.4) + norm.logpdf(action, 1.3, 0.5))


def boltzmann_log_normalizer(q_fn, temperature, grid):
    """log Z = log of the integral of exp(q/beta), by a Riemann sum on a uniform `grid`.

    The grid must cover the target's mass (for multimodal_q, [-30, 30] covers beta <= 10)."""
    check_temperature(temperature)
    return jax.nn.logsumexp(q_fn(grid) / temperature) + jnp.log(grid[1] - grid[0])


def boltzmann_density(q_fn, temperature, actions, grid):
    """exp(q(a)/beta) / Z at `actions`, with Z integrated over the (wider) uniform `grid`."""
    return jnp.exp(q_fn(actions) / temperature - boltzmann_log_normalizer(q_fn, temperature, grid))


_STANDARD_NODES = jnp.linspace(-10.0, 10.0, 2001)  # z of a = mean + sigma z: follows the Gaussian anywhere


def kl_gaussian_to_boltzmann(mean, log_std, q_fn, temperature, grid):
    """KL(N(mean, sigma^2) || exp(q/beta)/Z), the exact objective of the fit, never negative.

    KL = -H(N) - E_N[q]/beta + log Z, with H = log(2 pi e)/2 + log sigma exact, E_N[q] by the trapezoid
    rule in standardized coordinates (so no Gaussian mass is lost off a grid), and log Z on `grid`,
    which must cover the target's mass."""
    actions = mean + jnp.exp(log_std) * _STANDARD_NODES
    weights = jax.scipy.stats.norm.pdf(_STANDARD_NODES)
    expected_q = jnp.trapezoid(weights * q_fn(actions), _STANDARD_NODES)
    entropy = gaussian_entropy(jnp.expand_dims(log_std, -1))
    return -entropy - expected_q / temperature + boltzmann_log_normalizer(q_fn, temperature, grid)
