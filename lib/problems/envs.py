"""Pure-JAX copies of three gymnasium classic-control tasks: Pendulum-v1, CartPole-v1 and
MountainCarContinuous-v0.

Every constant, clip, reward, termination rule and reset distribution follows gymnasium 1.x
(`gymnasium/envs/classic_control/`), and `truncated` is gymnasium's `TimeLimit`: true once
`max_episode_steps` steps have been taken. The tests step both side by side and compare.

An environment is a frozen dataclass of two pure functions,

    reset(key) -> (state, obs)
    step(state, action) -> (state, obs, reward, terminated, truncated)

so that whole rollouts jit-compile, vmap over seeds, and (for Pendulum) differentiate through
the dynamics. The physics runs in the dtype of `state.physics`: float32 by default, float64
when reset or built under `jax.enable_x64`; only the observation is cast to float32.
Unlike gymnasium, `step` keeps going after termination (CartPole still pays +1); a rollout
should mask or reset on `terminated | truncated`.
"""

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class EnvState(NamedTuple):
    """physics: the same layout as gymnasium's `env.unwrapped.state`
    (Pendulum [theta, theta_dot]; CartPole [x, x_dot, theta, theta_dot];
    MountainCar [position, velocity]). time: int32 steps taken in this episode."""

    physics: jax.Array
    time: jax.Array


@dataclass(frozen=True)
class Environment:
    """A task as two pure functions plus its sizes. Hashable: pass it as a static argument.

    action_size is the action dimension for a continuous task and the number of actions for a
    discrete one; action_low/action_high are the Box bounds (0 and action_size - 1 if discrete).
    """

    name: str
    observation_size: int
    action_size: int
    discrete: bool
    action_low: float
    action_high: float
    max_episode_steps: int
    reset: Callable
    step: Callable


def state_from_physics(physics):
    """An EnvState at time 0 from a physics array, e.g. gymnasium's `env.unwrapped.state`."""
    return EnvState(jnp.asarray(physics), jnp.zeros((), jnp.int32))


def check_continuous_action(name, action, size):
    """A Box action must have shape (size,): checked from the shape, so it holds under jit too."""
    if jnp.shape(action) != (size,):
        raise ValueError(f"{name}: action must have shape ({size},), got shape {jnp.shape(action)}")
    return jnp.asarray(action)


def check_discrete_action(name, action, num_actions):
    """A Discrete(n) action must be an integer scalar in {0, ..., n - 1}, as gymnasium requires.

    The dtype and shape are checked always; the value where it is concrete (outside jit).
    """
    action = jnp.asarray(action)
    if action.shape != () or not jnp.issubdtype(action.dtype, jnp.integer):
        raise ValueError(
            f"{name}: action must be an integer scalar in [0, {num_actions - 1}], "
            f"got {action.dtype} of shape {action.shape}"
        )
    if not isinstance(action, jax.core.Tracer) and not 0 <= int(action) < num_actions:
        raise ValueError(f"{name}: action must be in [0, {num_actions - 1}], got {int(action)}")
    return action


def _advance(state, physics, obs, reward, terminated, max_episode_steps):
    time = state.time + 1
    return (
        EnvState(physics, time),
        obs.astype(jnp.float32),
        reward,
        jnp.asarray(terminated, bool),
        time >= max_episode_steps,
    )


# ---------------------------------------------------------------- Pendulum-v1
PENDULUM_MAX_SPEED = 8.0
PENDULUM_MAX_TORQUE = 2.0
PENDULUM_DT = 0.05
PENDULUM_G = 10.0
PENDULUM_M = 1.0
PENDULUM_L = 1.0


def angle_normalize(theta):
    """Wrap an angle into [-pi, pi), 0 being upright."""
    return jnp.mod(theta + jnp.pi, 2 * jnp.pi) - jnp.pi


def _pendulum_obs(physics):
    theta, theta_dot = physics
    return jnp.stack([jnp.cos(theta), jnp.sin(theta), theta_dot])


def _pendulum_reset(key):
    high = jnp.array([jnp.pi, 1.0])
    physics = jax.random.uniform(key, (2,), minval=-high, maxval=high)
    return state_from_physics(physics), _pendulum_obs(physics).astype(jnp.float32)


def _pendulum_step(state, action):
    g, m, l, dt = PENDULUM_G, PENDULUM_M, PENDULUM_L, PENDULUM_DT
    theta, theta_dot = state.physics
    action = check_continuous_action("Pendulum-v1", action, 1)
    u = jnp.clip(action, -PENDULUM_MAX_TORQUE, PENDULUM_MAX_TORQUE)[0]
    costs = angle_normalize(theta) ** 2 + 0.1 * theta_dot**2 + 0.001 * u**2
    new_theta_dot = theta_dot + (3 * g / (2 * l) * jnp.sin(theta) + 3.0 / (m * l**2) * u) * dt
    new_theta_dot = jnp.clip(new_theta_dot, -PENDULUM_MAX_SPEED, PENDULUM_MAX_SPEED)
    new_theta = theta + new_theta_dot * dt
    physics = jnp.stack([new_theta, new_theta_dot])
    return _advance(state, physics, _pendulum_obs(physics), -costs, False, PENDULUM.max_episode_steps)


PENDULUM = Environment(
    "Pendulum-v1", 3, 1, False, -PENDULUM_MAX_TORQUE, PENDULUM_MAX_TORQUE, 200, _pendulum_reset, _pendulum_step
)


