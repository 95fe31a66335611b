"""The smooth Bellman operator on finite MDPs, with exact answers: the soft maximum and its Boltzmann
policy, soft value iteration, the gap bound to v*, and the entropy-regularized value that equals
v_beta at the Boltzmann policy. `check_temperature`, here, guards every module of the package."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lib.core.config import check_positive_int, check_range
from lib.problems.mdp import evaluate_policy, policy_dynamics, q_from_v


def check_temperature(temperature, name="temperature"):
    """Raise ValueError unless every entry of `temperature` is a finite number > 0.

    Traced values (inside jit or vmap) cannot be inspected; the public entry points check their
    arguments before tracing, so a compiled call only ever sees a validated temperature.
    """
    if isinstance(temperature, jax.core.Tracer):
        return
    for value in np.ravel(np.asarray(temperature, dtype=float)):
        check_range(name, float(value), 0.0, np.inf, low_open=True, high_open=True)


# ------------------------------------------------------------------------- finite MDPs, exact


def _advantages_over_temperature(q_values, temperature):
    """(q - max_a q) / beta: at most 0, so exp of it never overflows as beta -> 0 (q / beta would reach
    inf and give inf - inf = NaN). The maximizers get exactly 0, also when a tiny beta is flushed to 0."""
    best = jnp.max(q_values, axis=-1, keepdims=True)
    return best, jnp.where(q_values == best, 0.0, (q_values - best) / temperature)


def soft_maximum(q_values, temperature):
    """beta log sum_a exp(q(s, a) / beta) over the last axis: the smooth max of the operator L_beta,
    computed as max_a q + beta log sum_a exp((q - max_a q) / beta)."""
    check_temperature(temperature)
    best, scaled = _advantages_over_temperature(q_values, temperature)
    return best[..., 0] + temperature * jax.nn.logsumexp(scaled, axis=-1)


def boltzmann_policy(q_values, temperature):
    """The Boltzmann policy d(a|s) = exp(q(s, a) / beta) / Z(s), as a matrix pi[s, a]."""
    check_temperature(temperature)
    return jax.nn.softmax(_advantages_over_temperature(q_values, temperature)[1], axis=-1)


def soft_bellman_operator(mdp, values, temperature):
    """(L_beta v)(s) = beta log sum_a exp((r(s, a) + gamma E[v(s')]) / beta)."""
    return soft_maximum(q_from_v(mdp, values), temperature)


@jax.jit
def _soft_value_iteration(mdp, temperature, initial_values, num_iterations_array):
    def step(values, _):
        return temperature * jax.nn.logsumexp(q_from_v(mdp, values) / temperature, axis=-1), None

    values, _ = jax.lax.scan(step, initial_values, None, num_iterations_array.shape[0])
    return values


def soft_value_iteration(mdp, temperature, num_iterations=1000, initial_values=None):
    """Iterate v <- L_beta v from `initial_values` (zeros by default); returns v after `num_iterations`.

    Each step shrinks the distance to the fixed point v_beta by gamma, so 1000 steps at gamma = 0.9
    reach it to machine precision. `temperature` may be a float or a 0-d array: changing it reuses
    the compiled loop (the notebook's slider relies on this).
    """
    check_temperature(temperature)
    check_positive_int("num_iterations", num_iterations)
    num_states = mdp.rewards.shape[0]
    if initial_values is None:
        initial_values = jnp.zeros(num_states, mdp.rewards.dtype)
    temperature = jnp.asarray(temperature, mdp.rewards.dtype)
    return _soft_value_iteration(mdp, temperature, jnp.asarray(initial_values), jnp.zeros(num_iterations))


def soft_value_gap_bound(temperature, num_actions, gamma):
    """The bound beta log|A| / (1 - gamma) on v_beta - v*, which is >= 0 componentwise."""
    check_temperature(temperature)
    check_positive_int("num_actions", num_actions)
    check_range("gamma", gamma, 0.0, 1.0, high_open=True)
    return temperature * np.log(num_actions) / (1.0 - gamma)


def policy_entropy(policy):
    """H(d(.|s)) = -sum_a d(a|s) log d(a|s), per state."""
    return -jnp.sum(jax.scipy.special.xlogy(policy, policy), axis=-1)


def entropy_regularized_value(mdp, policy, temperature):
    """v_d = (I - gamma P_d)^{-1} (r_d + beta H_d): the return of `policy` plus beta times its entropy.

    At the Boltzmann policy of the fixed point of L_beta this equals v_beta: the smooth Bellman
    equation and the entropy-regularized objective are the same problem.
    """
    check_temperature(temperature)
    transitions_d, rewards_d = policy_dynamics(mdp, policy)
    num_states = rewards_d.shape[0]
    bonus = rewards_d + temperature * policy_entropy(policy)
    return jnp.linalg.solve(jnp.eye(num_states) - mdp.gamma * transitions_d, bonus)


class SoftSolution(NamedTuple):
    values: jax.Array  # v_beta(s), the fixed point of L_beta
    q_values: jax.Array  # q_beta(s, a) = r + gamma P v_beta
    policy: jax.Array  # Boltzmann policy of q_beta
    entropy: jax.Array  # H(d(.|s)) per state
    plain_return: jax.Array  # v_d(s) without the entropy bonus: the reward the policy actually collects


def solve_soft_mdp(mdp, temperature, num_iterations=1000):
    """Soft value iteration, then the Boltzmann policy, its entropy and its unregularized value."""
    values = soft_value_iteration(mdp, temperature, num_iterations)
    q_values = q_from_v(mdp, values)
    policy = boltzmann_policy(q_values, temperature)
    return SoftSolution(values, q_values, policy, policy_entropy(policy), evaluate_policy(mdp, policy))
