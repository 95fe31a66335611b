"""The training loops: SVG(inf) (Algorithm 25.1) through the whole model trajectory and SVG(n) with a
learned critic, each one `lax.scan` that records divergence, and the Pendulum trainer over unroll depths."""

from dataclasses import dataclass
from typing import Any, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import optax

from lib.problems import envs
from lib.core.config import check_positive, check_positive_int, check_range
from lib.core.divergence import all_finite, first_divergence
from lib.parts.evaluation import episode_returns
from lib.parts.nets import check_hidden_widths, gradient_step, mlp_init, soft_update
from lib.algorithms.svg.estimators import _check_gamma, _returns_at_every_depth, check_unroll_depth
from lib.algorithms.svg.models import (
    mlp_critic,
    pendulum_initial_state,
    pendulum_model,
    pendulum_policy,
    pendulum_policy_init,
)


# ------------------------------------------------------------------ SVG(inf)
class Trajectory(NamedTuple):
    states: jax.Array  # s_0 .. s_T
    actions: jax.Array  # a_0 .. a_T
    rewards: jax.Array  # r(s_t, a_t), t = 0 .. T


def rollout(params, s0, eps, xi, *, policy, model):
    """The trajectory that the noise (eps_0..T, xi_0..T) and the policy generate from s0, as a
    differentiable function of the policy parameters: a_t = d(s_t) + sigma(s_t) eps_t and
    s_{t+1} = mu(s_t, a_t) + Sigma xi_t (xi_T is drawn by the book's box but not used)."""

    def step(s, noise):
        e, x = noise
        mean, std = policy(params, model.observe(s))
        a = mean + std * e
        return model.step(s, a, x), (s, a, model.reward(s, a))

    _, (states, actions, rewards) = jax.lax.scan(step, s0, (eps, xi))
    return Trajectory(states, actions, rewards)


def svg_infinity_objective(params, s0, eps, xi, *, policy, model, gamma):
    """SVG(inf) for one sample: sum_{t=0}^{T} gamma^t r(s_t(w), a_t(w)) along `rollout`; no critic."""
    _check_gamma(gamma)
    rewards = rollout(params, s0, eps, xi, policy=policy, model=model).rewards
    return jnp.sum(gamma ** jnp.arange(rewards.shape[0]) * rewards)


@dataclass(frozen=True)
class SVGConfig:
    """Hyperparameters of SVG(inf) (Algorithm 25.1), of SVG(n) with a learned critic q, and of the
    Pendulum training `make_svg_train` runs: its unroll depths, its model's noise and its policy."""

    horizon: int = 40  # T: model steps per sampled trajectory, >= 1
    batch_size: int = 8  # N: start states s_0 ~ rho_0 per iteration, >= 1
    num_iterations: int = 200  # policy updates, >= 1
    policy_learning_rate: float = 2e-2  # alpha_w, Adam step on the policy, > 0
    max_grad_norm: float = 1.0  # policy gradients are clipped to this global norm, > 0
    gamma: float = 0.98  # discount in [0, 1]
    checkpoint_every: int = 25  # iterations between stored policy parameters; divides iterations
    policy_hidden: Tuple[int, ...] = (16,)  # Pendulum policy: hidden widths (tanh) of d(s; w), positive ints
    initial_action_std: float = 0.5  # Pendulum policy: sigma(s; w) at the start (then learned), > 0
    # SVG(n) only. The critic's gradient in a is all SVG(0) knows, so we expect its budget (width, Adam
    # steps) to limit how far SVG(n) gets on Pendulum in 200 updates; chapter 25 does not measure this.
    q_hidden: Tuple[int, ...] = (32, 32)  # hidden widths (ReLU) of q(s, a; theta), positive ints
    q_learning_rate: float = 3e-3  # Adam step on the critic, > 0
    num_q_steps: int = 50  # critic regression (Adam) steps per iteration, >= 1
    tau: float = 0.1  # target-critic soft-update rate in (0, 1]
    # make_svg_train only: the unroll depths trained side by side (None is SVG(inf)) and the model's noise.
    depths: Tuple[Any, ...] = (0, 1, 5, None)  # each an int n >= 0 or None; at least one
    model_noise_std: float = 0.0  # standard deviation of the Pendulum model's dynamics noise, >= 0

    def __post_init__(self):
        for name in ("horizon", "batch_size", "num_iterations", "checkpoint_every", "num_q_steps"):
            check_positive_int(name, getattr(self, name))
        for name in ("policy_learning_rate", "max_grad_norm", "initial_action_std", "q_learning_rate"):
            check_positive(name, getattr(self, name))
        check_hidden_widths(self, "policy_hidden", "q_hidden")
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("tau", self.tau, 0.0, 1.0, low_open=True)
        check_range("model_noise_std", self.model_noise_std, 0.0)
        if not self.depths:
            raise ValueError("depths must name at least one unroll depth n (or None for SVG(inf))")
        for n in self.depths:
            if n is not None:
                check_unroll_depth(n)
        if self.num_iterations % self.checkpoint_every:
            raise ValueError(
                f"checkpoint_every must divide num_iterations={self.num_iterations}, got {self.checkpoint_every}"
            )


