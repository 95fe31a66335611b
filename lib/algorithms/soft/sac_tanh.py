"""SAC as most code runs it: tanh-squashed actions with the change-of-variables correction, target
Q-networks instead of a value network, and the temperature tuned toward a target entropy;
`make_sac_tanh_agent` plugs it into `lib.loops.offpolicy.make_off_policy_train`."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lib.parts.nets import gradient_step, mlp_init, soft_update, twin_mlp_init, twin_q_apply, twin_squared_error
from lib.loops.offpolicy import OffPolicyAgent
from lib.parts.distributions import tanh_gaussian_sample
from lib.parts.policies import tanh_gaussian_mode
from lib.algorithms.soft.sac_shared import (
    SACConfig,
    _networks,
    _policy_head,
    sac_optimizers,
    sac_policy_loss,
    sac_value_target,
)
from lib.algorithms.soft.smooth_bellman import check_temperature


# ------------------------------------ the common variant: tanh squashing, automatic temperature


class SACTanhState(NamedTuple):
    policy: Any
    q: Any  # theta^1, theta^2 (stacked)
    q_target: Any  # theta-bar^1, theta-bar^2
    log_temperature: jax.Array  # log alpha
    learn_temperature: jax.Array  # bool: tune alpha (an array, so tuned and fixed runs vmap together)
    policy_opt_state: Any
    q_opt_state: Any
    temperature_opt_state: Any


def _tanh_sample(env, config, policy_params, observation, key):
    mean, log_std = _policy_head(config, policy_params, observation)
    return tanh_gaussian_sample(key, mean, log_std, env.action_low, env.action_high)


def sac_tanh_init(key, env, config, temperature=None, learn_temperature=None):
    """Random theta^1, theta^2, phi; theta-bar <- theta; log alpha from `temperature` (default config.temperature).

    `learn_temperature` (default config.learn_temperature) may be a traced bool when vmapping over settings.
    """
    temperature = config.temperature if temperature is None else temperature
    learn_temperature = config.learn_temperature if learn_temperature is None else learn_temperature
    check_temperature(temperature)
    nets, optimizers = _networks(env, config), sac_optimizers(config)
    key_pi, key_q = jax.random.split(key)
    policy, q = mlp_init(key_pi, nets.policy_sizes), twin_mlp_init(key_q, nets.q_sizes)
    log_temperature = jnp.log(jnp.asarray(temperature, jnp.float32))
    return SACTanhState(
        policy,
        q,
        q,
        log_temperature,
        jnp.asarray(learn_temperature, bool),
        optimizers.policy.init(policy),
        optimizers.q.init(q),
        optimizers.temperature.init(log_temperature),
    )


def sac_tanh_update(env, config, state, batch, key):
    """SAC as most code runs it: tanh-squashed Gaussian actions, target Q-networks, learned temperature.

    Differences from the book's box (`sac_update`): actions are a = squash(u), u ~ N(mu, sigma^2), whose
    log-density includes the change-of-variables term -sum log(1 - tanh(u)^2) (lib.parts.distributions); there is no
    value network: the target is y = r + gamma (min_j q-bar^j(s', a') - alpha log d(a'|s')) with a' ~ d(.|s')
    and Polyak-averaged Q targets; the policy minimizes alpha log d - min_j q^j; and when
    state.learn_temperature is set (from config.learn_temperature), log alpha descends
    -log alpha (log d + H_target), raising alpha while the policy's entropy is below the target
    H_target and lowering it above.
    """
    s, a, r, s_next, terminated = batch
    alpha = jnp.exp(state.log_temperature)
    target_entropy = -float(env.action_size) if config.target_entropy is None else config.target_entropy
    optimizers = sac_optimizers(config)
    key_next, key_pi = jax.random.split(key)

    # Critic: soft target with a sampled next action and the log-density correction of the squash.
    a_next, log_d_next = _tanh_sample(env, config, state.policy, s_next, key_next)
    soft_next = sac_value_target(state.q_target, s_next, a_next, log_d_next, alpha)
    y = jax.lax.stop_gradient(r + config.gamma * (1.0 - terminated) * soft_next)
    q_loss, q_grad = jax.value_and_grad(lambda theta: twin_squared_error(theta, s, a, y))(state.q)
    q, q_opt_state = gradient_step(optimizers.q, state.q, state.q_opt_state, q_grad)

    # Actor: reparameterized squashed action, descend mean(alpha log d - min_j q^j).
    def policy_loss_fn(phi):
        action, log_prob = _tanh_sample(env, config, phi, s, key_pi)
        return sac_policy_loss(jnp.min(twin_q_apply(q, s, action), axis=0), log_prob, alpha), log_prob

    (policy_loss, log_prob), policy_grad = jax.value_and_grad(policy_loss_fn, has_aux=True)(state.policy)
    policy, policy_opt_state = gradient_step(optimizers.policy, state.policy, state.policy_opt_state, policy_grad)

    # Temperature: move alpha so that the policy's entropy -E[log d] tracks the target.
    entropy_gap = jax.lax.stop_gradient(jnp.mean(log_prob) + target_entropy)
    temperature_grad = jnp.where(state.learn_temperature, -entropy_gap, 0.0)
    log_temperature, temperature_opt_state = gradient_step(
        optimizers.temperature, state.log_temperature, state.temperature_opt_state, temperature_grad
    )

    q_target = soft_update(state.q_target, q, config.tau)
    metrics = {"q_loss": q_loss, "policy_loss": policy_loss, "entropy": -jnp.mean(log_prob), "temperature": alpha}
    return SACTanhState(
        policy,
        q,
        q_target,
        log_temperature,
        state.learn_temperature,
        policy_opt_state,
        q_opt_state,
        temperature_opt_state,
    ), metrics


def make_sac_tanh_agent(env, config=SACConfig(), temperature=None, learn_temperature=None):
    """The common SAC variant as an OffPolicyAgent; greedy acts squash(mu(s)).

    `temperature` sets the initial alpha and `learn_temperature` whether it is tuned, overriding the
    config's fields; both may be arrays (traced under vmap), so runs with a tuned temperature and runs
    at several fixed temperatures compile as one program.
    """
    if env.discrete:
        raise ValueError("env must have continuous actions for SAC, got a discrete action space")
    if temperature is not None:
        check_temperature(temperature)

    def act(state, obs, key):
        action, _ = _tanh_sample(env, config, state.policy, obs, key)
        return action, state

    def greedy(state, obs):
        mean, _ = _policy_head(config, state.policy, obs)
        return tanh_gaussian_mode(mean, env.action_low, env.action_high)

    return OffPolicyAgent(
        init=lambda key: sac_tanh_init(key, env, config, temperature, learn_temperature),
        act=act,
        greedy=greedy,
        update=lambda state, batch, key: sac_tanh_update(env, config, state, batch, key),
    )
