"""Algorithm 22.1 as the book prints it: twin Q-networks, a value network with a target copy, a
reparameterized Gaussian policy and a fixed temperature; `make_sac_agent` plugs it into
`lib.loops.offpolicy.make_off_policy_train`."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lib.parts.nets import (
    first_q_apply,
    gradient_step,
    mlp_apply,
    mlp_init,
    soft_update,
    twin_mlp_init,
    twin_squared_error,
)
from lib.loops.offpolicy import OffPolicyAgent
from lib.parts.distributions import gaussian_log_prob, gaussian_sample
from lib.parts.policies import squash_to_box
from lib.algorithms.soft.sac_shared import (
    SACConfig,
    _networks,
    _policy_head,
    sac_optimizers,
    sac_policy_loss,
    sac_value_target,
)
from lib.algorithms.soft.smooth_bellman import check_temperature


# ---------------------------------------------------------------- Algorithm 22.1, as in the box


class SACState(NamedTuple):
    policy: Any  # phi
    q: Any  # theta^1, theta^2 (stacked)
    value: Any  # psi
    value_target: Any  # psi-bar
    log_temperature: jax.Array  # log alpha, fixed during training
    policy_opt_state: Any
    q_opt_state: Any
    value_opt_state: Any


def gaussian_policy(env, config, policy_params, observation):
    """(mu, log sigma) of the box's Gaussian policy; mu = centre + half-width tanh(.) stays inside the bounds."""
    mean, log_std = _policy_head(config, policy_params, observation)
    return squash_to_box(mean, env.action_low, env.action_high), log_std


def _gaussian_sample(env, config, policy_params, observation, key):
    mean, log_std = gaussian_policy(env, config, policy_params, observation)
    action = gaussian_sample(key, mean, log_std)
    return action, gaussian_log_prob(mean, log_std, action)


def sac_init(key, env, config, temperature=None):
    """Random theta^1, theta^2, psi, phi; psi-bar <- psi; Adam states. `temperature` overrides config.temperature."""
    temperature = config.temperature if temperature is None else temperature
    check_temperature(temperature)
    nets, optimizers = _networks(env, config), sac_optimizers(config)
    key_pi, key_q, key_v = jax.random.split(key, 3)
    policy, q = mlp_init(key_pi, nets.policy_sizes), twin_mlp_init(key_q, nets.q_sizes)
    value = mlp_init(key_v, nets.value_sizes)
    return SACState(
        policy,
        q,
        value,
        value,
        jnp.log(jnp.asarray(temperature, jnp.float32)),
        optimizers.policy.init(policy),
        optimizers.q.init(q),
        optimizers.value.init(value),
    )


def sac_update(env, config, state, batch, key):
    """Algorithm 22.1: one SAC update (value network, twin Q-networks, Gaussian policy, target value network).

    Symbols: alpha = exp(state.log_temperature) (fixed), gamma = config.gamma, tau = config.tau.
    Two readings of the printed box: the value target is formed at the states s_i whose value
    v(s_i; psi) is regressed (the box's s' there would regress v(s_i) on a quantity of s'), and the
    policy step *descends* alpha log d - q^1 (it minimizes the KL to the Boltzmann policy; the box's
    "ascent" on this sum would maximize it). Terminal transitions do not bootstrap.
    """
    s, a, r, s_next, terminated = batch
    alpha = jnp.exp(state.log_temperature)
    optimizers = sac_optimizers(config)
    key_v, key_pi = jax.random.split(key)

    # Update value network: y_v = E_{a'~d(.|s; phi)}[min_j q^j(s, a') - alpha log d(a'|s)], one sample per s_i.
    a_new, log_d = _gaussian_sample(env, config, state.policy, s, key_v)
    y_v = jax.lax.stop_gradient(sac_value_target(state.q, s, a_new, log_d, alpha))
    value_loss, value_grad = jax.value_and_grad(lambda psi: jnp.mean((mlp_apply(psi, s)[:, 0] - y_v) ** 2))(state.value)
    value, value_opt_state = gradient_step(optimizers.value, state.value, state.value_opt_state, value_grad)

    # Update Q-networks: y_q = r + gamma v(s'; psi-bar), both regressed on the stored (s_i, a_i).
    y_q = r + config.gamma * (1.0 - terminated) * mlp_apply(state.value_target, s_next)[:, 0]
    q_loss, q_grad = jax.value_and_grad(lambda theta: twin_squared_error(theta, s, a, y_q))(state.q)
    q, q_opt_state = gradient_step(optimizers.q, state.q, state.q_opt_state, q_grad)

    # Update policy network: reparameterized a = mu + sigma eps, descend mean(alpha log d(a|s_i) - q^1(s_i, a)).
    def policy_loss_fn(phi):
        action, log_prob = _gaussian_sample(env, config, phi, s, key_pi)
        return sac_policy_loss(first_q_apply(q, s, action), log_prob, alpha), -jnp.mean(log_prob)

    (policy_loss, entropy), policy_grad = jax.value_and_grad(policy_loss_fn, has_aux=True)(state.policy)
    policy, policy_opt_state = gradient_step(optimizers.policy, state.policy, state.policy_opt_state, policy_grad)

    # Update target value network: psi-bar <- tau psi + (1 - tau) psi-bar.
    value_target = soft_update(state.value_target, value, config.tau)

    metrics = {
        "q_loss": q_loss,
        "value_loss": value_loss,
        "policy_loss": policy_loss,
        "entropy": entropy,
        "temperature": alpha,
    }
    return SACState(
        policy, q, value, value_target, state.log_temperature, policy_opt_state, q_opt_state, value_opt_state
    ), metrics


def make_sac_agent(env, config=SACConfig(), temperature=None):
    """The box's SAC (`sac_update`) as an OffPolicyAgent.

    act samples a ~ d(.|s) and clips it to the bounds; greedy acts mu(s).
    """
    if env.discrete:
        raise ValueError("env must have continuous actions for SAC, got a discrete action space")
    if temperature is not None:
        check_temperature(temperature)

    def act(state, obs, key):
        action, _ = _gaussian_sample(env, config, state.policy, obs, key)
        return jnp.clip(action, env.action_low, env.action_high), state

    def greedy(state, obs):
        return gaussian_policy(env, config, state.policy, obs)[0]

    return OffPolicyAgent(
        init=lambda key: sac_init(key, env, config, temperature),
        act=act,
        greedy=greedy,
        update=lambda state, batch, key: sac_update(env, config, state, batch, key),
    )
