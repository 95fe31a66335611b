"""Finite MDP, exact answers: the softmax policy, its return, the policy gradient theorem, the discounted
visitation and the expected GAE advantage, against which the estimators are measured."""

from functools import partial

import jax
import jax.numpy as jnp

from lib.core.config import check_positive_int, check_range
from lib.problems.mdp import discounted_visitation, evaluate_policy, expected_return, policy_dynamics


# =============================================================== finite MDP: exact answers


def softmax_policy(logits):
    """d(a|s; w) = exp(w[s, a]) / sum_b exp(w[s, b]): the tabular softmax policy pi[s, a]."""
    return jax.nn.softmax(logits, axis=-1)


def exact_return(mdp, params, policy_fn=softmax_policy):
    """J(w) = alpha^T v_d with v_d = (I - gamma P_d)^{-1} r_d (a linear solve), for pi = policy_fn(params)."""
    return expected_return(mdp, policy_fn(params))


def occupancy(mdp, policy):
    """The book's unnormalized discounted visitation x_alpha^T = alpha^T (I - gamma P_d)^{-1} (sums to 1/(1-gamma))."""
    return discounted_visitation(mdp, policy) / (1.0 - mdp.gamma)


def policy_gradient_theorem(mdp, params, policy_fn=softmax_policy):
    """The exact gradient of J(w) = alpha^T v_d from the policy gradient theorem.

        grad J = x_alpha^T (dr_d/dw + gamma dP_d/dw v_d),   x_alpha^T = alpha^T (I - gamma P_d)^{-1},

    with x_alpha the book's unnormalized occupancy (see `occupancy`). The bracket is the Jacobian of
    the one-step map w -> r_d(w) + gamma P_d(w) v with v frozen at v_d; multiplying it on the left by
    x_alpha^T is one vector-Jacobian product. Nothing here differentiates v_d or the linear solve:
    only the policy's effect on one step of reward and transition.
    """
    policy = policy_fn(params)
    values = evaluate_policy(mdp, policy)
    visits = occupancy(mdp, policy)

    def one_step_backup(w):
        transitions_d, rewards_d = policy_dynamics(mdp, policy_fn(w))
        return rewards_d + mdp.gamma * transitions_d @ values

    _, pullback = jax.vjp(one_step_backup, params)
    return pullback(visits)[0]


def gradient_from_action_values(mdp, params, action_values, policy_fn=softmax_policy):
    """sum_s x_alpha(s) sum_a grad_w d(a|s; w) f(s, a), the theorem's second form, for any table f[s, a].

    With f = q_d it is grad J; with f = A_d = q_d - v_d too (a state-only shift drops out because
    sum_a grad d(a|s) = 0); with f = the expected GAE advantage of a critic it is the mean of the GAE
    estimator (`gae_expected_advantages`).
    """
    visits = occupancy(mdp, policy_fn(params))
    _, pullback = jax.vjp(policy_fn, params)
    return pullback(visits[:, None] * action_values)[0]


def gae_expected_advantages(mdp, policy, critic, lam):
    """E[A_t^GAE | s_t = s, a_t = a] exactly, for a critic table v_hat[s] and an infinite horizon.

    With delta_bar(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) v_hat(s') - v_hat(s) and
    delta_bar_d(s) = sum_a pi(a|s) delta_bar(s, a), the later TD errors average over the chain:

        E[A^lambda | s, a] = delta_bar(s, a) + gamma lambda P(.|s, a) (I - gamma lambda P_d)^{-1} delta_bar_d.

    With the exact critic v_hat = v_d this is the exact advantage A_d for every lambda; with a wrong
    critic it is biased, except for a state-only shift -(v_hat - v_d)(s) at lambda = 1.
    """
    check_range("lam", lam, 0.0, 1.0)
    deltas = mdp.rewards + mdp.gamma * mdp.transitions @ critic - critic[:, None]
    transitions_d, _ = policy_dynamics(mdp, policy)
    deltas_d = jnp.sum(policy * deltas, axis=1)
    num_states = deltas_d.shape[0]
    future = jnp.linalg.solve(jnp.eye(num_states) - mdp.gamma * lam * transitions_d, deltas_d)
    return deltas + mdp.gamma * lam * mdp.transitions @ future


def sample_discounted_visitation(mdp, policy, key, num_samples):
    """States drawn from the normalized discounted visitation mu_alpha = (1 - gamma) x_alpha.

    Each sample draws a stopping time T with P(T = t) = (1 - gamma) gamma^t (a geometric time),
    starts at s_0 ~ alpha, follows the policy and the transitions for T steps and returns s_T, since
    P(s_T = s) = sum_t (1 - gamma) gamma^t [alpha^T P_d^t]_s = mu_alpha(s). Only sampling access to the
    policy and the transitions is used. Samples are independent (one walk each).
    """
    check_positive_int("num_samples", num_samples)
    return _sample_discounted_visitation(mdp, policy, key, num_samples)


@partial(jax.jit, static_argnums=3)
def _sample_discounted_visitation(mdp, policy, key, num_samples):
    log_policy, log_transitions = jnp.log(policy), jnp.log(mdp.transitions)

    def one_sample(sample_key):
        key_time, key_start, key_walk = jax.random.split(sample_key, 3)
        # jax's geometric counts trials up to the first success (support 1, 2, ...): subtract one.
        stop = jax.random.geometric(key_time, 1.0 - mdp.gamma) - 1
        state = jax.random.categorical(key_start, jnp.log(mdp.initial))

        def keep_walking(carry):
            t, _, _ = carry
            return t < stop

        def walk(carry):
            t, state, walk_key = carry
            walk_key, key_action, key_next = jax.random.split(walk_key, 3)
            action = jax.random.categorical(key_action, log_policy[state])
            next_state = jax.random.categorical(key_next, log_transitions[state, action])
            return t + 1, next_state, walk_key

        _, state, _ = jax.lax.while_loop(keep_walking, walk, (jnp.zeros_like(stop), state, key_walk))
        return state

    return jax.vmap(one_sample)(jax.random.split(key, num_samples))
