"""Algorithm 20.2, fitted Q-iteration with amortized optimization: a policy d(s; w) fitted to the
maximizers of a sliding window of iterations (or moved up the critic) answers for the base points
outside B_opt."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.core.config import check_range
from lib.core.divergence import all_finite, first_divergence
from lib.algorithms.fqi.explicit import _check_inputs, _design, _hold_after_stop, _report_divergence, _ridge_solver
from lib.algorithms.fqi.maximizer import maximize, q_value


class AmortizedFQIResult(NamedTuple):
    theta: jax.Array  # theta_n, (F,)
    w: jax.Array  # policy parameters w_n, (P, m)
    iterations: jax.Array  # n
    thetas: jax.Array  # (N + 1, F)
    ws: jax.Array  # (N + 1, P, m)
    deltas_q: jax.Array  # (N,), NaN after the stop
    deltas_d: jax.Array  # (N,), NaN after the stop
    solver_calls: jax.Array  # calls to maximize: |B_opt| per iteration
    diverged_at: jax.Array  # the first iteration whose theta, w or deltas were inf/NaN; -1 if none


class _AmortizedCarry(NamedTuple):
    n: jax.Array
    theta: jax.Array
    w: jax.Array
    thetas: jax.Array
    ws: jax.Array
    deltas_q: jax.Array
    deltas_d: jax.Array
    window_actions: jax.Array  # D_d: slot n mod (max_window + 1) holds the maximizers of iteration n
    stamps: jax.Array  # the iteration each slot of D_d was written at
    diverged_at: jax.Array


def _amortized_sizes(size, num_opt, window, max_opt, max_window):
    """Check |B_opt| and K against their static bounds; return (max_opt, num_opt, window) as used."""
    if max_opt is None:
        max_opt = num_opt
    if not (isinstance(max_opt, int) and 0 <= max_opt <= size):
        raise ValueError(f"max_opt must be an integer in [0, {size}] (|B_opt| <= |B|), got {max_opt}")
    if not (isinstance(max_window, int) and max_window >= 0):
        raise ValueError(f"max_window must be an integer >= 0, got {max_window}")
    if isinstance(num_opt, (int, float)):
        check_range("num_opt", num_opt, 0, max_opt)
    if isinstance(window, (int, float)):
        check_range("window", window, 0, max_window)
    return max_opt, jnp.clip(jnp.asarray(num_opt), 0, max_opt), jnp.clip(jnp.asarray(window), 0, max_window)


def _policy_update(features, config, next_psi, fit_d):
    """Step 6 of the box as (w_n, theta_{n+1}, the window's mean maximizer per state of B_opt) -> w_{n+1}.

    "fit" regresses d on the maximizers (least squares on the window's data equals least squares on its
    mean action at each state, since every slot holds the same states). "ascent" climbs the new critic
    at the policy's own actions over every next state of B instead, and calls no solver."""
    if config.policy_update == "fit":
        return lambda w, theta, window_mean: fit_d(window_mean)

    def mean_q(w, theta):
        actions = jnp.clip(next_psi @ w, config.maximize.low, config.maximize.high)
        return jnp.mean(jax.vmap(lambda psi, a: q_value(features, theta, psi, a))(next_psi, actions))

    step = jax.grad(mean_q)
    return lambda w, theta, _: jax.lax.fori_loop(
        0, config.num_policy_steps, lambda _, w: w + config.policy_learning_rate * step(w, theta), w
    )


def window_mask(stamps, n, window):
    """True for the slots of D_d written at iterations max(0, n-K) .. n (K = `window`).

    That is K + 1 iterations, fewer at the start, as in the box after Algorithm 20.2: K = 0 keeps
    only the maximizers of the current iteration. Empty slots carry stamps below -K, so the max(0, .)
    needs no special case."""
    return stamps >= n - window


def _amortized_start(F, P, m, N, max_opt, max_window, dtype):
    """Step 1 of the box, theta_0 = 0 and w_0 = 0, with empty histories and an empty window D_d."""
    return _AmortizedCarry(
        jnp.array(0),
        jnp.zeros((F,), dtype),
        jnp.zeros((P, m), dtype),
        jnp.zeros((N + 1, F), dtype),
        jnp.zeros((N + 1, P, m), dtype),
        jnp.full((N,), jnp.nan, dtype),
        jnp.full((N,), jnp.nan, dtype),
        jnp.zeros((max_window + 1, max_opt, m), dtype),
        jnp.full((max_window + 1,), -max_window - 1),
        jnp.array(-1),
    )


def amortized_fitted_q_iteration(base_points, features, config, num_opt, window, max_opt=None, max_window=10):
    """Algorithm 20.2: fitted Q-iteration with amortized optimization.

    B_opt is the first `num_opt` base points (B is drawn at random, so it is a random subset):
    their next states s' get a* = maximize(q(s', .; theta_n)), the others a* = d(s'; w_n), with
    d(s; w) = clip(psi(s)^T w, low, high). The policy is fit by ridge regression to the maximizers of
    iterations max(0, n-K) .. n (the sliding window K = `window`; K = 0 keeps only the current one), or moved
    up the new critic with config.policy_update = "ascent". delta_q is the mean squared change of q over D_q;
    delta_d the mean of ||a* - d(s'; w_{n+1})||^2 over the window's data D_d, 0 when D_d is empty (num_opt = 0:
    "fit" then keeps w = w_0 = 0, evaluating d(.; w_0)). The loop stops when max(delta_q, delta_d) < eps or n >= N.

    Shapes: `max_opt` (static, default num_opt) points are handed to the vectorized maximize and
    `max_window + 1` (static) slots hold D_d, so the compute per iteration scales with max_opt. `num_opt`
    <= max_opt and `window` <= max_window may be traced integers: a sweep over them compiles once.
    """
    size = _check_inputs(base_points, features, config)
    max_opt, num_opt, window = _amortized_sizes(size, num_opt, window, max_opt, max_window)
    design = _design(base_points, features)
    fit_q = _ridge_solver(design, config.ridge)
    next_psi = jax.vmap(features.state)(base_points.next_observation)
    opt_psi = next_psi[:max_opt]
    in_opt = (jnp.arange(max_opt) < num_opt).astype(design.dtype)  # s' in B_opt
    fit_d = _ridge_solver(in_opt[:, None] * opt_psi, config.policy_ridge)  # rows outside B_opt vanish
    update_policy = _policy_update(features, config, next_psi, lambda mean: fit_d(in_opt[:, None] * mean))
    not_done = 1.0 - base_points.terminated.astype(design.dtype)
    low, high, m, N = config.maximize.low, config.maximize.high, features.action_size, config.max_iterations
    start, use_solver = jnp.zeros((m,), design.dtype), (jnp.arange(size) < num_opt)[:, None]

    def iterate(c):
        n, theta, w = c.n, c.theta, c.w
        # 3.3: a* = maximize(q(s', .; theta_n)) if s' in B_opt (these join D_d), else a* = d(s'; w_n)
        solved = jax.vmap(lambda psi: maximize(lambda a: q_value(features, theta, psi, a), start, config.maximize))(
            opt_psi
        )
        amortized = jnp.clip(next_psi @ w, low, high)
        chosen = jnp.where(use_solver, jnp.pad(solved, ((0, size - max_opt), (0, 0))), amortized)
        best_next = jax.vmap(lambda psi, a: q_value(features, theta, psi, a))(next_psi, chosen)
        targets = base_points.reward + config.gamma * not_done * best_next  # y = r + gamma q(s', a*)
        window_actions = c.window_actions.at[n % (max_window + 1)].set(solved)  # D_d with time stamps
        stamps = c.stamps.at[n % (max_window + 1)].set(n)
        in_window = window_mask(stamps, n, window).astype(design.dtype)  # iterations max(0, n-K) .. n
        new_theta = fit_q(targets)  # 5: theta_{n+1} = fit(D_q)
        new_w = update_policy(w, new_theta, jnp.tensordot(in_window, window_actions, axes=1) / jnp.sum(in_window))
        delta_q = jnp.mean((design @ new_theta - design @ theta) ** 2)  # 8
        residual = window_actions - jnp.clip(opt_psi @ new_w, low, high)[None]
        weights, count = in_window[:, None, None] * in_opt[None, :, None], jnp.sum(in_window) * num_opt
        delta_d = jnp.where(count > 0, jnp.sum(weights * residual**2) / jnp.maximum(count, 1), 0.0)  # 9
        finite = all_finite((new_theta, new_w, delta_q, delta_d))
        return _AmortizedCarry(
            n + 1,
            new_theta,
            new_w,
            c.thetas.at[n + 1].set(new_theta),
            c.ws.at[n + 1].set(new_w),
            c.deltas_q.at[n].set(delta_q),
            c.deltas_d.at[n].set(delta_d),
            window_actions,
            stamps,
            first_divergence(c.diverged_at, finite, n),
        )

    def keep_going(c):  # until max(delta_q, delta_d) < eps or n >= N
        last = jnp.maximum(c.n - 1, 0)
        return (c.n < N) & ((c.n == 0) | (jnp.maximum(c.deltas_q[last], c.deltas_d[last]) >= config.tolerance))

    init = _amortized_start(design.shape[1], opt_psi.shape[1], m, N, max_opt, max_window, design.dtype)
    c = jax.lax.while_loop(keep_going, iterate, init)
    _report_divergence(c.diverged_at, "amortized fitted Q-iteration")
    return AmortizedFQIResult(
        c.theta,
        c.w,
        c.n,
        _hold_after_stop(c.thetas, c.n),
        _hold_after_stop(c.ws, c.n),
        c.deltas_q,
        c.deltas_d,
        c.n * num_opt,
        c.diverged_at,
    )