class SVGLog(NamedTuple):
    checkpoints: Any  # policy parameters after every checkpoint_every iterations (leading axis)
    objective: jax.Array  # the batch objective J(w_n) at each iteration
    diverged_at: jax.Array  # the first iteration after which a parameter or J was inf/NaN; -1 if none


class SVGState(NamedTuple):
    """The carry of the SVG loops: the policy w, and for SVG(n) the critic theta (None for SVG(inf))."""

    policy: Any
    policy_opt_state: Any
    q: Any
    q_target: Any
    q_opt_state: Any
    diverged_at: jax.Array
    key: jax.Array


def _policy_optimizer(config):
    """Adam on the clipped gradient: clipping tames the exploding gradients of long unrolls."""
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.policy_learning_rate))


def _ascent_step(optimizer, params, opt_state, gradient):
    """One optimizer step up the gradient (optax minimizes, so it is handed the negated gradient)."""
    return gradient_step(optimizer, params, opt_state, jax.tree_util.tree_map(jnp.negative, gradient))


def _run_iterations(iteration, state, config):
    """Scan `iteration(state) -> (state, J)` config.num_iterations times. state.diverged_at records the
    first iteration whose parameters, optimizer states or J were not finite; the policy is kept
    every checkpoint_every iterations."""

    def tracked(state, index):
        new_state, objective = iteration(state)
        diverged_at = first_divergence(state.diverged_at, all_finite((new_state, objective)), index)
        return new_state._replace(diverged_at=diverged_at), (new_state.policy, objective)

    state, (policies, objective) = jax.lax.scan(tracked, state, jnp.arange(config.num_iterations))
    every = config.checkpoint_every
    checkpoints = jax.tree_util.tree_map(lambda p: p[every - 1 :: every], policies)
    return state, SVGLog(checkpoints, objective, state.diverged_at)


def _action_size(policy, params, model, initial_state, key):
    """The policy's action dimension, from shapes only (no draw from `key`)."""
    return jax.eval_shape(lambda k: policy(params, model.observe(initial_state(k)))[0], key).shape[0]


