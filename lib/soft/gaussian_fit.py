"""A Gaussian fitted to a Boltzmann target in one dimension (section 22.3): a two-peaked q, the target's
density and normalizer on a grid, the exact KL of the fit, and Adam on its reparameterized estimate."""

import jax
import jax.numpy as jnp
import optax

from lib.config import check_positive, check_positive_int
from lib.policies import gaussian_log_prob
from lib.soft.smooth_bellman import check_temperature


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
    entropy = 0.5 * jnp.log(2 * jnp.pi * jnp.e) + log_std
    return -entropy - expected_q / temperature + boltzmann_log_normalizer(q_fn, temperature, grid)


def reparameterized_kl_loss(mean, log_std, q_fn, temperature, eps):
    """Sample average of log d(a) - q(a)/beta at a = mean + sigma eps: KL up to the constant log Z."""
    actions = mean + jnp.exp(log_std) * eps
    return jnp.mean(gaussian_log_prob(mean, log_std, actions[:, None]) - q_fn(actions) / temperature)


def _fit_gaussian(q_fn, temperature, key, init, learning_rate, shape):
    num_adam_steps, num_samples = shape.shape
    optimizer = optax.adam(learning_rate)

    def step(carry, key):
        params, opt_state = carry
        eps = jax.random.normal(key, (num_samples,))
        loss, grads = jax.value_and_grad(lambda p: reparameterized_kl_loss(p[0], p[1], q_fn, temperature, eps))(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), (params, loss)

    (_, _), (path, losses) = jax.lax.scan(step, (init, optimizer.init(init)), jax.random.split(key, num_adam_steps))
    return jnp.concatenate([init[None], path]), losses


_fit_gaussian_jit = jax.jit(_fit_gaussian, static_argnums=0)


def fit_gaussian_to_boltzmann(
    q_fn, key, temperature, mean=0.0, log_std=0.0, num_adam_steps=400, num_samples=64, learning_rate=0.05
):
    """Minimize KL(N(mu, sigma^2) || exp(q/beta)/Z) over (mu, log sigma) by the reparameterization gradient.

    Each Adam step draws `num_samples` eps ~ N(0, 1), puts a = mu + sigma eps, and differentiates the
    sample average of log N(a; mu, sigma) - q(a)/beta through a (section 22.3). `q_fn` must be a
    module-level function (it is a static argument); the temperature and the starting point are arrays,
    so new values reuse the compiled loop. Returns (path [num_adam_steps + 1, 2] of (mu, log sigma), losses).
    """
    check_temperature(temperature)
    check_positive_int("num_adam_steps", num_adam_steps)
    check_positive_int("num_samples", num_samples)
    check_positive("learning_rate", learning_rate)
    init = jnp.array([mean, log_std], jnp.float32)
    return _fit_gaussian_jit(
        q_fn, jnp.asarray(temperature, jnp.float32), key, init, learning_rate, jnp.zeros((num_adam_steps, num_samples))
    )
