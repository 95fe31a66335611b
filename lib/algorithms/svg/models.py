"""What a model-based gradient differentiates through: the reparameterized `Model` (the LQR's and
Pendulum's), the policies d(s; w) + sigma(s; w) eps and the critics q(s, a; theta)."""

import math
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp

from lib.problems import envs
from lib.core.config import check_positive, check_range
from lib.parts.distributions import gaussian_log_prob
from lib.problems.lqr import linear_policy
from lib.parts.nets import mlp_apply, mlp_init


# ------------------------------------------------------------------ models
@dataclass(frozen=True)
class Model:
    """s' = mean_fn(params, s, a) + noise_scale @ xi and r(s, a) = reward_fn(params, s, a).

    A pytree: `params` and `noise_scale` are arrays (a new noise level does not recompile), the
    three functions are static. `observe_fn(s)` is what the policy and the critic see of s.
    """

    mean_fn: Callable
    reward_fn: Callable
    observe_fn: Callable
    params: Any
    noise_scale: jax.Array  # Sigma, (state_size, state_size)

    def mean(self, s, a):
        return self.mean_fn(self.params, s, a)

    def reward(self, s, a):
        return self.reward_fn(self.params, s, a)

    def observe(self, s):
        return self.observe_fn(s)

    def step(self, s, a, xi):
        """s' = mu(s, a) + Sigma xi."""
        return self.mean(s, a) + self.noise_scale @ xi

    def log_density(self, s, a, s_next):
        """log p(s' | s, a) = log N(s'; mu(s, a), Sigma Sigma^T); Sigma must be invertible."""
        z = jnp.linalg.solve(self.noise_scale, s_next - self.mean(s, a))
        _, log_det = jnp.linalg.slogdet(self.noise_scale)
        return gaussian_log_prob(jnp.zeros_like(z), jnp.zeros_like(z), z) - log_det  # N(z; 0, I) - log|det Sigma|


jax.tree_util.register_dataclass(
    Model, data_fields=["params", "noise_scale"], meta_fields=["mean_fn", "reward_fn", "observe_fn"]
)


def _identity(s):
    return s


def _lqr_mean(params, x, u):
    A, B, _, _ = params
    return A @ x + B @ u


def _lqr_reward(params, x, u):
    _, _, Q, R = params
    return -(x @ Q @ x + u @ R @ u)


def _symmetric_sqrt(cov):
    values, vectors = jnp.linalg.eigh(0.5 * (cov + cov.T))
    return (vectors * jnp.sqrt(jnp.clip(values, 0.0))) @ vectors.T


def lqr_model(lqr, noise_std=None):
    """The LQR x' = A x + B u + Sigma xi as a Model (the policy observes x itself).

    Sigma is the symmetric square root of lqr.noise_cov, or noise_std * I when noise_std is given.
    """
    n = lqr.A.shape[0]
    if noise_std is None:
        scale = _symmetric_sqrt(lqr.noise_cov)
    else:
        check_range("noise_std", float(noise_std), 0.0)
        scale = noise_std * jnp.eye(n)
    return Model(_lqr_mean, _lqr_reward, _identity, (lqr.A, lqr.B, lqr.Q, lqr.R), scale)


def _pendulum_mean(params, physics, action):
    state, _, _, _, _ = envs.PENDULUM.step(envs.state_from_physics(physics), action)
    return state.physics


def _pendulum_reward(params, physics, action):
    return envs.PENDULUM.step(envs.state_from_physics(physics), action)[2]


def pendulum_observe(physics):
    """Pendulum-v1's observation (cos theta, sin theta, theta_dot) of the physics state."""
    return jnp.stack([jnp.cos(physics[0]), jnp.sin(physics[0]), physics[1]])


def pendulum_model(noise_std=0.0):
    """Pendulum-v1's differentiable physics (lib.problems.envs) on the state [theta, theta_dot], with
    additive Gaussian dynamics noise of standard deviation noise_std on both coordinates."""
    check_range("noise_std", float(noise_std), 0.0)
    return Model(_pendulum_mean, _pendulum_reward, pendulum_observe, (), noise_std * jnp.eye(2))


def pendulum_initial_state(key):
    """A start state s_0 ~ rho_0: Pendulum-v1's reset distribution."""
    return envs.PENDULUM.reset(key)[0].physics


# ------------------------------------------------------------------ policies and critics
def linear_gaussian_policy(params, obs):
    """u = -K x + sigma eps: mean -K x (`lib.problems.lqr.linear_policy` with w = -K), standard deviation
    exp(log_std) (state independent)."""
    mean = linear_policy(-params["gain"], obs)
    return mean, jnp.exp(params["log_std"]) * jnp.ones_like(mean)


def linear_gaussian_policy_params(gain, action_std):
    """Parameters {"gain": K, "log_std": log sigma} of `linear_gaussian_policy`."""
    gain = jnp.atleast_2d(jnp.asarray(gain, float))
    check_positive("action_std", float(action_std))
    return {"gain": gain, "log_std": jnp.full((gain.shape[0],), math.log(action_std))}


def pendulum_policy(params, obs):
    """d(s; w) = 2 tanh(MLP(obs)) (Pendulum's torque range), sigma = exp(log_std)."""
    mean = envs.PENDULUM_MAX_TORQUE * jnp.tanh(mlp_apply(params["net"], obs, jnp.tanh))
    return mean, jnp.exp(params["log_std"]) * jnp.ones_like(mean)


def pendulum_policy_init(key, config):
    """A tanh policy for `pendulum_policy`: hidden widths config.policy_hidden, sigma = config.initial_action_std."""
    return {
        "net": mlp_init(key, [3, *config.policy_hidden, 1]),
        "log_std": jnp.full((1,), math.log(config.initial_action_std)),
    }


def quadratic_critic(critic_params, obs, a):
    """q(x, u) = -(z^T H z + c) with z = [x; u]: the form of every LQR Q-function."""
    H, c = critic_params
    z = jnp.concatenate([obs, a])
    return -(z @ H @ z + c)


def mlp_critic(critic_params, obs, a):
    """q(s, a; theta): an MLP on [obs, a]."""
    return mlp_apply(critic_params, jnp.concatenate([obs, a]))[0]
