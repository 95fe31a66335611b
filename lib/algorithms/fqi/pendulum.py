"""The same code on a nonlinear task, Pendulum-v1: `PendulumFeatures` (radial basis functions times a
polynomial in the torque), the base points drawn from lib.problems.envs' dynamics, and the greedy and amortized
policies as functions of an observation."""

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from lib.problems import envs
from lib.core.config import check_positive_int, check_range
from lib.algorithms.fqi.maximizer import greedy_actions, policy_actions
from lib.parts.replay import Transition


# ----------------------------------------------------------------------------------- features
@dataclass(frozen=True)
class PendulumFeatures:
    """Pendulum state s = (angle, angular velocity). psi(s): normalized radial basis functions on a
    num_angle x num_velocity grid (periodic in the angle). phi(s, a) = psi(s) (x) [1, a/2, (a/2)^2, ...]
    up to action_degree, so q is a polynomial in the torque at every state."""

    num_angle: int = 11
    num_velocity: int = 9
    action_degree: int = 2
    action_size: int = 1

    def __post_init__(self):
        check_range("num_angle", self.num_angle, 2)
        check_positive_int("num_angle", self.num_angle)
        check_range("num_velocity", self.num_velocity, 2)
        check_positive_int("num_velocity", self.num_velocity)
        check_positive_int("action_degree", self.action_degree)

    @property
    def size(self):
        return self.num_angle * self.num_velocity * (self.action_degree + 1)

    def state(self, s):
        angles = jnp.linspace(-jnp.pi, jnp.pi, self.num_angle, endpoint=False)
        speed = envs.PENDULUM_MAX_SPEED
        velocities = jnp.linspace(-speed, speed, self.num_velocity)
        kappa = (self.num_angle / (2 * jnp.pi)) ** 2  # width ~ one angle spacing
        width = 2 * speed / (self.num_velocity - 1)
        angle_part = jnp.exp(kappa * (jnp.cos(s[0] - angles) - 1.0))
        velocity_part = jnp.exp(-0.5 * ((s[1] - velocities) / width) ** 2)
        bumps = jnp.outer(angle_part, velocity_part).reshape(-1)
        return bumps / jnp.sum(bumps)

    def joint(self, psi, a):
        return jnp.outer(psi, self._powers(a)).reshape(-1)

    def value(self, theta, psi, a):
        # the same number as joint(psi, a) @ theta, with psi contracted first: one small
        # polynomial in a per state, which maximize can then evaluate cheaply many times
        return (psi @ theta.reshape(psi.shape[0], -1)) @ self._powers(a)

    def _powers(self, a):
        return (a[0] / envs.PENDULUM_MAX_TORQUE) ** jnp.arange(self.action_degree + 1)


# ----------------------------------------------------------------------------- Pendulum helpers
def pendulum_base_points(key, num_points):
    """B for Pendulum-v1: (angle, velocity) ~ U[-pi, pi] x U[-8, 8], torque ~ U[-2, 2], one step of
    lib.problems.envs' Pendulum (the gymnasium dynamics and reward); states are (angle, velocity) pairs."""
    check_positive_int("num_points", num_points)
    return _pendulum_transitions(key, num_points)


@partial(jax.jit, static_argnames="num_points")
def _pendulum_transitions(key, num_points):
    env = envs.make("Pendulum-v1")
    key_s, key_a = jax.random.split(key)
    high = jnp.array([jnp.pi, envs.PENDULUM_MAX_SPEED])
    physics = jax.random.uniform(key_s, (num_points, 2), minval=-high, maxval=high)
    actions = jax.random.uniform(key_a, (num_points, 1), minval=-env.action_high, maxval=env.action_high)

    def one(p, a):
        state, _, reward, terminated, _ = env.step(envs.state_from_physics(p), a)
        return state.physics.at[0].set(envs.angle_normalize(state.physics[0])), reward, terminated

    next_physics, rewards, terminated = jax.vmap(one)(physics, actions)
    return Transition(physics, actions, rewards, next_physics, terminated)


def pendulum_state(observation):
    """(angle, velocity) from a Pendulum observation (cos, sin, velocity)."""
    return jnp.stack([jnp.arctan2(observation[1], observation[0]), observation[2]])


def pendulum_greedy_policy(features, theta, config):
    """obs -> maximize(q(s, .; theta)) for one Pendulum observation: the greedy policy of a fitted Q."""
    return lambda obs: greedy_actions(features, theta, pendulum_state(obs)[None], config)[0]


def pendulum_amortized_policy(features, w, config):
    """obs -> d(s; w) = clip(psi(s)^T w, low, high) for one Pendulum observation: Algorithm 20.2's policy."""
    return lambda obs: policy_actions(features, w, pendulum_state(obs)[None], config)[0]
