"""NFQCA (Algorithm 21.1): fitted Q-iteration on a fixed batch with the maximization amortized into a policy."""

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lib.core.config import check_positive, check_positive_int, check_range
from lib.core.divergence import all_finite
from lib.problems.lqr import linear_policy, lqr_base_points, quadratic_features, quadratic_q
from lib.parts.nets import (
    gradient_step,
)
from lib.parts.replay import not_terminal


# ------------------------------------------------------------------ NFQCA (Algorithm 21.1)
@dataclass(frozen=True)
class NFQCAConfig:
    gamma: float = 0.95  # discount, in [0, 1)
    num_iterations: int = 60  # outer iterations n of the box, >= 1
    num_fit_steps: int = 300  # Adam steps of "fit" (critic regression) per iteration, >= 1
    num_policy_steps: int = 100  # Adam steps of "minimize" (policy) per iteration, >= 1
    q_learning_rate: float = 0.02  # Adam step size for theta, > 0
    policy_learning_rate: float = 0.05  # Adam step size for w, > 0

    def __post_init__(self):
        check_range("gamma", self.gamma, 0.0, 1.0, high_open=True)
        for name in ("num_iterations", "num_fit_steps", "num_policy_steps"):
            check_positive_int(name, getattr(self, name))
        check_positive("q_learning_rate", self.q_learning_rate)
        check_positive("policy_learning_rate", self.policy_learning_rate)


class NFQCAResult(NamedTuple):
    q_params: Any  # theta_n
    policy_params: Any  # w_n
    policy_history: Any  # w_1, ..., w_n stacked on a leading axis (one entry per iteration)
    fit_loss: jax.Array  # the critic's regression loss at the end of each iteration's fit


def nfqca(batch, q_apply, policy_apply, q_params, policy_params, config):
    """Algorithm 21.1: neural fitted Q-iteration with continuous actions on a fixed batch B.

    batch: Transition arrays (s, a, r, s', terminated) with a leading axis over B;
    q_apply(theta, s, a) -> q values and policy_apply(w, s) -> actions, both batched over B.
    "fit" and "minimize" are `num_fit_steps` and `num_policy_steps` Adam steps, warm-started from theta_n
    and w_n. Compiles whole (one lax.scan over iterations); returns an NFQCAResult.
    """
    q_optimizer = optax.adam(config.q_learning_rate)
    policy_optimizer = optax.adam(config.policy_learning_rate)

    def fit(theta, targets):
        def loss(theta):
            return jnp.mean((q_apply(theta, batch.observation, batch.action) - targets) ** 2)

        def step(carry, _):
            theta, opt_state = carry
            return gradient_step(q_optimizer, theta, opt_state, jax.grad(loss)(theta)), None

        (theta, _), _ = jax.lax.scan(step, (theta, q_optimizer.init(theta)), None, config.num_fit_steps)
        return theta, loss(theta)

    def minimize(w, theta):
        def loss(w):
            return -jnp.mean(q_apply(theta, batch.observation, policy_apply(w, batch.observation)))

        def step(carry, _):
            w, opt_state = carry
            return gradient_step(policy_optimizer, w, opt_state, jax.grad(loss)(w)), None

        (w, _), _ = jax.lax.scan(step, (w, policy_optimizer.init(w)), None, config.num_policy_steps)
        return w

    def iteration(carry, _):
        theta, w = carry
        # 2.2.1-2.2.3: a'_{s'} = d(s'; w_n), targets y = r + gamma q(s', a'_{s'}; theta_n)
        next_actions = policy_apply(w, batch.next_observation)
        targets = batch.reward + config.gamma * not_terminal(batch) * q_apply(
            theta, batch.next_observation, next_actions
        )
        # 2.3: theta_{n+1} = fit(D_q)
        theta, fit_loss = fit(theta, jax.lax.stop_gradient(targets))
        # 2.4: w_{n+1} = minimize_w -(1/|B|) sum_s q(s, d(s; w); theta_{n+1})
        w = minimize(w, theta)
        return (theta, w), (w, fit_loss)

    (theta, w), (history, fit_loss) = jax.lax.scan(iteration, (q_params, policy_params), None, config.num_iterations)
    return NFQCAResult(theta, w, history, fit_loss)


class NFQCAState(NamedTuple):
    q_params: Any  # theta_n
    policy_params: Any  # w_n


class NFQCALog(NamedTuple):
    policy_history: Any  # w_1, ..., w_n stacked on a leading axis (one entry per iteration)
    fit_loss: jax.Array  # the critic's regression loss at the end of each iteration's fit
    diverged_at: jax.Array  # the first iteration whose theta, w or fit loss was inf/NaN; -1 if none


def make_nfqca_train(env, config=NFQCAConfig(), num_samples=256):
    """`nfqca` (Algorithm 21.1) on an LQR `env` (lib.problems.lqr) as a trainer: train(key) -> (NFQCAState, NFQCALog).

    train draws the batch B (`num_samples` transitions, `lqr_base_points`) from the key and runs `nfqca`
    with lib.problems.lqr's quadratic critic features and a linear policy d(s; w) = w s, both started at zero, so
    the answer is known: the Riccati gain K = -w and q*. config.gamma must be the LQR's discount.
    """
    check_positive_int("num_samples", num_samples)
    if config.gamma != env.gamma:
        raise ValueError(f"gamma: NFQCAConfig has {config.gamma}, the LQR's discount is {env.gamma}; make them equal")
    n, m = env.B.shape
    theta0 = jnp.zeros(quadratic_features(jnp.zeros(n), jnp.zeros(m)).shape[-1])

    def train(key):
        batch = lqr_base_points(env, key, num_samples)
        result = nfqca(batch, quadratic_q, linear_policy, theta0, jnp.zeros((m, n)), config)
        finite = jax.vmap(all_finite)((result.policy_history, result.fit_loss))
        diverged_at = jnp.where(jnp.all(finite), -1, jnp.argmin(finite))
        state = NFQCAState(result.q_params, result.policy_params)
        return state, NFQCALog(result.policy_history, result.fit_loss, diverged_at)

    return train
