"""DPG as the zero-temperature SAC: the Gaussian that SAC's policy step fits at one state tends to DPG's
action as the temperature alpha goes to 0."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from lib.config import check_positive, check_positive_int, check_range, concrete
from lib.nets import gradient_step
from lib.policies import gaussian_log_prob
from lib.svg.loops import _ascent_step


# ------------------------------------------------------------------ DPG as the zero-temperature SAC
def skewed_q(a):
    """A one-state, non-quadratic Q(a) = 2a - exp(a), maximized at a* = log 2."""
    return 2.0 * a - jnp.exp(a)


def soft_gaussian_closed_form(alpha):
    """For Q = skewed_q the Gaussian minimizing KL(N(mu, s^2) || exp(Q/alpha)/Z) is exact:
    mu = log 2 - alpha / 4 and s = sqrt(alpha / 2); both reach (a*, 0) as alpha -> 0."""
    return jnp.log(2.0) - alpha / 4.0, jnp.sqrt(alpha / 2.0)


class GaussianFit(NamedTuple):
    mean: jax.Array
    std: jax.Array


def fit_soft_gaussian(q, alpha, eps, weights, num_adam_steps=2000, learning_rate=0.05):
    """SAC's policy step at one state: minimize alpha * KL(N(mu, s^2) || exp(q/alpha)/Z), i.e.
    E[alpha log N(a; mu, s) - q(a)] with a = mu + s eps (reparameterized), averaged over the noise
    nodes eps with `weights` (samples with weights 1/M, or Gauss-Hermite nodes). alpha = 0 is DPG
    with a Gaussian whose width only shrinks. Returns the fitted GaussianFit."""
    check_positive_int("num_adam_steps", num_adam_steps)
    check_positive("learning_rate", learning_rate)
    alpha_value = concrete(alpha)
    if alpha_value is not None:
        check_range("alpha", float(alpha_value), 0.0)
    optimizer = optax.adam(learning_rate)

    def loss(theta):
        mu, log_s = theta
        a = mu + jnp.exp(log_s) * eps
        log_density = gaussian_log_prob(mu[None], log_s[None], a[:, None])
        return jnp.sum(weights * (alpha * log_density - q(a)))

    def step(carry, _):
        theta, opt_state = carry
        return gradient_step(optimizer, theta, opt_state, jax.grad(loss)(theta)), None

    theta = (jnp.zeros(()), jnp.zeros(()))
    (theta, _), _ = jax.lax.scan(step, (theta, optimizer.init(theta)), None, num_adam_steps)
    return GaussianFit(theta[0], jnp.exp(theta[1]))


def fit_dpg(q, num_adam_steps=2000, learning_rate=0.05):
    """DPG at one state: gradient ascent of q(mu) over the deterministic action mu."""
    check_positive_int("num_adam_steps", num_adam_steps)
    check_positive("learning_rate", learning_rate)
    optimizer = optax.adam(learning_rate)

    def step(carry, _):
        mu, opt_state = carry
        return _ascent_step(optimizer, mu, opt_state, jax.grad(q)(mu)), None

    mu = jnp.zeros(())
    (mu, _), _ = jax.lax.scan(step, (mu, optimizer.init(mu)), None, num_adam_steps)
    return mu
