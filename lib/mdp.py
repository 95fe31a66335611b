"""Finite MDPs and their exact answers: the ground truth that chapters 22, 24 and 26 test against.

A policy is a matrix `pi[s, a]` of action probabilities. Exact evaluation solves the linear system
v_d = r_d + gamma P_d v_d, i.e. v_d = (I - gamma P_d)^{-1} r_d, instead of iterating.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.config import check_positive_int, check_range


class FiniteMDP(NamedTuple):
    """transitions[s, a, s'] = P(s' | s, a); rewards[s, a]; initial[s] = alpha(s); gamma in [0, 1)."""
    transitions: jax.Array
    rewards: jax.Array
    initial: jax.Array
    gamma: float


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
