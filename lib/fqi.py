"""Fitted Q-iteration with an optimizer inside the target: explicit (Algorithm 20.1) and amortized
(Algorithm 20.2).

The Q-function is linear in features, q(s, a; theta) = phi(s, a)^T theta, so `fit` is a ridge
least-squares solve whose design matrix, built once from the base points B, never changes: each
iteration only recomputes the targets y = r + gamma max_a' q(s', a'; theta_n). A features object has

    state(s) -> psi(s)           the part that depends on the state alone (computed once per point)
    joint(psi, a) -> phi(s, a)   the full feature vector, built once per base point for the fit
    value(theta, psi, a) -> q    phi(s, a)^T theta, the function that maximize evaluates many times
    action_size                  m, the dimension of a

`maximize` (gradient ascent with optax, or a dense grid as the reference) is vmapped over the next
states of all base points. The amortized version also fits a policy d(s; w) = clip(psi(s)^T w, low, high)
to the maximizers found on the subset B_opt, and uses it for the other base points. Both loops are
one `lax.while_loop` that stops as in the boxes: the change delta falls below the tolerance, or N
iterations have run. Histories are recorded in fixed-size arrays so that the error against an exact
answer can be measured per iteration afterwards.

The LQR's base points and quadratic features live in `lib.lqr` (`lqr_base_points`, `quadratic_features`);
`quadratic_q_matrix`, `greedy_gain` and `optimal_q_matrix` read the ground truth of chapter 20 in the features'
coordinates; `pendulum_base_points`, `PendulumFeatures` and the two Pendulum policies show the same code on a
nonlinear task. Both loops track whether theta, w and delta stayed finite (`diverged_at`, -1 if they did) and
raise when called with concrete values; under jit or vmap the caller passes the field to
`lib.divergence.raise_if_diverged`.
"""
import math
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from lib import envs, lqr
from lib.config import check_positive, check_positive_int, check_range, concrete
from lib.divergence import all_finite, first_divergence, raise_if_diverged
from lib.replay import Transition

METHODS = ("sgd", "adam", "grid")
POLICY_UPDATES = ("fit", "ascent")


# ------------------------------------------------------------------------------------ configs
@dataclass(frozen=True)
class MaximizeConfig:
    """How `maximize` searches the action set [low, high]^m.

    method: "sgd" (projected gradient ascent with optax.sgd), "adam" (projected ascent with Adam's
        per-coordinate step sizes, which ignore the scale of q) or "grid" (dense grid, the reference).
    low, high: action bounds; may be infinite for "sgd" and "adam", must be finite for "grid".
    num_ascent_steps: gradient-ascent steps per call (>= 1).
    learning_rate: gradient-ascent step size (> 0); below 2 / curvature of -q in a for convergence.
    grid_size: grid points per action dimension for "grid" (>= 2); the grid has grid_size^m points.
    """
    method: str = "sgd"
    low: float = -math.inf
    high: float = math.inf
    num_ascent_steps: int = 50
    learning_rate: float = 1.0
    grid_size: int = 201

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got low={self.low}, high={self.high}")
        if self.method == "grid" and not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"low and high must be finite for the grid method, got [{self.low}, {self.high}]")
        check_positive_int("num_ascent_steps", self.num_ascent_steps)
        check_positive("learning_rate", self.learning_rate)
        check_range("grid_size", self.grid_size, 2, 100_001)
        check_positive_int("grid_size", self.grid_size)