# ---------------------------------------------------------------- CartPole-v1
CARTPOLE_GRAVITY = 9.8
CARTPOLE_MASSCART = 1.0
CARTPOLE_MASSPOLE = 0.1
CARTPOLE_TOTAL_MASS = CARTPOLE_MASSPOLE + CARTPOLE_MASSCART
CARTPOLE_LENGTH = 0.5  # half the pole's length
CARTPOLE_POLEMASS_LENGTH = CARTPOLE_MASSPOLE * CARTPOLE_LENGTH
CARTPOLE_FORCE_MAG = 10.0
CARTPOLE_TAU = 0.02
CARTPOLE_THETA_THRESHOLD = 12 * 2 * math.pi / 360
CARTPOLE_X_THRESHOLD = 2.4


def _cartpole_reset(key):
    physics = jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)
    return state_from_physics(physics), physics.astype(jnp.float32)


def _cartpole_step(state, action):
    x, x_dot, theta, theta_dot = state.physics
    action = check_discrete_action("CartPole-v1", action, 2)
    force = jnp.where(action == 1, CARTPOLE_FORCE_MAG, -CARTPOLE_FORCE_MAG)
    costheta, sintheta = jnp.cos(theta), jnp.sin(theta)
    temp = (force + CARTPOLE_POLEMASS_LENGTH * theta_dot**2 * sintheta) / CARTPOLE_TOTAL_MASS
    thetaacc = (CARTPOLE_GRAVITY * sintheta - costheta * temp) / (
        CARTPOLE_LENGTH * (4.0 / 3.0 - CARTPOLE_MASSPOLE * costheta**2 / CARTPOLE_TOTAL_MASS)
    )
    xacc = temp - CARTPOLE_POLEMASS_LENGTH * thetaacc * costheta / CARTPOLE_TOTAL_MASS
    # Explicit Euler, gymnasium's default integrator: positions move with the old velocities.
    x = x + CARTPOLE_TAU * x_dot
    x_dot = x_dot + CARTPOLE_TAU * xacc
    theta = theta + CARTPOLE_TAU * theta_dot
    theta_dot = theta_dot + CARTPOLE_TAU * thetaacc
    physics = jnp.stack([x, x_dot, theta, theta_dot])
    terminated = (
        (x < -CARTPOLE_X_THRESHOLD)
        | (x > CARTPOLE_X_THRESHOLD)
        | (theta < -CARTPOLE_THETA_THRESHOLD)
        | (theta > CARTPOLE_THETA_THRESHOLD)
    )
    reward = jnp.ones((), physics.dtype)  # +1 every step, the terminating one included
    return _advance(state, physics, physics, reward, terminated, CARTPOLE.max_episode_steps)


CARTPOLE = Environment("CartPole-v1", 4, 2, True, 0.0, 1.0, 500, _cartpole_reset, _cartpole_step)


# ---------------------------------------------------------------- MountainCarContinuous-v0
MOUNTAINCAR_MIN_ACTION = -1.0
MOUNTAINCAR_MAX_ACTION = 1.0
MOUNTAINCAR_MIN_POSITION = -1.2
MOUNTAINCAR_MAX_POSITION = 0.6
MOUNTAINCAR_MAX_SPEED = 0.07
MOUNTAINCAR_GOAL_POSITION = 0.45
MOUNTAINCAR_GOAL_VELOCITY = 0.0
MOUNTAINCAR_POWER = 0.0015


def _mountaincar_reset(key):
    position = jax.random.uniform(key, (), minval=-0.6, maxval=-0.4)
    physics = jnp.stack([position, jnp.zeros_like(position)])
    return state_from_physics(physics), physics.astype(jnp.float32)


def _mountaincar_step(state, action):
    position, velocity = state.physics
    action = check_continuous_action("MountainCarContinuous-v0", action, 1)
    force = jnp.clip(action[0], MOUNTAINCAR_MIN_ACTION, MOUNTAINCAR_MAX_ACTION)
    velocity = velocity + force * MOUNTAINCAR_POWER - 0.0025 * jnp.cos(3 * position)
    velocity = jnp.clip(velocity, -MOUNTAINCAR_MAX_SPEED, MOUNTAINCAR_MAX_SPEED)
    position = jnp.clip(position + velocity, MOUNTAINCAR_MIN_POSITION, MOUNTAINCAR_MAX_POSITION)
    # The left wall is inelastic: the car stops there.
    velocity = jnp.where((position == MOUNTAINCAR_MIN_POSITION) & (velocity < 0), 0.0, velocity)
    physics = jnp.stack([position, velocity])
    terminated = (position >= MOUNTAINCAR_GOAL_POSITION) & (velocity >= MOUNTAINCAR_GOAL_VELOCITY)
    # +100 on reaching the goal, minus 0.1 a^2 on the action as given (before the clip).
    reward = jnp.where(terminated, 100.0, 0.0).astype(physics.dtype) - 0.1 * action[0] ** 2
    return _advance(state, physics, physics, reward, terminated, MOUNTAINCAR.max_episode_steps)


MOUNTAINCAR = Environment(
    "MountainCarContinuous-v0",
    2,
    1,
    False,
    MOUNTAINCAR_MIN_ACTION,
    MOUNTAINCAR_MAX_ACTION,
    999,
    _mountaincar_reset,
    _mountaincar_step,
)


ENVIRONMENTS = {env.name: env for env in (PENDULUM, CARTPOLE, MOUNTAINCAR)}


def make(name):
    """The Environment for a gymnasium id: 'Pendulum-v1', 'CartPole-v1' or
    'MountainCarContinuous-v0'."""
    if name not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {name!r}; known: {', '.join(ENVIRONMENTS)}")
    return ENVIRONMENTS[name]
