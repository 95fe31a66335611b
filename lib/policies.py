"""Policy heads: Gaussian, tanh-squashed Gaussian and categorical, with exact log-densities.

The tanh-squashed head maps u ~ N(mu, sigma^2) into the action box, a = center + half_width tanh(u)
(`squash_to_box`, the same map DDPG's and TD3's deterministic policies use); by the change of variables
its log-density is log N(u; mu, sigma) - sum log(1 - tanh(u)^2) - sum log(half_width).
"""

import jax
import jax.numpy as jnp
import numpy as np

from lib.config import concrete

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


# How far inside the box a given action is moved before the squash is inverted: an action exactly on
# the bound (where clipped replay actions sit) would need u = +-inf and give a NaN log-density.
BOUND_MARGIN = 1e-6


def box_center_and_half_width(low, high):
    """(center, half-width) of the action box [low, high]; ValueError if concrete bounds are not low < high."""
    low_values, high_values = concrete(low), concrete(high)
    if low_values is not None and high_values is not None and not np.all(low_values < high_values):
        raise ValueError(
            f"the action bounds must satisfy low < high, got low={low_values.tolist()}, high={high_values.tolist()}"
        )
    return 0.5 * (high + low), 0.5 * (high - low)


def squash_to_box(u, low, high):
    """center + half_width * tanh(u): any real u mapped into the open box (low, high)."""
    center, half_width = box_center_and_half_width(low, high)
    return center + half_width * jnp.tanh(u)


def _squash_log_det(u, half_width):
    return jnp.sum(log_one_minus_tanh_squared(u) + jnp.log(half_width) * jnp.ones_like(u), axis=-1)


def tanh_gaussian_sample(key, mean, log_std, low=-1.0, high=1.0):
    """A reparameterized squashed-Gaussian action in [low, high] and its log-density."""
    _, half_width = box_center_and_half_width(low, high)
    u = gaussian_sample(key, mean, log_std)
    return squash_to_box(u, low, high), gaussian_log_prob(mean, log_std, u) - _squash_log_det(u, half_width)


def tanh_gaussian_log_prob(mean, log_std, action, low=-1.0, high=1.0):
    """Log-density of a given squashed action (inverting the squash). Actions on the bound, or within
    BOUND_MARGIN of it (relative to the half-width), are read as lying that margin inside: finite."""
    center, half_width = box_center_and_half_width(low, high)
    u = jnp.arctanh(jnp.clip((action - center) / half_width, -1.0 + BOUND_MARGIN, 1.0 - BOUND_MARGIN))
    return gaussian_log_prob(mean, log_std, u) - _squash_log_det(u, half_width)


def tanh_gaussian_mode(mean, low=-1.0, high=1.0):
    """The deterministic action used for evaluation: the squashed mean."""
    return squash_to_box(mean, low, high)


def categorical_log_prob(logits, action):
    """log softmax(logits)[action]; a concrete action outside 0, ..., len(logits) - 1 is a ValueError."""
    values = concrete(action)
    num_actions = jnp.shape(logits)[-1]
    if values is not None and (values.dtype.kind not in "iu" or np.any(values < 0) or np.any(values >= num_actions)):
        raise ValueError(f"action must be an integer in [0, {num_actions - 1}], got {values.tolist()}")
    return jnp.take_along_axis(jax.nn.log_softmax(logits), jnp.expand_dims(action, -1), axis=-1)[..., 0]


def categorical_entropy(logits):
    """H = -sum_a p(a) log p(a)."""
    log_p = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)