@dataclass(frozen=True)
class FQIConfig:
    """Fitted Q-iteration (boxes 20.1 and 20.2).

    gamma: discount in [0, 1).
    max_iterations: N, the most iterations run (>= 1).
    tolerance: epsilon >= 0; stop once delta < epsilon (0 runs all N iterations).
    ridge: lambda >= 0, the ridge penalty of the Q-function fit (keeps theta bounded when q* is not
        in the feature class and the fitted iteration is not a contraction).
    policy_ridge: the ridge penalty of the policy fit w_{n+1} = fit(D_d) (Algorithm 20.2 only).
    policy_update: how Algorithm 20.2 moves w. "fit" is the box, w_{n+1} = fit(D_d). "ascent" needs no
        maximizers: `num_policy_steps` steps w <- w + eta grad_w mean_{s'} q(s', d(s'; w); theta_{n+1}) over the
        next states of all of B (the NFQCA step of chapter 21), so it still improves d when B_opt is empty.
    policy_learning_rate: eta >= 0 of "ascent". It may be traced: replace(config, policy_learning_rate=eta)
        inside vmap sweeps eta in one compilation.
    num_policy_steps: ascent steps per iteration (>= 1).
    maximize: the numerical optimizer used in the targets.
    """
    gamma: float = 0.95
    max_iterations: int = 200
    tolerance: float = 1e-10
    ridge: float = 1e-6
    policy_ridge: float = 1e-6
    policy_update: str = "fit"
    policy_learning_rate: float = 0.1
    num_policy_steps: int = 1
    maximize: MaximizeConfig = MaximizeConfig()

    def __post_init__(self):
        check_range("gamma", self.gamma, 0.0, 1.0, high_open=True)
        check_positive_int("max_iterations", self.max_iterations)
        check_range("tolerance", self.tolerance, 0.0)
        check_range("ridge", self.ridge, 0.0)
        check_range("policy_ridge", self.policy_ridge, 0.0)
        if self.policy_update not in POLICY_UPDATES:
            raise ValueError(f"policy_update must be one of {POLICY_UPDATES}, got {self.policy_update!r}")
        check_range("policy_learning_rate", self.policy_learning_rate, 0.0)
        check_positive_int("num_policy_steps", self.num_policy_steps)
        if not isinstance(self.maximize, MaximizeConfig):
            raise ValueError(f"maximize must be a MaximizeConfig, got {type(self.maximize).__name__}")


# ----------------------------------------------------------------------------------- features
@dataclass(frozen=True)
class QuadraticFeatures:
    """phi(x, u) = [1, z_i z_j for i <= j] with z = (x, u): every quadratic in (x, u) without linear
    terms, which is the class of the LQR's q*. psi(x) = x, so the policy d(x; w) = w^T x is linear."""
    state_size: int
    action_size: int

    def __post_init__(self):
        check_positive_int("state_size", self.state_size)
        check_positive_int("action_size", self.action_size)

    @property
    def size(self):
        d = self.state_size + self.action_size
        return 1 + d * (d + 1) // 2

    def state(self, s):
        return s

    def value(self, theta, psi, a):
        return self.joint(psi, a) @ theta

    def joint(self, psi, a):
        return lqr.quadratic_features(psi, a)


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
        kappa = (self.num_angle / (2 * jnp.pi)) ** 2         # width ~ one angle spacing
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


# ----------------------------------------------------------------------------------- maximize
def maximize(objective, a0, config):
    """argmax_a objective(a) over [low, high]^m, for one state: `objective` maps an (m,) action to a
    scalar. "sgd"/"adam": `config.num_ascent_steps` optax steps on -objective from a0, each followed by a clip into
    the bounds (projected gradient ascent). "grid": the best of grid_size^m evenly spaced actions (a0
    only gives the dtype). Callers vmap it over base points."""
    check_maximize(config)
    if config.method == "grid":
        axis = jnp.linspace(config.low, config.high, config.grid_size, dtype=a0.dtype)
        mesh = jnp.meshgrid(*([axis] * a0.shape[0]), indexing="ij")
        candidates = jnp.stack([g.reshape(-1) for g in mesh], axis=-1)
        return candidates[jnp.argmax(jax.vmap(objective)(candidates))]

    optimizer = (optax.sgd if config.method == "sgd" else optax.adam)(config.learning_rate)
    minus_gradient = jax.grad(lambda a: -objective(a))

    def ascend(_, carry):
        a, opt_state = carry
        updates, opt_state = optimizer.update(minus_gradient(a), opt_state, a)
        return jnp.clip(optax.apply_updates(a, updates), config.low, config.high), opt_state

    a = jnp.clip(a0, config.low, config.high)
    a, _ = jax.lax.fori_loop(0, config.num_ascent_steps, ascend, (a, optimizer.init(a)))
    return a


def q_value(features, theta, psi, a):
    """q(s, a; theta) = phi(s, a)^T theta from the state part psi = features.state(s)."""
    return features.value(theta, psi, a)


