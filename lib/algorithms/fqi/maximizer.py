"""The two configs and the inner optimizer: `MaximizeConfig` and `FQIConfig`, `maximize` (projected
gradient ascent with optax, or a dense grid as the reference) and the greedy and policy actions built on it."""

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from lib.core.config import check_positive, check_positive_int, check_range


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
