"""Noise inference: the (eps, xi) that make `sample_transition` produce an observed transition."""

import jax.numpy as jnp
import numpy as np

from lib.core.config import concrete


# ------------------------------------------------------------------ noise inference


def sample_transition(params, s, eps, xi, *, policy, model):
    """Forward sampling: a = d(s) + sigma(s) eps, s' = mu(s, a) + Sigma xi. Returns (a, s')."""
    mean, std = policy(params, model.observe(s))
    a = mean + std * eps
    return a, model.step(s, a, xi)


def infer_noise(params, s, a, s_next, *, policy, model):
    """Noise inference: the (eps, xi) that make `sample_transition` produce the observed (a, s').

    eps = (a - d(s)) / sigma(s) and xi = Sigma^{-1} (s' - mu(s, a)): the Gaussian
    reparameterization is affine, so it inverts exactly when sigma > 0 and Sigma is invertible.
    """
    mean, std = policy(params, model.observe(s))
    std_value = concrete(std)
    if std_value is not None and np.any(std_value <= 0):
        raise ValueError("noise inference needs sigma(s; w) > 0, got a zero or negative action std")
    scale = concrete(model.noise_scale)
    if scale is not None and np.linalg.matrix_rank(scale) < scale.shape[0]:
        raise ValueError("noise inference needs an invertible dynamics noise scale Sigma (noise_std > 0)")
    eps = (a - mean) / std
    xi = jnp.linalg.solve(model.noise_scale, s_next - model.mean(s, a))
    return eps, xi