def greedy_actions(features, theta, states, config):
    """maximize(q(s, . ; theta)) at every row of `states`, from a0 = 0 (clipped into the bounds)."""
    check_maximize(config)
    psis = jax.vmap(features.state)(states)
    zero = jnp.zeros((features.action_size,), theta.dtype)
    return jax.vmap(lambda psi: maximize(lambda a: q_value(features, theta, psi, a), zero, config))(psis)


def policy_actions(features, w, states, config):
    """d(s; w) = clip(psi(s)^T w, low, high) at every row of `states` (w has shape (len(psi), m))."""
    check_maximize(config)
    return jnp.clip(jax.vmap(features.state)(states) @ w, config.low, config.high)


def check_maximize(config):
    if not isinstance(config, MaximizeConfig):
        raise ValueError(f"config must be a MaximizeConfig, got {type(config).__name__}")


# -------------------------------------------------------------------------------- fitted Q
class FQIResult(NamedTuple):
    theta: jax.Array         # theta_n at the stop, (F,)
    iterations: jax.Array    # n, the number of iterations run
    thetas: jax.Array        # theta_0 .. theta_N, (N + 1, F); rows after n repeat theta_n
    deltas: jax.Array        # delta of each iteration, (N,); NaN after the stop
    solver_calls: jax.Array  # calls to maximize: |B| per iteration
    diverged_at: jax.Array   # the first iteration whose theta or delta was inf/NaN; -1 if none


class AmortizedFQIResult(NamedTuple):
    theta: jax.Array         # theta_n, (F,)
    w: jax.Array             # policy parameters w_n, (P, m)
    iterations: jax.Array    # n
    thetas: jax.Array        # (N + 1, F)
    ws: jax.Array            # (N + 1, P, m)
    deltas_q: jax.Array      # (N,), NaN after the stop
    deltas_d: jax.Array      # (N,), NaN after the stop
    solver_calls: jax.Array  # calls to maximize: |B_opt| per iteration
    diverged_at: jax.Array   # the first iteration whose theta, w or deltas were inf/NaN; -1 if none


class _FQICarry(NamedTuple):
    n: jax.Array
    theta: jax.Array
    thetas: jax.Array
    deltas: jax.Array
    diverged_at: jax.Array


class _AmortizedCarry(NamedTuple):
    n: jax.Array
    theta: jax.Array
    w: jax.Array
    thetas: jax.Array
    ws: jax.Array
    deltas_q: jax.Array
    deltas_d: jax.Array
    window_actions: jax.Array  # D_d: slot n mod (max_window + 1) holds the maximizers of iteration n
    stamps: jax.Array          # the iteration each slot of D_d was written at
    diverged_at: jax.Array


def _ridge_solver(design, ridge):
    """targets -> argmin_theta ||X theta - y||^2 + lambda ||theta||^2 for a fixed design X.

    The SVD X = U S V^T is computed once; each fit is then two matrix products,
    theta = V diag(s / (s^2 + lambda)) U^T y, and avoids squaring X's condition number.
    """
    U, s, Vt = jnp.linalg.svd(design, full_matrices=False)
    filtered = jnp.where(s > 0, s / (s**2 + ridge), 0.0)

    def fit(targets):                      # targets: (|B|,) or (|B|, m)
        projected = U.T @ targets
        return Vt.T @ (filtered.reshape((-1,) + (1,) * (projected.ndim - 1)) * projected)

    return fit


