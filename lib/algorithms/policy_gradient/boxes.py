"""CartPole, the four boxes: Algorithms 24.1 - 24.4 as update functions on the agent's state."""

import jax
import jax.numpy as jnp

from lib.parts.nets import gradient_step
from lib.loops.onpolicy import (
    collect_rollout,
    discounted_returns_to_go,
    gae_advantages,
    masked_mean,
    minibatch_epochs,
    normalize,
    policy_output,
    state_value,
)
from lib.parts.distributions import categorical_log_prob
from lib.algorithms.policy_gradient.agent import (
    AgentState,
    _flatten,
    _on_minibatch,
    _optimizers,
    _policy_loss,
    _sampler,
    _value_loss,
)


# =============================================================== CartPole: the four boxes


def reinforce_update(config, state, rollout, mask):
    """REINFORCE without a baseline: psi_t = the whole return G(tau), or the return to go G_t.

    One gradient step on -(1/B) sum_episodes sum_t log d(a_t|s_t; w) psi_t.
    """
    returns = discounted_returns_to_go(rollout.rewards, rollout.done, config.gamma)
    if config.estimator == "whole_return":
        psi = jnp.broadcast_to(returns[0], returns.shape)  # G(tau) on every step of the episode
    else:
        psi = returns  # causality: only rewards from t on
    policy_opt, _ = _optimizers(config)

    def loss(w):
        log_probs = categorical_log_prob(policy_output(w, rollout.observations), rollout.actions)
        return -jnp.sum(mask * log_probs * psi) / mask.shape[1]

    policy, opt_state = gradient_step(policy_opt, state.policy, state.policy_opt_state, jax.grad(loss)(state.policy))
    return state._replace(policy=policy, policy_opt_state=opt_state)


def baseline_update(config, state, rollout, mask):
    """Algorithm 24.1: policy gradient with a simple learned baseline b(s; theta).

    The box's steps, for the B episodes in `rollout` (time-major [T, B], `mask` marks real steps):
      2.2  R_t = sum_{k >= t} gamma^(k - t) r_k, the return to go (gamma = 1 is the book's sum);
      2.3  theta <- theta - alpha_theta grad_theta sum_t (R_t - b(s_t; theta))^2 (an Adam step);
      2.4  w <- w + alpha_w sum_t grad_w log d(a_t|s_t; w) (R_t - b(s_t; theta)), with the updated
           baseline; the box's per-step updates are summed into one step (the same expected move).
    """
    policy_opt, value_opt = _optimizers(config)
    returns = discounted_returns_to_go(rollout.rewards, rollout.done, config.gamma)  # 2.2
    value_grads = jax.grad(_value_loss)(state.value, rollout.observations, returns, mask)  # 2.3
    value, value_state = gradient_step(value_opt, state.value, state.value_opt_state, value_grads)
    advantages = returns - state_value(value, rollout.observations)  # 2.4
    policy_grads = jax.grad(_policy_loss)(state.policy, rollout.observations, rollout.actions, advantages, mask)
    policy, policy_state = gradient_step(policy_opt, state.policy, state.policy_opt_state, policy_grads)
    return AgentState(policy, value, policy_state, value_state)


def _fit_value_then_policy(config, state, data, key):
    """The shared tail of 24.2 and 24.3: K epochs on the value targets, normalized advantages, J epochs on the policy.

    `data` = (observations, actions, advantages, value targets, mask) flattened over time and copies;
    the advantages are computed by the caller, before (24.3) or after (24.2, `advantages=None`) the value fit.
    """
    policy_opt, value_opt = _optimizers(config)
    key_value, key_policy = jax.random.split(key)
    observations, actions, advantages, targets, weights = data
    value, value_state, _ = minibatch_epochs(
        _on_minibatch(_value_loss),
        state.value,
        state.value_opt_state,
        value_opt,
        (observations, targets, weights),
        key_value,
        config.value_epochs,
        config.num_minibatches,
    )
    if advantages is None:  # 24.2: A = R - v(s; theta) with the fitted v
        advantages = targets - state_value(value, observations)
    advantages = normalize(advantages, weights)
    policy, policy_state, _ = minibatch_epochs(
        _on_minibatch(_policy_loss),
        state.policy,
        state.policy_opt_state,
        policy_opt,
        (observations, actions, advantages, weights),
        key_policy,
        config.policy_epochs,
        config.num_minibatches,
    )
    return AgentState(policy, value, policy_state, value_state)


