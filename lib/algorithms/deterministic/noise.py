"""Ornstein-Uhlenbeck exploration noise, dN = theta (mu - N) dt + sigma dW, discretized by Euler-Maruyama."""

import jax
import jax.numpy as jnp

from lib.core.config import check_positive, check_positive_int, check_range


# ------------------------------------------------------------------ Ornstein-Uhlenbeck noise
def _check_ou(theta, sigma, dt, prefix=""):
    check_positive(f"{prefix}theta", theta)
    check_range(f"{prefix}sigma", sigma, 0.0)
    check_positive(f"{prefix}dt", dt)
    check_range(f"{prefix}theta * {prefix}dt", theta * dt, 0.0, 2.0, low_open=True, high_open=True)


def ou_step(noise, key, theta, sigma, dt, mu=0.0):
    """One Euler-Maruyama step: N <- N + theta (mu - N) dt + sigma sqrt(dt) eps, eps ~ N(0, I)."""
    eps = jax.random.normal(key, jnp.shape(noise))
    return noise + theta * (mu - noise) * dt + sigma * jnp.sqrt(dt) * eps


@jax.jit
def _ou_paths(theta, sigma, dt, initial, keys, num_paths_template):
    # Each step is `ou_step` itself, so the paths test the same code DDPG's exploration runs.
    def step(noise, key):
        noise = ou_step(noise, key, theta, sigma, dt)
        return noise, noise

    start = initial * jnp.ones_like(num_paths_template)
    _, path = jax.lax.scan(step, start, keys)
    return jnp.concatenate([start[None], path]).T


def ou_paths(key, theta, sigma, dt, num_steps, num_paths=1, initial=0.0):
    """`num_paths` independent OU paths of `num_steps` steps of `ou_step` from N_0 = initial:
    shape [paths, steps + 1].

    Euler-Maruyama is stable for 0 < theta dt < 2; theta, sigma and dt may change between calls
    without recompiling (they are traced), the shape may not.
    """
    _check_ou(float(theta), float(sigma), float(dt))
    check_positive_int("num_steps", num_steps)
    check_positive_int("num_paths", num_paths)
    return _ou_paths(
        jnp.asarray(theta, jnp.float32),
        jnp.asarray(sigma, jnp.float32),
        jnp.asarray(dt, jnp.float32),
        jnp.asarray(initial, jnp.float32),
        jax.random.split(key, num_steps),
        jnp.zeros(num_paths, jnp.float32),
    )


def ou_stationary_variance(theta, sigma, dt=None):
    """Stationary variance of the OU process: sigma^2 / (2 theta) in continuous time (dt=None);
    sigma^2 / (theta (2 - theta dt)) for its Euler-Maruyama chain, an AR(1) with coefficient
    1 - theta dt, which tends to the continuous value as dt -> 0."""
    check_positive("theta", theta)
    check_range("sigma", sigma, 0.0)
    if dt is None:
        return sigma**2 / (2.0 * theta)
    _check_ou(theta, sigma, dt)
    return sigma**2 / (theta * (2.0 - theta * dt))
