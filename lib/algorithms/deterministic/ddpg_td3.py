"""DDPG (Algorithm 21.2) and TD3 (Algorithm 21.3) as `OffPolicyAgent`s, and what the two share."""

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lib.core.config import check_positive, check_positive_int, check_range
from lib.algorithms.deterministic.noise import _check_ou, ou_step
from lib.parts.nets import (
    check_hidden_widths,
    first_q_apply,
    gradient_step,
    mlp_apply,
    mlp_init,
    q_apply,
    soft_update,
    twin_mlp_init,
    twin_q_apply,
    twin_squared_error,
)
from lib.loops.offpolicy import OffPolicyAgent
from lib.parts.policies import box_center_and_half_width, squash_to_box
from lib.parts.replay import not_terminal


# ------------------------------------------------------------------ what DDPG and TD3 share
def policy_action(env, policy, obs):
    """d(s; w) = center + scale * tanh(mlp(s; w)), inside the action box [low, high]."""
    return squash_to_box(mlp_apply(policy, obs), env.action_low, env.action_high)


def _action_scale(env):
    return box_center_and_half_width(env.action_low, env.action_high)[1]


def _check_networks(config):
    check_range("gamma", config.gamma, 0.0, 1.0, high_open=True)
    check_hidden_widths(config, "policy_hidden", "q_hidden")
    check_positive("policy_learning_rate", config.policy_learning_rate)
    check_positive("q_learning_rate", config.q_learning_rate)
    check_range("tau", config.tau, 0.0, 1.0, low_open=True)


class ActorCriticOptimizers(NamedTuple):
    policy: Any  # Adam at alpha_d, for w
    q: Any  # Adam at alpha_q, for theta (both twins at once in TD3)


def actor_critic_optimizers(config):
    """The two optimizers of a DDPG or TD3 config: the one definition that init and update both use."""
    return ActorCriticOptimizers(optax.adam(config.policy_learning_rate), optax.adam(config.q_learning_rate))


def _check_continuous(env):
    if env.discrete:
        raise ValueError(f"env must have continuous actions, got {env.name}")
    box_center_and_half_width(env.action_low, env.action_high)


# ------------------------------------------------------------------ DDPG (Algorithm 21.2)
@dataclass(frozen=True)
class DDPGConfig:
    gamma: float = 0.99  # discount, in [0, 1)
    policy_hidden: tuple = (64, 64)  # hidden widths of d(s; w), positive ints (a list is accepted)
    q_hidden: tuple = (64, 64)  # hidden widths of q(s, a; theta), positive ints
    policy_learning_rate: float = 1e-3  # alpha_d (Adam), > 0
    q_learning_rate: float = 1e-3  # alpha_q (Adam), > 0
    tau: float = 0.005  # target rate in (0, 1]: target <- tau online + (1 - tau) target
    target_period: int = 1  # K: targets move every K updates (tau = 1, K > 1: the box's copy)
    ou_theta: float = 0.15  # OU pull towards 0, > 0
    ou_sigma: float = 0.3  # OU diffusion, >= 0, in units of the action half-width
    ou_dt: float = 0.05  # Euler-Maruyama step (Pendulum's dt), 0 < theta dt < 2

    def __post_init__(self):
        _check_networks(self)
        check_positive_int("target_period", self.target_period)
        _check_ou(self.ou_theta, self.ou_sigma, self.ou_dt, prefix="ou_")


class DDPGState(NamedTuple):
    policy: Any  # w
    q: Any  # theta
    policy_target: Any  # w_target
    q_target: Any  # theta_target
    policy_opt_state: Any
    q_opt_state: Any
    noise: jax.Array  # the OU state N_t, advanced by every call of `act`
    step: jax.Array  # n, the number of updates so far


