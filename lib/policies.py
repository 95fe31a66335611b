"""Policy heads: Gaussian, tanh-squashed Gaussian and categorical, with exact log-densities.

The tanh-squashed head maps u ~ N(mu, sigma^2) to a = low + (tanh(u) + 1)(high - low)/2; by the
change of variables its log-density is log N(u; mu, sigma) - sum log(1 - tanh(u)^2) - sum log((high - low)/2).
"""
import jax
import jax.numpy as jnp

LOG_2PI = jnp.log(2.0 * jnp.pi)


def gaussian_log_prob(mean, log_std, action):
    """log N(action; mean, diag(exp(log_std))^2), summed over the last axis."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * LOG_2PI, axis=-1)


def gaussian_sample(key, mean, log_std):
    """A reparameterized sample mean + sigma * eps, eps ~ N(0, I)."""
    return mean + jnp.exp(log_std) * jax.random.normal(key, jnp.shape(mean))


def log_one_minus_tanh_squared(u):
    """log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|."""
    return 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))


def _squash(u, low, high):
    return low + 0.5 * (jnp.tanh(u) + 1.0) * (high - low)


def _squash_log_det(u, low, high):
    return jnp.sum(log_one_minus_tanh_squared(u) + jnp.log(0.5 * (high - low)) * jnp.ones_like(u), axis=-1)


def tanh_gaussian_sample(key, mean, log_std, low=-1.0, high=1.0):
    """A reparameterized squashed-Gaussian action in [low, high] and its log-density."""
    u = gaussian_sample(key, mean, log_std)
    return _squash(u, low, high), gaussian_log_prob(mean, log_std, u) - _squash_log_det(u, low, high)


def tanh_gaussian_log_prob(mean, log_std, action, low=-1.0, high=1.0):
    """Log-density of a given squashed action (inverting the squash), for actions inside (low, high)."""
    u = jnp.arctanh(2.0 * (action - low) / (high - low) - 1.0)
    return gaussian_log_prob(mean, log_std, u) - _squash_log_det(u, low, high)


def tanh_gaussian_mode(mean, low=-1.0, high=1.0):
    """The deterministic action used for evaluation: the squashed mean."""
    return _squash(mean, low, high)


def categorical_log_prob(logits, action):
    """log softmax(logits)[action]."""
    return jnp.take_along_axis(jax.nn.log_softmax(logits), jnp.expand_dims(action, -1), axis=-1)[..., 0]


def categorical_entropy(logits):
    """H = -sum_a p(a) log p(a)."""
    log_p = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)