def svg_infinity(key, params, *, policy, model, initial_state, config):
    """Algorithm 25.1: SVG(inf), policy gradient ascent by autodiff through whole model rollouts.

    Each iteration n: (1) sample N start states s_0^i ~ rho_0 (`initial_state(key)`); (2) sample
    the noise eps_{0:T}^i, xi_{0:T}^i ~ N(0, I); (3) build J(w) = (1/N) sum_i sum_{t=0}^T gamma^t
    r(s_t^i(w), a_t^i(w)) with a_t = d(s_t) + sigma(s_t) eps_t and s_{t+1} = mu(s_t, a_t) + Sigma xi_t
    (`svg_infinity_objective`); (4) grad_w J by autodiff; (5) w <- w + alpha_w grad_w J (Adam on
    the clipped gradient); (6) n <- n + 1. Returns the final parameters and an SVGLog (its
    diverged_at is -1 unless w or J became inf/NaN).
    """
    T, N = config.horizon, config.batch_size
    optimizer = _policy_optimizer(config)
    state_size = model.noise_scale.shape[0]
    action_size = _action_size(policy, params, model, initial_state, key)

    def J(w, s0, eps, xi):
        per_start = jax.vmap(
            lambda s, e, x: svg_infinity_objective(w, s, e, x, policy=policy, model=model, gamma=config.gamma)
        )(s0, eps, xi)
        return jnp.mean(per_start)

    def iteration(state):
        key, key_start, key_eps, key_xi = jax.random.split(state.key, 4)
        s0 = jax.vmap(initial_state)(jax.random.split(key_start, N))  # step 1
        eps = jax.random.normal(key_eps, (N, T + 1, action_size))  # step 2
        xi = jax.random.normal(key_xi, (N, T + 1, state_size))
        objective, gradient = jax.value_and_grad(J)(state.policy, s0, eps, xi)  # steps 3-4
        w, opt_state = _ascent_step(optimizer, state.policy, state.policy_opt_state, gradient)  # step 5
        return state._replace(policy=w, policy_opt_state=opt_state, key=key), objective  # step 6

    state = SVGState(params, optimizer.init(params), None, None, None, jnp.array(-1, jnp.int32), key)
    state, log = _run_iterations(iteration, state, config)
    return state.policy, log


def _fit_critic(q_optimizer, c, opt_state, c_target, path, *, q, config):
    """config.num_q_steps Adam steps regressing q(s_t, a_t; theta) on the returns-to-go of `path` (N
    trajectories), bootstrapped by the target critic at s_T. Returns (theta, its optimizer state)."""
    T, gamma = config.horizon, config.gamma

    def return_to_go(g, r):
        g = r + gamma * g
        return g, g

    bootstrap = jax.vmap(q, in_axes=(None, 0, 0))(c_target, path.states[:, T], path.actions[:, T])
    _, targets = jax.lax.scan(return_to_go, bootstrap, path.rewards[:, :T].T, reverse=True)

    def loss(c):
        predictions = jax.vmap(jax.vmap(lambda s, a: q(c, s, a)))(path.states[:, :T], path.actions[:, :T])
        return jnp.mean((predictions - targets.T) ** 2)

    def step(carry, _):
        c, opt_state = carry
        return gradient_step(q_optimizer, c, opt_state, jax.grad(loss)(c)), None

    (c, opt_state), _ = jax.lax.scan(step, (c, opt_state), None, config.num_q_steps)
    return c, opt_state