def ddpg_update(env, config, state, batch):
    """Algorithm 21.2: one DDPG update (steps 6-10 of the box) on a mini-batch of b transitions from R.

    The buffer, the noisy action of steps 1-4 and the mini-batch of step 5 come from
    `lib.loops.offpolicy`; `make_ddpg_agent` wires this function in (DDPG's update draws no noise, so it
    takes no key). Returns (state, metrics).
    """
    optimizers = actor_critic_optimizers(config)

    # 6. y_i = r_i + gamma q(s'_i, d(s'_i; w_target); theta_target)  (no bootstrap past a terminal state)
    next_actions = policy_action(env, state.policy_target, batch.next_observation)
    next_q = q_apply(state.q_target, batch.next_observation, next_actions)
    y = batch.reward + config.gamma * not_terminal(batch) * next_q

    # 7. theta_{n+1} <- theta_n - alpha_q grad (1/b) sum_i (y_i - q(s_i, a_i; theta))^2
    def q_loss(theta):
        return jnp.mean((y - q_apply(theta, batch.observation, batch.action)) ** 2)

    loss_q, grad_q = jax.value_and_grad(q_loss)(state.q)
    q, q_opt_state = gradient_step(optimizers.q, state.q, state.q_opt_state, grad_q)

    # 8. w_{n+1} <- w_n + alpha_d (1/b) sum_i grad_a q(s_i, a; theta_{n+1}) grad_w d(s_i; w): autodiff's chain rule
    def policy_loss(w):
        return -jnp.mean(q_apply(q, batch.observation, policy_action(env, w, batch.observation)))

    loss_d, grad_d = jax.value_and_grad(policy_loss)(state.policy)
    policy, policy_opt_state = gradient_step(optimizers.policy, state.policy, state.policy_opt_state, grad_d)

    # 9. if n mod K = 0: targets move towards the online networks (a copy when tau = 1)
    move = state.step % config.target_period == 0
    tau = jnp.where(move, config.tau, 0.0)
    q_target = soft_update(state.q_target, q, tau)
    policy_target = soft_update(state.policy_target, policy, tau)

    # 10. n <- n + 1
    state = DDPGState(policy, q, policy_target, q_target, policy_opt_state, q_opt_state, state.noise, state.step + 1)
    return state, {"q_loss": loss_q, "q_mean": -loss_d}


def _init_policy_and_q(key, env, config, q_init):
    """d(s; w) and the critic (`q_init`: one network or the twins) of the widths in `config`."""
    key_policy, key_q = jax.random.split(key)
    policy = mlp_init(key_policy, [env.observation_size, *config.policy_hidden, env.action_size])
    return policy, q_init(key_q, [env.observation_size + env.action_size, *config.q_hidden, 1])


def make_ddpg_agent(env, config=DDPGConfig()):
    """DDPG as an OffPolicyAgent: exploratory action d(s; w) + scale * N_t with N the OU process."""
    _check_continuous(env)
    scale = _action_scale(env)
    optimizers = actor_critic_optimizers(config)

    def init(key):
        policy, q = _init_policy_and_q(key, env, config, mlp_init)
        return DDPGState(
            policy,
            q,
            policy,
            q,
            optimizers.policy.init(policy),
            optimizers.q.init(q),
            jnp.zeros(env.action_size),
            jnp.array(0, jnp.int32),
        )

    def act(state, obs, key):
        noise = ou_step(state.noise, key, config.ou_theta, config.ou_sigma, config.ou_dt)
        action = jnp.clip(policy_action(env, state.policy, obs) + scale * noise, env.action_low, env.action_high)
        return action, state._replace(noise=noise)

    def greedy(state, obs):
        return policy_action(env, state.policy, obs)

    def update(state, batch, key):
        return ddpg_update(env, config, state, batch)

    return OffPolicyAgent(init, act, greedy, update)


# ------------------------------------------------------------------ TD3 (Algorithm 21.3)
@dataclass(frozen=True)
class TD3Config:
    gamma: float = 0.99  # discount, in [0, 1)
    policy_hidden: tuple = (64, 64)  # hidden widths of d(s; w), positive ints (a list is accepted)
    q_hidden: tuple = (64, 64)  # hidden widths of each of q^A, q^B, positive ints
    policy_learning_rate: float = 1e-3  # alpha_d (Adam), > 0
    q_learning_rate: float = 1e-3  # alpha_q (Adam), > 0
    tau: float = 0.005  # soft target rate, in (0, 1]
    policy_delay: int = 2  # d: one policy and target update every d critic updates
    target_noise: float = 0.2  # sigma of the target smoothing noise, >= 0 (action half-widths)
    noise_clip: float = 0.5  # c: the smoothing noise is clipped to [-c, c], >= 0
    explore_noise: float = 0.1  # sigma_explore of the Gaussian exploration noise, >= 0

    def __post_init__(self):
        _check_networks(self)
        check_positive_int("policy_delay", self.policy_delay)
        check_range("target_noise", self.target_noise, 0.0)
        check_range("noise_clip", self.noise_clip, 0.0)
        check_range("explore_noise", self.explore_noise, 0.0)


class TD3State(NamedTuple):
    policy: Any  # w
    q: Any  # (theta^A, theta^B) stacked on a leading axis of 2
    policy_target: Any
    q_target: Any
    policy_opt_state: Any
    q_opt_state: Any
    step: jax.Array  # n


