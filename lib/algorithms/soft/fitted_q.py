"""Soft fitted Q-iteration on a finite MDP (section 22.1): targets from sampled next states and next
actions of the Boltzmann policy, fitted on one-hot features, one `lax.scan` over iterations."""

import jax
import jax.numpy as jnp

from lib.core.config import check_positive_int
from lib.algorithms.soft.smooth_bellman import check_temperature


@jax.jit
def _soft_fitted_q(mdp, temperature, key, sample_shape):
    num_states, num_actions = mdp.rewards.shape
    num_iterations, num_samples = sample_shape.shape

    def sample(cdf, u):
        """Inverse-CDF sampling: the index of the first cumulative probability above u."""
        return jnp.minimum(jnp.sum(cdf <= u[..., None], axis=-1), cdf.shape[-1] - 1)

    def iteration(q_values, key):
        u = jax.random.uniform(key, (2, num_samples, num_states, num_actions))
        # base points: every (s, a), each with `num_samples` sampled next states and next actions
        next_states = sample(jnp.cumsum(mdp.transitions, axis=-1), u[0])
        log_policy = jax.nn.log_softmax(q_values / temperature, axis=-1)  # log d(a'|s')
        next_actions = sample(jnp.cumsum(jnp.exp(log_policy), axis=-1)[next_states], u[1])
        q_next = q_values[next_states, next_actions]
        log_d_next = log_policy[next_states, next_actions]
        targets = mdp.rewards + mdp.gamma * (q_next - temperature * log_d_next)
        # least squares on one-hot (tabular) features: the fit is the average target per (s, a)
        q_values = jnp.mean(targets, axis=0)
        return q_values, q_values

    q0 = jnp.zeros((num_states, num_actions), mdp.rewards.dtype)
    _, iterates = jax.lax.scan(iteration, q0, jax.random.split(key, num_iterations))
    return jnp.concatenate([q0[None], iterates])


def soft_fitted_q_iteration(mdp, key, temperature, num_iterations=50, num_samples=10):
    """Soft fitted Q-iteration with sampled next states and sampled next actions (section 22.1).

    At every base point (s, a) draw s' ~ P(.|s, a) and a' ~ d(.|s') from the Boltzmann policy of the
    current q_n, form the target y = r(s, a) + gamma (q_n(s', a') - beta log d(a'|s')) and fit q_{n+1}
    by least squares (tabular features, so the fit is the mean target per pair). Given q_n the target
    is an unbiased sample of (L_beta q_n)(s, a): E_{a'~d}[q(s', a') - beta log d(a'|s')] is exactly the
    log-sum-exp. Returns the iterates q_0 = 0, q_1, ..., shape [num_iterations + 1, S, A].
    """
    check_temperature(temperature)
    check_positive_int("num_iterations", num_iterations)
    check_positive_int("num_samples", num_samples)
    temperature = jnp.asarray(temperature, mdp.rewards.dtype)
    return _soft_fitted_q(mdp, temperature, key, jnp.zeros((num_iterations, num_samples)))
