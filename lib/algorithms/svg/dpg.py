"""DPG as the zero-temperature SAC: the Gaussian that SAC's policy step fits at one state
(`lib.parts.boltzmann_fit.fit_gaussian_to_boltzmann`) tends to DPG's action as the temperature alpha goes to 0;
on `skewed_q` the fit is known in closed form."""

import jax
import jax.numpy as jnp
import optax

from lib.core.config import check_positive, check_positive_int
from lib.algorithms.svg.loops import _ascent_step


# ------------------------------------------------------------------ DPG as the zero-temperature SAC
def skewed_q(a):
    """A one-state, non-quadratic Q(a) = 2a - exp(a), maximized at a* = log 2."""
    return 2.0 * a - jnp.exp(a)


def soft_gaussian_closed_form(alpha):
    """For Q = skewed_q the Gaussian minimizing KL(N(mu, s^2) || exp(Q/alpha)/Z) is exact:
    mu = log 2 - alpha / 4 and s = sqrt(alpha / 2); both reach (a*, 0) as alpha -> 0."""
    return jnp.log(2.0) - alpha / 4.0, jnp.sqrt(alpha / 2.0)


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