def td3_target(batch, noise, target_policy, target_critics, gamma, noise_clip, action_low, action_high):
    """Step 6 of Algorithm 21.3 on its own: a~_i = d(s'_i; w_target) + clip(noise_i, -c, c) (kept in the
    action box), y_i = r_i + gamma min(q^A, q^B)(s'_i, a~_i).

    noise: the unclipped N(0, sigma^2) draws, shaped like the actions; target_policy(s') -> actions;
    target_critics(s', a) -> (q^A, q^B) stacked on a leading axis.
    """
    smoothed = target_policy(batch.next_observation) + jnp.clip(noise, -noise_clip, noise_clip)
    smoothed = jnp.clip(smoothed, action_low, action_high)
    q_target = jnp.min(target_critics(batch.next_observation, smoothed), axis=0)
    return batch.reward + gamma * not_terminal(batch) * q_target


def td3_policy_loss(env, q, policy, observation):
    """Step 8's objective, negated: -(1/b) sum_i q^A(s_i, d(s_i; w)); descending it ascends q^A."""
    return -jnp.mean(first_q_apply(q, observation, policy_action(env, policy, observation)))


def td3_update(env, config, state, batch, key):
    """Algorithm 21.3: one TD3 update (steps 6-9 of the box) on a mini-batch of b transitions from R.

    The Gaussian exploration of step 2 and the buffer of steps 3-5 live in `make_td3_agent` and
    `lib.loops.offpolicy`. Returns (state, metrics).
    """
    optimizers = actor_critic_optimizers(config)
    scale = _action_scale(env)

    # 6. targets from the smoothed target action and the smaller of the two target critics
    noise = config.target_noise * scale * jax.random.normal(key, batch.action.shape)
    y = td3_target(
        batch,
        noise,
        lambda s: policy_action(env, state.policy_target, s),
        lambda s, a: twin_q_apply(state.q_target, s, a),
        config.gamma,
        config.noise_clip * scale,
        env.action_low,
        env.action_high,
    )

    # 7. both critics regress on the same y: the loss is the sum of their two mean squared errors
    loss_q, grad_q = jax.value_and_grad(twin_squared_error)(state.q, batch.observation, batch.action, y)
    q_mean = jnp.mean(first_q_apply(state.q, batch.observation, batch.action))
    q, q_opt_state = gradient_step(optimizers.q, state.q, state.q_opt_state, grad_q)

    # 8. if n mod d = 0: the policy ascends q^A, then all three targets move softly (rate tau)
    def delayed_update(operand):
        policy, policy_opt_state, policy_target, q_target = operand
        grad_d = jax.grad(lambda w: td3_policy_loss(env, q, w, batch.observation))(policy)
        policy, policy_opt_state = gradient_step(optimizers.policy, policy, policy_opt_state, grad_d)
        return (
            policy,
            policy_opt_state,
            soft_update(policy_target, policy, config.tau),
            soft_update(q_target, q, config.tau),
        )

    policy, policy_opt_state, policy_target, q_target = jax.lax.cond(
        state.step % config.policy_delay == 0,
        delayed_update,
        lambda operand: operand,
        (state.policy, state.policy_opt_state, state.policy_target, state.q_target),
    )

    # 9. n <- n + 1
    state = TD3State(policy, q, policy_target, q_target, policy_opt_state, q_opt_state, state.step + 1)
    return state, {"q_loss": loss_q, "q_mean": q_mean}


def make_td3_agent(env, config=TD3Config()):
    """TD3 as an OffPolicyAgent: exploratory action d(s; w) + eps, eps ~ N(0, (scale sigma_explore)^2)."""
    _check_continuous(env)
    scale = _action_scale(env)
    optimizers = actor_critic_optimizers(config)

    def init(key):
        policy, q = _init_policy_and_q(key, env, config, twin_mlp_init)
        return TD3State(
            policy, q, policy, q, optimizers.policy.init(policy), optimizers.q.init(q), jnp.array(0, jnp.int32)
        )

    def act(state, obs, key):
        eps = config.explore_noise * scale * jax.random.normal(key, (env.action_size,))
        return jnp.clip(policy_action(env, state.policy, obs) + eps, env.action_low, env.action_high), state

    def greedy(state, obs):
        return policy_action(env, state.policy, obs)

    def update(state, batch, key):
        return td3_update(env, config, state, batch, key)

    return OffPolicyAgent(init, act, greedy, update)
