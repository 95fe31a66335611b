"""Finite MDPs and their exact answers: the ground truth that chapters 22, 24 and 26 test against.

A policy is a matrix `pi[s, a]` of action probabilities. Exact evaluation solves the linear system
v_d = r_d + gamma P_d v_d, i.e. v_d = (I - gamma P_d)^{-1} r_d, instead of iterating.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lib.core.config import check_positive_int, check_range, concrete


class _MDPFields(NamedTuple):
    transitions: jax.Array
    rewards: jax.Array
    initial: jax.Array
    gamma: float


class FiniteMDP(_MDPFields):
    """transitions[s, a, s'] = P(s' | s, a); rewards[s, a]; initial[s] = alpha(s); gamma in [0, 1).

    Built from concrete values (not inside jit), it is checked: rows of P and alpha are probability
    distributions, rewards are finite, and gamma is in [0, 1) as float32 represents it (with gamma = 1
    the values are infinite and a discounted-visitation walk never ends).
    """

    __slots__ = ()

    def __new__(cls, transitions, rewards, initial, gamma):
        _check_mdp(transitions, rewards, initial, gamma)
        return super().__new__(cls, transitions, rewards, initial, gamma)

    @classmethod
    def _make(cls, iterable):  # `_replace` builds through here: check it as well
        return cls(*iterable)


def _check_distribution(name, array, axis_size):
    if array.shape[-1:] != (axis_size,):
        raise ValueError(f"{name} must end in an axis of {axis_size} states, got shape {array.shape}")
    if np.any(array < 0) or not np.allclose(array.sum(-1), 1.0, atol=1e-4):
        raise ValueError(f"{name} must hold probability distributions (non-negative, summing to 1 over s')")


def _check_mdp(transitions, rewards, initial, gamma):
    arrays = [concrete(x) for x in (transitions, rewards, initial, gamma)]
    if any(array is None for array in arrays):
        return
    transitions, rewards, initial, gamma = arrays
    if transitions.ndim < 3:
        raise ValueError(f"transitions must have shape (states, actions, states), got {transitions.shape}")
    num_states, num_actions = transitions.shape[-3:-1]
    _check_distribution("transitions", transitions, num_states)
    _check_distribution("initial", initial, num_states)
    if rewards.shape[-2:] != (num_states, num_actions) or not np.all(np.isfinite(rewards)):
        raise ValueError(f"rewards must be finite with shape {(num_states, num_actions)}, got shape {rewards.shape}")
    if not np.all((gamma >= 0) & (np.float32(gamma) < 1)):
        raise ValueError(f"gamma must be in [0, 1) (as float32 represents it), got {gamma.tolist()}")


def random_mdp(key, num_states, num_actions, gamma=0.9):
    """A random MDP with Dirichlet(1) transition rows, N(0, 1) rewards and a uniform start."""
    check_positive_int("num_states", num_states)
    check_positive_int("num_actions", num_actions)
    check_range("gamma", gamma, 0.0, 1.0, high_open=True)
    key_p, key_r = jax.random.split(key)
    transitions = jax.random.dirichlet(key_p, jnp.ones(num_states), (num_states, num_actions))
    rewards = jax.random.normal(key_r, (num_states, num_actions))
    initial = jnp.full(num_states, 1.0 / num_states)
    return FiniteMDP(transitions, rewards, initial, gamma)


def policy_dynamics(mdp, policy):
    """P_d[s, s'] and r_d[s]: the Markov chain and the expected reward under `policy`."""
    transitions_d = jnp.einsum("sa,sat->st", policy, mdp.transitions)
    rewards_d = jnp.sum(policy * mdp.rewards, axis=1)
    return transitions_d, rewards_d


def evaluate_policy(mdp, policy):
    """v_d = (I - gamma P_d)^{-1} r_d, by a linear solve."""
    transitions_d, rewards_d = policy_dynamics(mdp, policy)
    num_states = rewards_d.shape[0]
    return jnp.linalg.solve(jnp.eye(num_states) - mdp.gamma * transitions_d, rewards_d)


def q_from_v(mdp, values):
    """q(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) v(s')."""
    return mdp.rewards + mdp.gamma * mdp.transitions @ values


def policy_q_values(mdp, policy):
    """Exact q_d(s, a) of a policy."""
    return q_from_v(mdp, evaluate_policy(mdp, policy))


def policy_advantages(mdp, policy):
    """Exact advantages A_d(s, a) = q_d(s, a) - v_d(s)."""
    values = evaluate_policy(mdp, policy)
    return q_from_v(mdp, values) - values[:, None]


def discounted_visitation(mdp, policy):
    """The normalized discounted state visitation (1 - gamma) alpha^T (I - gamma P_d)^{-1}.

    The book's unnormalized occupancy x_alpha is this vector divided by (1 - gamma).
    """
    transitions_d, _ = policy_dynamics(mdp, policy)
    num_states = transitions_d.shape[0]
    occupancy = jnp.linalg.solve((jnp.eye(num_states) - mdp.gamma * transitions_d).T, mdp.initial)
    return (1.0 - mdp.gamma) * occupancy


def expected_return(mdp, policy):
    """J(d) = alpha^T v_d, the discounted return from the initial distribution."""
    return mdp.initial @ evaluate_policy(mdp, policy)


def value_iteration(mdp, num_iterations=1000):
    """Optimal values by iterating the Bellman optimality operator (a gamma-contraction)."""

    def bellman_optimality(values, _):
        return jnp.max(q_from_v(mdp, values), axis=1), None

    values, _ = jax.lax.scan(bellman_optimality, jnp.zeros(mdp.rewards.shape[0]), None, num_iterations)
    return values


def greedy_policy(q_values):
    """The deterministic greedy policy as a one-hot matrix pi[s, a]."""
    return jax.nn.one_hot(jnp.argmax(q_values, axis=1), q_values.shape[1])


def sample_trajectories(mdp, policy, key, num_episodes, horizon):
    """Simulate `num_episodes` trajectories of `horizon` steps; returns (states, actions, rewards)."""

    def one_episode(episode_key):
        start_key, step_key = jax.random.split(episode_key)
        state = jax.random.categorical(start_key, jnp.log(mdp.initial))

        def step(state, step_key):
            key_a, key_s = jax.random.split(step_key)
            action = jax.random.categorical(key_a, jnp.log(policy[state]))
            next_state = jax.random.categorical(key_s, jnp.log(mdp.transitions[state, action]))
            return next_state, (state, action, mdp.rewards[state, action])

        _, trajectory = jax.lax.scan(step, state, jax.random.split(step_key, horizon))
        return trajectory

    return jax.vmap(one_episode)(jax.random.split(key, num_episodes))
