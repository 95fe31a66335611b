"""The policies' distributions, each with its log-density, sample, entropy and KL divergence: a diagonal
Gaussian, the tanh-squashed Gaussian of a bounded action, and a categorical over discrete actions.

The Gaussian is given by (mean, log_std) and the categorical by its logits; the event is the last axis,
so every function is batched over the leading ones. The tanh-squashed Gaussian maps u ~ N(mu, sigma^2)
into the action box, a = center + half_width tanh(u) (`lib.parts.policies.squash_to_box`, the map DDPG's and
TD3's deterministic policies use too); by the change of variables its log-density is
log N(u; mu, sigma) - sum log(1 - tanh(u)^2) - sum log(half_width). It has no closed-form entropy or
KL: SAC estimates its entropy from samples, as -E[log d(a)].
"""

import jax
import jax.numpy as jnp
import numpy as np

from lib.core.config import concrete
from lib.parts.policies import box_center_and_half_width, squash_to_box

LOG_2PI = jnp.log(2.0 * jnp.pi)


# ------------------------------------------------------------------ diagonal Gaussian
def gaussian_log_prob(mean, log_std, action):
    """log N(action; mean, diag(exp(log_std))^2), summed over the last axis."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * LOG_2PI, axis=-1)


def gaussian_sample(key, mean, log_std):
    """A reparameterized sample mean + sigma * eps, eps ~ N(0, I)."""
    return mean + jnp.exp(log_std) * jax.random.normal(key, jnp.shape(mean))


def gaussian_entropy(log_std):
    """H = sum_i (log sigma_i + (1 + log 2 pi) / 2), summed over the last axis; the mean does not enter."""
    return jnp.sum(log_std + 0.5 * (1.0 + jnp.log(2.0 * jnp.pi)), axis=-1)


def gaussian_kl(mean_p, log_std_p, mean_q, log_std_q):
    """KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)) for diagonal Gaussians, summed over the last axis."""
    var_p, var_q = jnp.exp(2.0 * log_std_p), jnp.exp(2.0 * log_std_q)
    per_dim = log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2.0 * var_q) - 0.5
    return jnp.sum(per_dim, axis=-1)


# ------------------------------------------------------------------ tanh-squashed Gaussian
def log_one_minus_tanh_squared(u):
    """log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|."""
    return 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))


# How far inside the box a given action is moved before the squash is inverted: an action exactly on
# the bound (where clipped replay actions sit) would need u = +-inf and give a NaN log-density.
BOUND_MARGIN = 1e-6


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


# ------------------------------------------------------------------ categorical
def categorical_log_prob(logits, action):
    """log softmax(logits)[action]; a concrete action outside 0, ..., len(logits) - 1 is a ValueError."""
    values = concrete(action)
    num_actions = jnp.shape(logits)[-1]
    if values is not None and (values.dtype.kind not in "iu" or np.any(values < 0) or np.any(values >= num_actions)):
        raise ValueError(f"action must be an integer in [0, {num_actions - 1}], got {values.tolist()}")
    return jnp.take_along_axis(jax.nn.log_softmax(logits), jnp.expand_dims(action, -1), axis=-1)[..., 0]


def categorical_sample(key, logits):
    """An action a ~ softmax(logits), one per leading index."""
    return jax.random.categorical(key, logits)


def categorical_entropy(logits):
    """H = -sum_a p(a) log p(a)."""
    log_p = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


def categorical_kl(logits_p, logits_q):
    """KL(p || q) = sum_a p(a) log(p(a) / q(a)) between two categoricals given by logits (last axis)."""
    log_p, log_q = jax.nn.log_softmax(logits_p), jax.nn.log_softmax(logits_q)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)