def value_minibatch_update(config, state, rollout, mask, key):
    """Algorithm 24.2: policy gradient with a value-function control variate and mini-batches.

    2.2  D <- (s_t, a_t, R_t) for the B episodes, R_t the return to go;
    2.3  v_target(s) = R (every CartPole state is visited once, so the average over D_s is R);
    2.4  K epochs of mini-batch steps on L_v = mean (v(s; theta) - R)^2;
    2.5  A = R - v(s; theta) with the fitted value function;
    2.6  A <- (A - mu_A) / sigma_A over the batch;
    2.7  J epochs of mini-batch steps on L_pi = -mean log d(a|s; w) A.
    """
    returns = discounted_returns_to_go(rollout.rewards, rollout.done, config.gamma)  # 2.2
    observations, actions, returns, weights = _flatten(rollout.observations, rollout.actions, returns, mask)
    return _fit_value_then_policy(config, state, (observations, actions, None, returns, weights), key)  # 2.3-2.7


def gae_update(config, state, rollout, mask, key):
    """Algorithm 24.3: policy gradient with GAE and mini-batches (the GAE actor-critic).

    2.2.2  delta_t = r_t + gamma v(s_{t+1}; theta) - v(s_t; theta) (no bootstrap past a true terminal);
    2.2.3  A_t = delta_t + gamma lambda A_{t+1}, a reverse scan (`lib.loops.onpolicy.gae_advantages`);
    2.2.4  D <- (s_t, a_t, A_t, v_old(s_t));
    2.3    K epochs of mini-batch steps on L_v = mean (v(s; theta) - (A + v_old))^2. The box prints
           the target as v_old, which would leave v where it is; A + v_old, the lambda-return, is the
           target the GAE paper and every implementation use;
    2.4    A <- (A - mu_A) / sigma_A;
    2.5    J epochs of mini-batch steps on L_pi = -mean log d(a|s; w) A.
    """
    values = state_value(state.value, rollout.observations)  # 2.2.2
    next_values = state_value(state.value, rollout.next_observations)
    advantages = gae_advantages(
        rollout.rewards,
        values,
        next_values,
        rollout.terminated,  # 2.2.3
        rollout.done,
        config.gamma,
        config.lam,
    )
    targets = advantages + values  # 2.2.4
    data = _flatten(rollout.observations, rollout.actions, advantages, targets, mask)
    return _fit_value_then_policy(config, state, data, key)  # 2.3-2.5


def actor_critic_td0_step(config, state, env, key, env_states, observations, alive):
    """Algorithm 24.4: one online step of the actor-critic with TD(0), in B copies at once.

      2.2.1  a_t ~ d(.|s_t; w);   2.2.2  execute a_t, observe r_t, s_{t+1};
      2.2.3  delta_t = r_t + gamma v(s_{t+1}; theta) - v(s_t; theta) (v(s_{t+1}) = 0 at a true terminal);
      2.2.4  theta <- theta + alpha_theta delta_t grad_theta v(s_t; theta);
      2.2.5  w <- w + alpha_w delta_t grad_w log d(a_t|s_t; w), with delta_t from before 2.2.4.
    Averaged over the copies still in their episode (`alive`); Adam steps replace the plain ones.
    Returns (state, env_states, observations, rollout step, alive after this step).
    """
    policy_opt, value_opt = _optimizers(config)
    sample = _sampler(state.policy, env)
    env_states, next_obs, step, _ = collect_rollout(env, sample, key, env_states, observations, 1)  # 2.2.1-2
    step = jax.tree_util.tree_map(lambda x: x[0], step)
    bootstrap = (1.0 - step.terminated) * state_value(state.value, step.next_observations)
    deltas = step.rewards + config.gamma * bootstrap - state_value(state.value, step.observations)  # 2.2.3
    deltas = jax.lax.stop_gradient(deltas)

    def value_surrogate(theta):  # its gradient is -mean delta grad v
        return -masked_mean(deltas * state_value(theta, step.observations), alive)

    value, value_state = gradient_step(
        value_opt,
        state.value,
        state.value_opt_state,  # 2.2.4
        jax.grad(value_surrogate)(state.value),
    )
    policy_grads = jax.grad(_policy_loss)(state.policy, step.observations, step.actions, deltas, alive)
    policy, policy_state = gradient_step(policy_opt, state.policy, state.policy_opt_state, policy_grads)  # 2.2.5
    # Once every copy's episode is over there is nothing to learn from: keep the state as it was
    # (an Adam step on a zero gradient would still move the parameters along its momentum).
    new_state = AgentState(policy, value, policy_state, value_state)
    any_alive = jnp.any(alive > 0)
    state = jax.tree_util.tree_map(lambda new, old: jnp.where(any_alive, new, old), new_state, state)
    return state, env_states, next_obs, step, alive * (1.0 - step.done)
