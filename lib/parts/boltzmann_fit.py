"""A Gaussian fitted to a Boltzmann target at one state: SAC's policy step (chapter 22, section 22.3)
and, as the temperature goes to 0, DPG's (chapter 25).

The target is exp(q(a)/temperature)/Z. Minimizing temperature * KL(N(mu, sigma^2) || target) over
(mu, log sigma) is minimizing E[temperature * log N(a; mu, sigma) - q(a)] with a = mu + sigma eps,
eps ~ N(0, 1): log Z does not depend on the Gaussian, and the reparameterization puts (mu, sigma)
inside the expectation, so its gradient is an average of per-noise gradients. At temperature 0 the
loss is -E[q(mu + sigma eps)]: DPG with a Gaussian whose width only shrinks.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib.core.config import check_positive, check_range, concrete
from lib.parts.nets import gradient_step
from lib.parts.distributions import gaussian_log_prob


def sampled_noise(key, num_adam_steps, num_samples):
    """Fresh eps ~ N(0, 1) for every Adam step: [num_adam_steps, num_samples], one key per step."""
    return jax.vmap(lambda step_key: jax.random.normal(step_key, (num_samples,)))(jax.random.split(key, num_adam_steps))


def _check_fit_arguments(temperature, noise, weights, learning_rate):
    value = concrete(temperature)
    if value is not None:
        for entry in np.ravel(value):
            check_range("temperature", float(entry), 0.0)
    check_positive("learning_rate", learning_rate)
    if jnp.ndim(noise) != 2 or 0 in jnp.shape(noise):
        raise ValueError(f"noise must be [num_adam_steps, num_samples] with both > 0, got shape {jnp.shape(noise)}")
    if weights is not None and jnp.shape(weights) != jnp.shape(noise)[1:]:
        raise ValueError(f"weights must have shape {jnp.shape(noise)[1:]} (one per sample), got {jnp.shape(weights)}")


def fit_gaussian_to_boltzmann(q_fn, temperature, noise, weights=None, mean=0.0, log_std=0.0, learning_rate=0.05):
    """Minimize temperature * KL(N(mu, sigma^2) || exp(q/temperature)/Z) over (mu, log sigma) with Adam.

    Adam step k differentiates sum_i w_i (temperature log N(a_i; mu, sigma) - q(a_i)) at a_i = mu + sigma
    eps_i, with the eps_i of row k of `noise` ([num_adam_steps, num_samples]: fresh draws from
    `sampled_noise`, or the same Gauss-Hermite nodes in every row for a deterministic loss) and
    `weights` w_i (default 1/num_samples: the sample mean). temperature >= 0; 0 is DPG. `q_fn` must be a
    module-level function (it is a static argument); the temperature and the start (mean, log_std) are
    arrays, so new values reuse the compiled loop. Returns the path [num_adam_steps + 1, 2] of (mu, log sigma).
    """
    _check_fit_arguments(temperature, noise, weights, learning_rate)
    if weights is None:
        weights = jnp.full(jnp.shape(noise)[1:], 1.0 / jnp.shape(noise)[1])
    start = jnp.stack([jnp.asarray(mean, jnp.float32), jnp.asarray(log_std, jnp.float32)])
    return _fit(q_fn, temperature, jnp.asarray(noise, jnp.float32), weights, start, learning_rate)


@partial(jax.jit, static_argnums=0)
def _fit(q_fn, temperature, noise, weights, start, learning_rate):
    optimizer = optax.adam(learning_rate)

    def loss(params, eps):
        mu, log_sigma = params
        actions = mu + jnp.exp(log_sigma) * eps
        log_density = gaussian_log_prob(mu[None], log_sigma[None], actions[:, None])
        return jnp.sum(weights * (temperature * log_density - q_fn(actions)))

    def step(carry, eps):
        params, opt_state = carry
        params, opt_state = gradient_step(optimizer, params, opt_state, jax.grad(loss)(params, eps))
        return (params, opt_state), params

    _, path = jax.lax.scan(step, (start, optimizer.init(start)), noise)
    return jnp.concatenate([start[None], path])