def _svg_n_loop(key, params, critic_params, n, *, window, policy, critic, model, initial_state, config):
    """SVG(n) with a learned critic, on-policy: SVG(inf)'s loop with a bootstrapped objective.

    Each iteration samples N trajectories of T steps from rho_0 with fresh noise; fits the critic
    q(s, a; theta) to the returns-to-go bootstrapped with a target critic at s_T; then ascends the
    mean over every visited s_t of SVG(n)'s objective (`svg_objective`), whose n model steps
    reuse the noise that generated the trajectory, so at the current w they retrace it.
    n = 0 is SVG(0): the critic alone. The depth n is a (possibly traced) integer in [0, window], so
    `make_svg_train` runs every depth in one program. Returns (params, critic_params, SVGLog).
    """
    T, N, gamma = config.horizon, config.batch_size, config.gamma
    policy_optimizer, q_optimizer = _policy_optimizer(config), optax.adam(config.q_learning_rate)
    state_size = model.noise_scale.shape[0]
    action_size = _action_size(policy, params, model, initial_state, key)
    q = lambda c, s, a: critic(c, model.observe(s), a)

    def policy_objective(w, c, states, eps, xi):
        def from_start(s, e, x, t):  # SVG(n) from s_t, reusing the trajectory's noise from step t on
            e = jax.lax.dynamic_slice_in_dim(e, t, window + 1)
            x = jax.lax.dynamic_slice_in_dim(x, t, window)
            return _returns_at_every_depth(
                w, s, e, x, policy=policy, model=model, gamma=gamma, critic=critic, critic_params=c
            )[n]

        per_trajectory = jax.vmap(from_start, in_axes=(0, None, None, 0))
        return jnp.mean(jax.vmap(per_trajectory, in_axes=(0, 0, 0, None))(states, eps, xi, jnp.arange(T)))

    def iteration(state):
        key, key_start, key_eps, key_xi = jax.random.split(state.key, 4)
        s0 = jax.vmap(initial_state)(jax.random.split(key_start, N))
        eps = jax.random.normal(key_eps, (N, T + window + 1, action_size))
        xi = jax.random.normal(key_xi, (N, T + window + 1, state_size))
        path = jax.vmap(lambda s, e, x: rollout(state.policy, s, e, x, policy=policy, model=model))(
            s0, eps[:, : T + 1], xi[:, : T + 1]
        )
        c, q_opt_state = _fit_critic(q_optimizer, state.q, state.q_opt_state, state.q_target, path, q=q, config=config)
        # Policy: ascend SVG(n)'s objective averaged over every visited state.
        objective, gradient = jax.value_and_grad(policy_objective)(state.policy, c, path.states[:, :T], eps, xi)
        w, policy_opt_state = _ascent_step(policy_optimizer, state.policy, state.policy_opt_state, gradient)
        return SVGState(
            w, policy_opt_state, c, soft_update(state.q_target, c, config.tau), q_opt_state, state.diverged_at, key
        ), objective

    state = SVGState(
        params,
        policy_optimizer.init(params),
        critic_params,
        critic_params,
        q_optimizer.init(critic_params),
        jnp.array(-1, jnp.int32),
        key,
    )
    state, log = _run_iterations(iteration, state, config)
    return state.policy, state.q, log


def make_svg_train(env, config=SVGConfig()):
    """train(key) -> (policy params, SVGLog) on env's model for every n in `config.depths` at once
    (leading axis of the outputs in the order given); n = None is SVG(inf).

    env must be Pendulum-v1 (`lib.problems.envs.PENDULUM`): the model is its own physics (plus dynamics noise
    of standard deviation config.model_noise_std), so SVG knows the true model. The policy starts from
    `pendulum_policy_init(key, config)`. All finite depths share one compiled program (vmapped over
    n), each with its own critic of hidden widths config.q_hidden; None runs Algorithm 25.1 beside them.
    """
    if env.name != envs.PENDULUM.name:
        raise ValueError(f"env must be Pendulum-v1, the environment whose model lib.algorithms.svg has; got {env.name}")
    depths = config.depths
    finite = [n for n in depths if n is not None]
    model = pendulum_model(config.model_noise_std)

    def train(key):
        key_policy, key_critic, key_infinite, key_finite = jax.random.split(key, 4)
        params = pendulum_policy_init(key_policy, config)
        results = {}
        if None in depths:
            results[None] = svg_infinity(
                key_infinite,
                params,
                policy=pendulum_policy,
                model=model,
                initial_state=pendulum_initial_state,
                config=config,
            )
        if finite:
            critic_params = mlp_init(key_critic, [4, *config.q_hidden, 1])
            # Every finite depth draws the same noise (key_finite): the depths differ only in n.
            run = lambda n: _svg_n_loop(
                key_finite,
                params,
                critic_params,
                n,
                window=max(finite),
                policy=pendulum_policy,
                critic=mlp_critic,
                model=model,
                initial_state=pendulum_initial_state,
                config=config,
            )
            final, _, log = jax.vmap(run)(jnp.array(finite))
            for i, n in enumerate(finite):
                results[n] = jax.tree_util.tree_map(lambda x: x[i], (final, log))
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *[results[n] for n in depths])

    return train


def pendulum_returns(params, key, num_episodes=10):
    """Undiscounted 200-step Pendulum-v1 returns of the mean action d(s; w) (lib.parts.evaluation)."""
    greedy = lambda obs: pendulum_policy(params, obs)[0]
    return episode_returns(envs.PENDULUM, greedy, key, num_episodes)