def _check_inputs(base_points, features, config):
    if not isinstance(config, FQIConfig):
        raise ValueError(f"config must be an FQIConfig, got {type(config).__name__}")
    if not isinstance(base_points, Transition):
        raise ValueError(f"base_points must be a lib.replay.Transition, got {type(base_points).__name__}")
    size = base_points.reward.shape[0]
    if size < 1:
        raise ValueError(f"base_points must hold at least one transition, got {size}")
    if base_points.action.shape != (size, features.action_size):
        raise ValueError(f"base_points.action must have shape {(size, features.action_size)}, "
                         f"got {base_points.action.shape}")
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
        best_next = jax.vmap(lambda psi: q_value(features, theta, psi,
                                                 maximize(lambda a: q_value(features, theta, psi, a),
                                                          start, config.maximize)))(next_psi)
        targets = base_points.reward + config.gamma * not_done * best_next
        new_theta = fit(targets)                                            # 3.3: theta_{n+1} = fit(D)
        delta = jnp.mean((design @ new_theta - design @ theta) ** 2)        # 3.4
        diverged_at = first_divergence(carry.diverged_at, all_finite((new_theta, delta)), n)
        return _FQICarry(n + 1, new_theta, carry.thetas.at[n + 1].set(new_theta), carry.deltas.at[n].set(delta),
                         diverged_at)

    def keep_going(carry):                                                  # 4: until delta < eps or n >= N
        n = carry.n      # a NaN delta (divergence) also stops the loop: NaN >= eps is false
        return (n < N) & ((n == 0) | (carry.deltas[jnp.maximum(n - 1, 0)] >= config.tolerance))

    theta0 = jnp.zeros((design.shape[1],), design.dtype)                    # 1: theta_0 = 0
    init = _FQICarry(jnp.array(0), theta0, jnp.zeros((N + 1, design.shape[1]), design.dtype),
                     jnp.full((N,), jnp.nan, design.dtype), jnp.array(-1))
    final = jax.lax.while_loop(keep_going, iterate, init)
    _report_divergence(final.diverged_at, "fitted Q-iteration")
    return FQIResult(final.theta, final.n, _hold_after_stop(final.thetas, final.n), final.deltas,
                     final.n * size, final.diverged_at)


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
        0, config.num_policy_steps, lambda _, w: w + config.policy_learning_rate * step(w, theta), w)


def window_mask(stamps, n, window):
    """True for the slots of D_d written at iterations max(0, n-K) .. n (K = `window`).

    That is K + 1 iterations, fewer at the start, as in the box after Algorithm 20.2: K = 0 keeps
    only the maximizers of the current iteration. Empty slots carry stamps below -K, so the max(0, .)
    needs no special case."""
    return stamps >= n - window


def _amortized_start(F, P, m, N, max_opt, max_window, dtype):
    """Step 1 of the box, theta_0 = 0 and w_0 = 0, with empty histories and an empty window D_d."""
    return _AmortizedCarry(jnp.array(0), jnp.zeros((F,), dtype), jnp.zeros((P, m), dtype),
                           jnp.zeros((N + 1, F), dtype), jnp.zeros((N + 1, P, m), dtype),
                           jnp.full((N,), jnp.nan, dtype), jnp.full((N,), jnp.nan, dtype),
                           jnp.zeros((max_window + 1, max_opt, m), dtype), jnp.full((max_window + 1,), -max_window - 1),
                           jnp.array(-1))


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
    in_opt = (jnp.arange(max_opt) < num_opt).astype(design.dtype)           # s' in B_opt
    fit_d = _ridge_solver(in_opt[:, None] * opt_psi, config.policy_ridge)   # rows outside B_opt vanish
    update_policy = _policy_update(features, config, next_psi, lambda mean: fit_d(in_opt[:, None] * mean))
    not_done = 1.0 - base_points.terminated.astype(design.dtype)
    low, high, m, N = config.maximize.low, config.maximize.high, features.action_size, config.max_iterations
    start, use_solver = jnp.zeros((m,), design.dtype), (jnp.arange(size) < num_opt)[:, None]

    def iterate(c):
        n, theta, w = c.n, c.theta, c.w
        # 3.3: a* = maximize(q(s', .; theta_n)) if s' in B_opt (these join D_d), else a* = d(s'; w_n)
        solved = jax.vmap(lambda psi: maximize(lambda a: q_value(features, theta, psi, a),
                                               start, config.maximize))(opt_psi)
        amortized = jnp.clip(next_psi @ w, low, high)
        chosen = jnp.where(use_solver, jnp.pad(solved, ((0, size - max_opt), (0, 0))), amortized)
        best_next = jax.vmap(lambda psi, a: q_value(features, theta, psi, a))(next_psi, chosen)
        targets = base_points.reward + config.gamma * not_done * best_next  # y = r + gamma q(s', a*)
        window_actions = c.window_actions.at[n % (max_window + 1)].set(solved)   # D_d with time stamps
        stamps = c.stamps.at[n % (max_window + 1)].set(n)
        in_window = window_mask(stamps, n, window).astype(design.dtype)     # iterations max(0, n-K) .. n
        new_theta = fit_q(targets)                                          # 5: theta_{n+1} = fit(D_q)
        new_w = update_policy(w, new_theta, jnp.tensordot(in_window, window_actions, axes=1) / jnp.sum(in_window))
        delta_q = jnp.mean((design @ new_theta - design @ theta) ** 2)      # 8
        residual = window_actions - jnp.clip(opt_psi @ new_w, low, high)[None]
        weights, count = in_window[:, None, None] * in_opt[None, :, None], jnp.sum(in_window) * num_opt
        delta_d = jnp.where(count > 0, jnp.sum(weights * residual**2) / jnp.maximum(count, 1), 0.0)   # 9
        finite = all_finite((new_theta, new_w, delta_q, delta_d))
        return _AmortizedCarry(n + 1, new_theta, new_w, c.thetas.at[n + 1].set(new_theta), c.ws.at[n + 1].set(new_w),
                               c.deltas_q.at[n].set(delta_q), c.deltas_d.at[n].set(delta_d), window_actions, stamps,
                               first_divergence(c.diverged_at, finite, n))

    def keep_going(c):                                  # until max(delta_q, delta_d) < eps or n >= N
        last = jnp.maximum(c.n - 1, 0)
        return (c.n < N) & ((c.n == 0) | (jnp.maximum(c.deltas_q[last], c.deltas_d[last]) >= config.tolerance))

    init = _amortized_start(design.shape[1], opt_psi.shape[1], m, N, max_opt, max_window, design.dtype)
    c = jax.lax.while_loop(keep_going, iterate, init)
    _report_divergence(c.diverged_at, "amortized fitted Q-iteration")
    return AmortizedFQIResult(c.theta, c.w, c.n, _hold_after_stop(c.thetas, c.n), _hold_after_stop(c.ws, c.n),
                              c.deltas_q, c.deltas_d, c.n * num_opt, c.diverged_at)


