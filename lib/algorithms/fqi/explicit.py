"""Algorithm 20.1, fitted Q-iteration with explicit optimization, and the pieces the amortized loop
shares with it: the ridge solve on the fixed design, the input checks, the held histories and the
divergence report."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.core.config import concrete
from lib.core.divergence import all_finite, first_divergence, raise_if_diverged
from lib.algorithms.fqi.maximizer import FQIConfig, maximize, q_value
from lib.parts.replay import Transition


# -------------------------------------------------------------------------------- fitted Q
class FQIResult(NamedTuple):
    theta: jax.Array  # theta_n at the stop, (F,)
    iterations: jax.Array  # n, the number of iterations run
    thetas: jax.Array  # theta_0 .. theta_N, (N + 1, F); rows after n repeat theta_n
    deltas: jax.Array  # delta of each iteration, (N,); NaN after the stop
    solver_calls: jax.Array  # calls to maximize: |B| per iteration
    diverged_at: jax.Array  # the first iteration whose theta or delta was inf/NaN; -1 if none


class _FQICarry(NamedTuple):
    n: jax.Array
    theta: jax.Array
    thetas: jax.Array
    deltas: jax.Array
    diverged_at: jax.Array


def _ridge_solver(design, ridge):
    """targets -> argmin_theta ||X theta - y||^2 + lambda ||theta||^2 for a fixed design X.

    The SVD X = U S V^T is computed once; each fit is then two matrix products,
    theta = V diag(s / (s^2 + lambda)) U^T y, and avoids squaring X's condition number.
    """
    U, s, Vt = jnp.linalg.svd(design, full_matrices=False)
    filtered = jnp.where(s > 0, s / (s**2 + ridge), 0.0)

    def fit(targets):  # targets: (|B|,) or (|B|, m)
        projected = U.T @ targets
        return Vt.T @ (filtered.reshape((-1,) + (1,) * (projected.ndim - 1)) * projected)

    return fit


def _check_inputs(base_points, features, config):
    if not isinstance(config, FQIConfig):
        raise ValueError(f"config must be an FQIConfig, got {type(config).__name__}")
    if not isinstance(base_points, Transition):
        raise ValueError(f"base_points must be a lib.parts.replay.Transition, got {type(base_points).__name__}")
    size = base_points.reward.shape[0]
    if size < 1:
        raise ValueError(f"base_points must hold at least one transition, got {size}")
    if base_points.action.shape != (size, features.action_size):
        raise ValueError(
            f"base_points.action must have shape {(size, features.action_size)}, got {base_points.action.shape}"
        )
    return size


def _design(base_points, features):
    """The rows phi(s, a) of every base point: the fixed design matrix of the Q-fit."""
    return jax.vmap(lambda s, a: features.joint(features.state(s), a))(base_points.observation, base_points.action)


def _hold_after_stop(history, n):
    """Rows after the stop n repeat row n, so a history can be read at any iteration up to N."""
    after = (jnp.arange(history.shape[0]) > n).reshape((-1,) + (1,) * (history.ndim - 1))
    return jnp.where(after, history[n], history)


def _report_divergence(diverged_at, name):
    """Raise now if the values are concrete; under jit/vmap the caller checks the returned field."""
    if concrete(diverged_at) is not None:
        raise_if_diverged(diverged_at, name)


def fitted_q_iteration(base_points, features, config):
    """Algorithm 20.1: fitted Q-iteration with explicit optimization.

    base_points: B, a Transition of (s, a, r, s', terminated) with a leading axis |B|.
    features: phi(s, a) = features.joint(features.state(s), a); q(s, a; theta) = phi^T theta.
    config: gamma, N, epsilon, the ridge of `fit`, and the `maximize` solver.
    Every iteration calls maximize once per base point, at its next state s' with theta_n fixed.
    delta is the mean over the data set D of (q(s, a; theta_{n+1}) - q(s, a; theta_n))^2 (the box's
    D x A is not defined for an unbounded A).
    """
    size = _check_inputs(base_points, features, config)
    design = _design(base_points, features)
    fit = _ridge_solver(design, config.ridge)
    next_psi = jax.vmap(features.state)(base_points.next_observation)
    not_done = 1.0 - base_points.terminated.astype(design.dtype)
    start = jnp.zeros((features.action_size,), design.dtype)
    N = config.max_iterations

    def iterate(carry):
        n, theta = carry.n, carry.theta
        # 3.2: y = r + gamma maximize(q(s', .; theta_n)) for each (s, a, r, s') in B
        best_next = jax.vmap(
            lambda psi: q_value(
                features, theta, psi, maximize(lambda a: q_value(features, theta, psi, a), start, config.maximize)
            )
        )(next_psi)
        targets = base_points.reward + config.gamma * not_done * best_next
        new_theta = fit(targets)  # 3.3: theta_{n+1} = fit(D)
        delta = jnp.mean((design @ new_theta - design @ theta) ** 2)  # 3.4
        diverged_at = first_divergence(carry.diverged_at, all_finite((new_theta, delta)), n)
        return _FQICarry(
            n + 1, new_theta, carry.thetas.at[n + 1].set(new_theta), carry.deltas.at[n].set(delta), diverged_at
        )

    def keep_going(carry):  # 4: until delta < eps or n >= N
        n = carry.n  # a NaN delta (divergence) also stops the loop: NaN >= eps is false
        return (n < N) & ((n == 0) | (carry.deltas[jnp.maximum(n - 1, 0)] >= config.tolerance))

    theta0 = jnp.zeros((design.shape[1],), design.dtype)  # 1: theta_0 = 0
    init = _FQICarry(
        jnp.array(0),
        theta0,
        jnp.zeros((N + 1, design.shape[1]), design.dtype),
        jnp.full((N,), jnp.nan, design.dtype),
        jnp.array(-1),
    )
    final = jax.lax.while_loop(keep_going, iterate, init)
    _report_divergence(final.diverged_at, "fitted Q-iteration")
    return FQIResult(
        final.theta, final.n, _hold_after_stop(final.thetas, final.n), final.deltas, final.n * size, final.diverged_at
    )