# ------------------------------------------------------------------------------- measurements
def q_errors(features, thetas, states, actions, reference):
    """Root-mean-square of q(s, a; theta_n) - reference over the points (states, actions), for every
    row theta_n of `thetas`: ||q_n - q*|| measured on a fixed evaluation set."""
    psis = jax.vmap(features.state)(states)
    values = jax.vmap(lambda theta: jax.vmap(lambda psi, a: q_value(features, theta, psi, a))(psis, actions))(thetas)
    return jnp.sqrt(jnp.mean((values - reference[None]) ** 2, axis=1))


def action_errors(actions, reference):
    """Root-mean-square distance ||a - a_ref|| over the last two axes (points, m), per leading index."""
    return jnp.sqrt(jnp.mean(jnp.sum((actions - reference) ** 2, axis=-1), axis=-1))


# --------------------------------------------------------------------------------- LQR helpers
def quadratic_q_matrix(features, theta):
    """(H, c) with q(x, u; theta) = z^T H z + c, z = (x, u), for QuadraticFeatures."""
    d = features.state_size + features.action_size
    rows, cols = jnp.triu_indices(d)
    upper = jnp.zeros((d, d), theta.dtype).at[rows, cols].set(theta[1:])
    return 0.5 * (upper + upper.T), theta[0]


def greedy_gain(features, theta):
    """K_n with argmax_u q(x, u; theta_n) = -K_n x, from the blocks of H: K_n = H_uu^{-1} H_ux."""
    H, _ = quadratic_q_matrix(features, theta)
    n = features.state_size
    return jnp.linalg.solve(H[n:, n:], H[n:, :n])


def optimal_q_matrix(problem, solution):
    """(H*, c*) with q*(x, u) = z^T H* z + c*: the Riccati answer in the features' coordinates."""
    AB = jnp.concatenate([problem.A, problem.B], axis=1)
    n, m = problem.B.shape
    cost = jnp.zeros((n + m, n + m)).at[:n, :n].set(problem.Q).at[n:, n:].set(problem.R)
    H = -(cost + problem.gamma * AB.T @ solution.P @ AB)
    c = -problem.gamma * (jnp.trace(solution.P @ problem.noise_cov) + solution.constant)
    return H, c


# ----------------------------------------------------------------------------- Pendulum helpers
def pendulum_base_points(key, num_points):
    """B for Pendulum-v1: (angle, velocity) ~ U[-pi, pi] x U[-8, 8], torque ~ U[-2, 2], one step of
    lib.envs' Pendulum (the gymnasium dynamics and reward); states are (angle, velocity) pairs."""
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
