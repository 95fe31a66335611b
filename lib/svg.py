"""Policy optimization with a model (chapter 25): model-based gradient estimators, BPO and SVG.

A `Model` is a differentiable, reparameterized transition

    s' = mu(s, a) + Sigma xi,   xi ~ N(0, I),   with reward r(s, a),

and a policy is a function `policy(params, obs) -> (d(s; w), sigma(s; w))`, the mean action and
the standard deviation of the Gaussian action noise, a = d(s; w) + sigma(s; w) eps. A
deterministic policy uses the mean alone. A critic is `critic(critic_params, obs, a) -> q`.

Every estimator takes the noise it uses (start states s, action noise eps, dynamics noise xi) as
explicit arguments, so a trajectory is a deterministic, differentiable function of w and its
noise; `jax.grad` of the Monte Carlo objective is the estimator. The objectives are written for one
sample; `per_sample_gradients` vmaps `jax.grad` over a batch.

    estimator                        objective (one sample)              book
    deterministic, reparameterized   dpmb_reparameterized_objective      J^{DPMB-R}
    deterministic, score function    dpmb_score_function_surrogate       J^{DPMB-SF}
    BPO, n deterministic steps       bpo_objective                       section 25.1
    SVG(0), critic only              svg0_objective                      J^{SPMB-R-0}
    SVG(n), n steps + critic         svg_objective                       J^{SPMB-R-n}
    SVG(inf), whole trajectory       svg_infinity_objective, svg_infinity (Algorithm 25.1)

On the LQR (`lqr_model`) with a linear policy u = -K x + sigma eps and a Gaussian start
distribution, each objective's expectation has a closed form (`lqr_n_step_objective`,
`lqr_expected_return`): jax.grad of it is the exact gradient every estimator is tested against.

The training loops (`svg_infinity`, `svg_n`) record in their log's `diverged_at` the first iteration
whose parameters or objective stopped being finite; `lib.sweep.sweep` raises on it.

Also here: noise inference (`infer_noise`, the inverse of `sample_transition`), and SAC's Gaussian
policy step at one state (`fit_soft_gaussian`), which tends to DPG's action (`fit_dpg`) as the
temperature alpha goes to 0.
"""
import functools
import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import envs
from lib.config import check_positive, check_positive_int, check_range, concrete
from lib.divergence import all_finite, first_divergence
from lib.evaluation import episode_returns
from lib.lqr import linear_policy, linear_policy_cost_matrix
from lib.nets import check_hidden_widths, gradient_step, mlp_apply, mlp_init, soft_update
from lib.policies import gaussian_log_prob


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
        return jnp.sum(-0.5 * z**2 - 0.5 * jnp.log(2 * jnp.pi)) - log_det


jax.tree_util.register_dataclass(Model, data_fields=["params", "noise_scale"],
                                 meta_fields=["mean_fn", "reward_fn", "observe_fn"])


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
    """Pendulum-v1's differentiable physics (lib.envs) on the state [theta, theta_dot], with
    additive Gaussian dynamics noise of standard deviation noise_std on both coordinates."""
    check_range("noise_std", float(noise_std), 0.0)
    return Model(_pendulum_mean, _pendulum_reward, pendulum_observe, (), noise_std * jnp.eye(2))


def pendulum_initial_state(key):
    """A start state s_0 ~ rho_0: Pendulum-v1's reset distribution."""
    return envs.PENDULUM.reset(key)[0].physics


# ------------------------------------------------------------------ policies and critics
def linear_gaussian_policy(params, obs):
    """u = -K x + sigma eps: mean -K x (`lib.lqr.linear_policy` with w = -K), standard deviation
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
    return {"net": mlp_init(key, [3, *config.policy_hidden, 1]),
            "log_std": jnp.full((1,), math.log(config.initial_action_std))}


def quadratic_critic(critic_params, obs, a):
    """q(x, u) = -(z^T H z + c) with z = [x; u]: the form of every LQR Q-function."""
    H, c = critic_params
    z = jnp.concatenate([obs, a])
    return -(z @ H @ z + c)


def mlp_critic(critic_params, obs, a):
    """q(s, a; theta): an MLP on [obs, a]."""
    return mlp_apply(critic_params, jnp.concatenate([obs, a]))[0]


# ------------------------------------------------------------------ arguments
def check_unroll_depth(n):
    """The unroll depth n as an int; ValueError unless it is a non-negative integer."""
    try:
        if isinstance(n, bool):
            raise TypeError
        depth = operator.index(n)
    except TypeError:
        raise ValueError(f"n (the unroll depth) must be a non-negative integer, got {n!r}") from None
    if depth < 0:
        raise ValueError(f"n (the unroll depth) must be a non-negative integer, got {n}")
    return depth


def _check_noise_length(name, noise, needed):
    if noise.shape[0] < needed:
        raise ValueError(f"{name} must have at least {needed} rows (one per step), got {noise.shape[0]}")


def _check_gamma(gamma):
    value = concrete(gamma)
    if value is not None:
        check_range("gamma", float(value), 0.0, 1.0)


# ------------------------------------------------------------------ the estimators
def _n_step_return(params, s0, eps, xi, *, policy, model, gamma, critic, critic_params):
    """sum_{t<n} gamma^t r(s_t, a_t) + gamma^n q(s_n, a_n) with n = len(xi),
    a_t = d(s_t) + sigma(s_t) eps_t and s_{t+1} = mu(s_t, a_t) + Sigma xi_t; no q without a critic."""

    def step(carry, noise):
        s, discount, total = carry
        e, x = noise
        mean, std = policy(params, model.observe(s))
        a = mean + std * e
        total = total + discount * model.reward(s, a)
        return (model.step(s, a, x), discount * gamma, total), None

    n = xi.shape[0]
    init = (s0, jnp.ones((), s0.dtype), jnp.zeros((), s0.dtype))
    (s_n, discount, total), _ = jax.lax.scan(step, init, (eps[:n], xi))
    if critic is not None:
        mean, std = policy(params, model.observe(s_n))
        total = total + discount * critic(critic_params, model.observe(s_n), mean + std * eps[n])
    return total


def _returns_at_every_depth(params, s0, eps, xi, *, policy, model, gamma, critic, critic_params):
    """[J_0, ..., J_N] of `_n_step_return` for n = 0..N = len(xi) on one shared trajectory: the
    depth-n objective is the first n rewards plus gamma^n q at the step-n state and action."""

    def step(s, noise):
        e, x = noise
        mean, std = policy(params, model.observe(s))
        a = mean + std * e
        q = 0.0 if critic is None else critic(critic_params, model.observe(s), a)
        return model.step(s, a, x), (model.reward(s, a), q)

    depth = xi.shape[0]
    s_last, (rewards, qs) = jax.lax.scan(step, s0, (eps[:depth], xi))
    discounts = gamma ** jnp.arange(depth + 1)
    partial_sums = jnp.concatenate([jnp.zeros(1, rewards.dtype), jnp.cumsum(discounts[:-1] * rewards)])
    if critic is None:
        return partial_sums
    mean, std = policy(params, model.observe(s_last))
    q_last = critic(critic_params, model.observe(s_last), mean + std * eps[depth])
    return partial_sums + discounts * jnp.append(qs, q_last)


def dpmb_reparameterized_objective(params, s, xi, *, policy, model, critic, critic_params, gamma):
    """J^{DPMB-R} for one (s, xi): r(s, d(s)) + gamma q(s', d(s')), s' = f(s, d(s), xi).

    Deterministic policy, reparameterized dynamics: its jax.grad differentiates through s'.
    """
    a = policy(params, model.observe(s))[0]
    s_next = model.step(s, a, xi)
    a_next = policy(params, model.observe(s_next))[0]
    return model.reward(s, a) + gamma * critic(critic_params, model.observe(s_next), a_next)


def dpmb_score_function_surrogate(params, s, xi, *, policy, model, critic, critic_params, gamma):
    """A surrogate whose jax.grad is the DPMB-SF estimator for one (s, xi).

    s' is sampled but not differentiated; the dependence of its distribution on w enters through
    the score grad_w log p(s' | s, d(s; w)) times q(s', d(s')), and the direct dependence of
    q(s', d(s'; w)) on w through its ordinary gradient. Needs an invertible Sigma.
    """
    a = policy(params, model.observe(s))[0]
    s_next = jax.lax.stop_gradient(model.step(s, a, xi))
    q_next = critic(critic_params, model.observe(s_next), policy(params, model.observe(s_next))[0])
    score_term = jax.lax.stop_gradient(q_next) * model.log_density(s, a, s_next)
    return model.reward(s, a) + gamma * (q_next + score_term)


def bpo_objective(params, s0, *, policy, model, n, gamma, critic=None, critic_params=None):
    """Backpropagation policy optimization: sum_{t<n} gamma^t r(s_t, d(s_t)) (+ gamma^n q(s_n, d(s_n))
    with a critic), s_{t+1} = mu(s_t, d(s_t)): deterministic policy and dynamics, n unrolled steps."""
    n = check_unroll_depth(n)
    _check_gamma(gamma)
    action_size = policy(params, model.observe(s0))[0].shape[0]
    eps = jnp.zeros((n + 1, action_size), s0.dtype)
    xi = jnp.zeros((n, s0.shape[0]), s0.dtype)
    deterministic = lambda p, o: (policy(p, o)[0], jnp.zeros(action_size, s0.dtype))
    return _n_step_return(params, s0, eps, xi, policy=deterministic, model=model, gamma=gamma,
                          critic=critic, critic_params=critic_params)


def svg0_objective(params, obs, eps, *, policy, critic, critic_params):
    """SVG(0) for one sample: q(s, d(s) + sigma(s) eps). Model free: no dynamics appear."""
    mean, std = policy(params, obs)
    return critic(critic_params, obs, mean + std * eps)


def svg_objective(params, s0, eps, xi, *, policy, model, n, gamma, critic=None, critic_params=None):
    """SVG(n), J^{SPMB-R-n} for one sample: sum_{t<n} gamma^t r(s_t, a_t) + gamma^n q(s_n, a_n),
    a_t = d(s_t) + sigma(s_t) eps_t, s_{t+1} = mu(s_t, a_t) + Sigma xi_t.

    eps needs n + 1 rows and xi n rows (further rows are ignored). Without a critic the last term
    is dropped. n must be a non-negative integer.
    """
    n = check_unroll_depth(n)
    _check_gamma(gamma)
    _check_noise_length("eps", eps, n + 1)
    _check_noise_length("xi", xi, n)
    return _n_step_return(params, s0, eps[:n + 1], xi[:n], policy=policy, model=model, gamma=gamma,
                          critic=critic, critic_params=critic_params)


def per_sample_gradients(objective, params, *batched):
    """jax.grad(objective) at params, once per sample: every leaf gains a leading batch axis."""
    return jax.jit(jax.vmap(jax.grad(objective), in_axes=(None,) + (0,) * len(batched)))(params, *batched)


def _depth_gradients(params, s0, eps, xi, model, critic_params, *, policy, critic, gamma):
    def all_depths(p, s, e, x):
        return _returns_at_every_depth(p, s, e, x, policy=policy, model=model, gamma=gamma,
                                       critic=critic, critic_params=critic_params)
    # Forward mode: one pass carries a tangent per parameter through all N steps at once.
    per_sample = jax.vmap(jax.jacfwd(all_depths), in_axes=(None, 0, 0, 0))(params, s0, eps, xi)
    return jax.tree_util.tree_map(lambda g: jnp.swapaxes(g, 0, 1), per_sample)


_depth_gradients_jit = jax.jit(_depth_gradients, static_argnames=("policy", "critic", "gamma"))


def gradients_by_depth(params, s0, eps, xi, *, policy, model, max_depth, gamma, critic=None, critic_params=None):
    """Per-sample SVG(n) gradients for every depth n = 0..max_depth on the same noise.

    s0 (batch, state), eps (batch, max_depth + 1, action), xi (batch, max_depth, state). Every leaf
    of the result has shape (max_depth + 1, batch, ...): entry n is jax.grad of `svg_objective` at
    depth n. The depths share one trajectory per sample, and forward-mode differentiation gets
    all of them in one pass (cheap when the policy has few parameters, like a linear gain).
    """
    max_depth = check_unroll_depth(max_depth)
    _check_gamma(gamma)
    _check_noise_length("eps", eps[0], max_depth + 1)
    _check_noise_length("xi", xi[0], max_depth)
    return _depth_gradients_jit(params, s0, eps[:, :max_depth + 1], xi[:, :max_depth], model, critic_params,
                                policy=policy, critic=critic, gamma=float(gamma))


# ------------------------------------------------------------------ SVG(inf)
class Rollout(NamedTuple):
    states: jax.Array   # s_0 .. s_T
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
    return Rollout(states, actions, rewards)


def svg_infinity_objective(params, s0, eps, xi, *, policy, model, gamma):
    """SVG(inf) for one sample: sum_{t=0}^{T} gamma^t r(s_t(w), a_t(w)) along `rollout`; no critic."""
    _check_gamma(gamma)
    rewards = rollout(params, s0, eps, xi, policy=policy, model=model).rewards
    return jnp.sum(gamma ** jnp.arange(rewards.shape[0]) * rewards)


@dataclass(frozen=True)
class SVGConfig:
    """Hyperparameters of SVG(inf) (Algorithm 25.1), of SVG(n) with a learned critic q, and of the
    Pendulum policy `make_pendulum_svg_train` starts from."""
    horizon: int = 40                    # T: model steps per sampled trajectory, >= 1
    batch_size: int = 8                  # N: start states s_0 ~ rho_0 per iteration, >= 1
    iterations: int = 200                # policy updates, >= 1
    policy_learning_rate: float = 2e-2   # alpha_w, Adam step on the policy, > 0
    max_grad_norm: float = 1.0           # policy gradients are clipped to this global norm, > 0
    gamma: float = 0.98                  # discount in [0, 1]
    checkpoint_every: int = 25           # iterations between stored policy parameters; divides iterations
    policy_hidden: Tuple[int, ...] = (16,)   # Pendulum policy: hidden widths (tanh) of d(s; w), positive ints
    initial_action_std: float = 0.5      # Pendulum policy: sigma(s; w) at the start (then learned), > 0
    # SVG(n) only. The critic's gradient in a is all SVG(0) knows, and its budget decides how far
    # SVG(5) gets on Pendulum in 200 updates: 25 Adam steps per iteration leave it near SVG(0), 50 lift it.
    q_hidden: Tuple[int, ...] = (32, 32)  # hidden widths (ReLU) of q(s, a; theta), positive ints
    q_learning_rate: float = 3e-3        # Adam step on the critic, > 0
    q_steps: int = 50                    # critic regression steps per iteration, >= 1
    tau: float = 0.1                     # target-critic soft-update rate in (0, 1]

    def __post_init__(self):
        for name in ("horizon", "batch_size", "iterations", "checkpoint_every", "q_steps"):
            check_positive_int(name, getattr(self, name))
        for name in ("policy_learning_rate", "max_grad_norm", "initial_action_std", "q_learning_rate"):
            check_positive(name, getattr(self, name))
        check_hidden_widths(self, "policy_hidden", "q_hidden")
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("tau", self.tau, 0.0, 1.0, low_open=True)
        if self.iterations % self.checkpoint_every:
            raise ValueError(f"checkpoint_every must divide iterations={self.iterations}, got {self.checkpoint_every}")


class SVGLog(NamedTuple):
    checkpoints: Any        # policy parameters after every checkpoint_every iterations (leading axis)
    objective: jax.Array    # the batch objective J(w_n) at each iteration
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
    """Scan `iteration(state) -> (state, J)` config.iterations times. state.diverged_at records the
    first iteration whose parameters, optimizer states or J were not finite; the policy is kept
    every checkpoint_every iterations."""

    def tracked(state, index):
        new_state, objective = iteration(state)
        diverged_at = first_divergence(state.diverged_at, all_finite((new_state, objective)), index)
        return new_state._replace(diverged_at=diverged_at), (new_state.policy, objective)

    state, (policies, objective) = jax.lax.scan(tracked, state, jnp.arange(config.iterations))
    every = config.checkpoint_every
    checkpoints = jax.tree_util.tree_map(lambda p: p[every - 1::every], policies)
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
        per_start = jax.vmap(lambda s, e, x: svg_infinity_objective(w, s, e, x, policy=policy, model=model,
                                                                     gamma=config.gamma))(s0, eps, xi)
        return jnp.mean(per_start)

    def iteration(state):
        key, key_start, key_eps, key_xi = jax.random.split(state.key, 4)
        s0 = jax.vmap(initial_state)(jax.random.split(key_start, N))                      # step 1
        eps = jax.random.normal(key_eps, (N, T + 1, action_size))                         # step 2
        xi = jax.random.normal(key_xi, (N, T + 1, state_size))
        objective, gradient = jax.value_and_grad(J)(state.policy, s0, eps, xi)            # steps 3-4
        w, opt_state = _ascent_step(optimizer, state.policy, state.policy_opt_state, gradient)  # step 5
        return state._replace(policy=w, policy_opt_state=opt_state, key=key), objective   # step 6

    state = SVGState(params, optimizer.init(params), None, None, None, jnp.array(-1, jnp.int32), key)
    state, log = _run_iterations(iteration, state, config)
    return state.policy, log


def _fit_critic(q_optimizer, c, opt_state, c_target, path, *, q, config):
    """config.q_steps Adam steps regressing q(s_t, a_t; theta) on the returns-to-go of `path` (N
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

    (c, opt_state), _ = jax.lax.scan(step, (c, opt_state), None, config.q_steps)
    return c, opt_state


def _svg_n_loop(key, params, critic_params, n, *, window, policy, critic, model, initial_state, config):
    """svg_n's loop with the depth n as a (possibly traced) integer in [0, window]."""
    T, N, gamma = config.horizon, config.batch_size, config.gamma
    policy_optimizer, q_optimizer = _policy_optimizer(config), optax.adam(config.q_learning_rate)
    state_size = model.noise_scale.shape[0]
    action_size = _action_size(policy, params, model, initial_state, key)
    q = lambda c, s, a: critic(c, model.observe(s), a)

    def policy_objective(w, c, states, eps, xi):
        def from_start(s, e, x, t):  # SVG(n) from s_t, reusing the trajectory's noise from step t on
            e = jax.lax.dynamic_slice_in_dim(e, t, window + 1)
            x = jax.lax.dynamic_slice_in_dim(x, t, window)
            return _returns_at_every_depth(w, s, e, x, policy=policy, model=model, gamma=gamma,
                                           critic=critic, critic_params=c)[n]
        per_trajectory = jax.vmap(from_start, in_axes=(0, None, None, 0))
        return jnp.mean(jax.vmap(per_trajectory, in_axes=(0, 0, 0, None))(states, eps, xi, jnp.arange(T)))

    def iteration(state):
        key, key_start, key_eps, key_xi = jax.random.split(state.key, 4)
        s0 = jax.vmap(initial_state)(jax.random.split(key_start, N))
        eps = jax.random.normal(key_eps, (N, T + window + 1, action_size))
        xi = jax.random.normal(key_xi, (N, T + window + 1, state_size))
        path = jax.vmap(lambda s, e, x: rollout(state.policy, s, e, x, policy=policy, model=model))(
            s0, eps[:, :T + 1], xi[:, :T + 1])
        c, q_opt_state = _fit_critic(q_optimizer, state.q, state.q_opt_state, state.q_target, path, q=q, config=config)
        # Policy: ascend SVG(n)'s objective averaged over every visited state.
        objective, gradient = jax.value_and_grad(policy_objective)(state.policy, c, path.states[:, :T], eps, xi)
        w, policy_opt_state = _ascent_step(policy_optimizer, state.policy, state.policy_opt_state, gradient)
        return SVGState(w, policy_opt_state, c, soft_update(state.q_target, c, config.tau), q_opt_state,
                        state.diverged_at, key), objective

    state = SVGState(params, policy_optimizer.init(params), critic_params, critic_params,
                     q_optimizer.init(critic_params), jnp.array(-1, jnp.int32), key)
    state, log = _run_iterations(iteration, state, config)
    return state.policy, state.q, log


def svg_n(key, params, critic_params, *, n, policy, critic, model, initial_state, config):
    """SVG(n) with a learned critic, on-policy: SVG(inf)'s loop with a bootstrapped objective.

    Each iteration samples N trajectories of T steps from rho_0 with fresh noise; fits the critic
    q(s, a; theta) to the returns-to-go bootstrapped with a target critic at s_T; then ascends the
    mean over every visited s_t of SVG(n)'s objective (`svg_objective`), whose n model steps
    reuse the noise that generated the trajectory, so at the current w they retrace it.
    n = 0 is SVG(0): the critic alone. Returns (params, critic_params, SVGLog).
    """
    n = check_unroll_depth(n)
    return _svg_n_loop(key, params, critic_params, n, window=n, policy=policy, critic=critic, model=model,
                       initial_state=initial_state, config=config)


def make_pendulum_svg_train(depths, config=SVGConfig(), noise_std=0.0):
    """train(key) -> (policy params, SVGLog) on the Pendulum model for every n in `depths` at once
    (leading axis of the outputs in the order given); n = None is SVG(inf).

    The model is Pendulum-v1's own physics (plus dynamics noise of standard deviation noise_std),
    so SVG knows the true model. The policy starts from `pendulum_policy_init(key, config)`. All
    finite depths share one compiled program (vmapped over n), each with its own critic of hidden
    widths config.q_hidden; None runs Algorithm 25.1 beside them.
    """
    depths = tuple(depths)
    if not depths:
        raise ValueError("depths must name at least one unroll depth n (or None for SVG(inf))")
    finite = [check_unroll_depth(n) for n in depths if n is not None]
    model = pendulum_model(noise_std)

    def train(key):
        key_policy, key_critic, key_infinite, key_finite = jax.random.split(key, 4)
        params = pendulum_policy_init(key_policy, config)
        results = {}
        if None in depths:
            results[None] = svg_infinity(key_infinite, params, policy=pendulum_policy, model=model,
                                         initial_state=pendulum_initial_state, config=config)
        if finite:
            critic_params = mlp_init(key_critic, [4, *config.q_hidden, 1])
            # Every finite depth draws the same noise (key_finite): the depths differ only in n.
            run = lambda n: _svg_n_loop(key_finite, params, critic_params, n, window=max(finite), policy=pendulum_policy,
                                        critic=mlp_critic, model=model, initial_state=pendulum_initial_state,
                                        config=config)
            final, _, log = jax.vmap(run)(jnp.array(finite))
            for i, n in enumerate(finite):
                results[n] = jax.tree_util.tree_map(lambda x: x[i], (final, log))
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *[results[n] for n in depths])

    return train


def pendulum_returns(params, key, num_episodes=10):
    """Undiscounted 200-step Pendulum-v1 returns of the mean action d(s; w) (lib.evaluation)."""
    greedy = lambda obs: pendulum_policy(params, obs)[0]
    return episode_returns(envs.PENDULUM, greedy, key, num_episodes)


# ------------------------------------------------------------------ noise inference

def sample_transition(params, s, eps, xi, *, policy, model):
    """Forward sampling: a = d(s) + sigma(s) eps, s' = mu(s, a) + Sigma xi. Returns (a, s')."""
    mean, std = policy(params, model.observe(s))
    a = mean + std * eps
    return a, model.step(s, a, xi)


def infer_noise(params, s, a, s_next, *, policy, model):
    """Noise inference: the (eps, xi) that make `sample_transition` produce the observed (a, s').

    eps = (a - d(s)) / sigma(s) and xi = Sigma^{-1} (s' - mu(s, a)): the Gaussian
    reparameterization is affine, so it inverts exactly when sigma > 0 and Sigma is invertible.
    """
    mean, std = policy(params, model.observe(s))
    std_value = concrete(std)
    if std_value is not None and np.any(std_value <= 0):
        raise ValueError("noise inference needs sigma(s; w) > 0, got a zero or negative action std")
    scale = concrete(model.noise_scale)
    if scale is not None and np.linalg.matrix_rank(scale) < scale.shape[0]:
        raise ValueError("noise inference needs an invertible dynamics noise scale Sigma (noise_std > 0)")
    eps = (a - mean) / std
    xi = jnp.linalg.solve(model.noise_scale, s_next - model.mean(s, a))
    return eps, xi


# ------------------------------------------------------------------ LQR ground truth
@jax.jit
def lqr_q_function(lqr, params):
    """The exact q_K(x, u) = -(z^T H z + c) of the policy u = -K x + sigma eps, as critic params (H, c)."""
    K, sigma = params["gain"], jnp.exp(params["log_std"])
    P = linear_policy_cost_matrix(lqr, K)
    noise = lqr.noise_cov + lqr.B @ jnp.diag(sigma**2) @ lqr.B.T
    value_constant = (jnp.sum(sigma**2 * jnp.diag(lqr.R)) + lqr.gamma * jnp.trace(P @ noise)) / (1 - lqr.gamma)
    g = lqr.gamma
    H = jnp.block([[lqr.Q + g * lqr.A.T @ P @ lqr.A, g * lqr.A.T @ P @ lqr.B],
                   [g * lqr.B.T @ P @ lqr.A, lqr.R + g * lqr.B.T @ P @ lqr.B]])
    return H, g * jnp.trace(P @ lqr.noise_cov) + g * value_constant


def lqr_n_step_objective(lqr, params, n, start_mean, start_cov, critic_params=None, stochastic=True):
    """Exact E[sum_{t<n} gamma^t r(x_t, u_t) + gamma^n q(x_n, u_n)] for u = -K x (+ sigma eps if
    stochastic) from x_0 ~ N(start_mean, start_cov), with x_{t+1} = A x_t + B u_t + w_t and the
    quadratic critic q = -(z^T H z + c) (dropped if critic_params is None). A finite sum over the
    Gaussian state moments m_t, S_t; jax.grad of it is the exact gradient of every estimator.
    """
    n = check_unroll_depth(n)
    return lqr_objectives_by_depth(lqr, params, n, start_mean, start_cov, critic_params, stochastic)[n]


def lqr_objectives_by_depth(lqr, params, max_depth, start_mean, start_cov, critic_params=None, stochastic=True):
    """[J_0, ..., J_N] of `lqr_n_step_objective` for every depth n = 0..N = max_depth in one pass."""
    return _lqr_objectives_by_depth(lqr, params, check_unroll_depth(max_depth), start_mean, start_cov,
                                    critic_params, bool(stochastic))


@functools.partial(jax.jit, static_argnums=(2, 6))
def _lqr_objectives_by_depth(lqr, params, max_depth, start_mean, start_cov, critic_params, stochastic):
    K = params["gain"]
    sigma2 = jnp.exp(2 * params["log_std"]) if stochastic else jnp.zeros(K.shape[0])
    closed = lqr.A - lqr.B @ K
    noise = lqr.noise_cov + lqr.B @ jnp.diag(sigma2) @ lqr.B.T
    stage = lqr.Q + K.T @ lqr.R @ K
    quad = lambda M, mean, cov: mean @ M @ mean + jnp.trace(M @ cov)
    if critic_params is None:
        terminal = lambda mean, cov: jnp.zeros((), cov.dtype)
    else:
        H, c = critic_params
        state_size = K.shape[1]
        lift = jnp.concatenate([jnp.eye(state_size), -K])        # z = lift x + [0; sigma eps]
        action_block = H[state_size:, state_size:]
        terminal = lambda mean, cov: -(quad(lift.T @ H @ lift, mean, cov) + jnp.sum(sigma2 * jnp.diag(action_block)) + c)

    def step(carry, _):
        mean, cov, discount, total = carry
        objective = total + discount * terminal(mean, cov)       # J_t: t rewards, then the critic
        total = total - discount * (quad(stage, mean, cov) + jnp.sum(sigma2 * jnp.diag(lqr.R)))
        return (closed @ mean, closed @ cov @ closed.T + noise, discount * lqr.gamma, total), objective

    dtype = jnp.result_type(closed, noise)
    init = (jnp.asarray(start_mean, dtype), jnp.asarray(start_cov, dtype), jnp.ones((), dtype), jnp.zeros((), dtype))
    (mean, cov, discount, total), objectives = jax.lax.scan(step, init, None, max_depth)
    return jnp.append(objectives, total + discount * terminal(mean, cov))


@functools.partial(jax.jit, static_argnames="stochastic")
def lqr_expected_return(lqr, params, start_mean, start_cov, stochastic=True):
    """Exact E[sum_t gamma^t r] of u = -K x (+ sigma eps) from x_0 ~ N(start_mean, start_cov), via P_K."""
    K = params["gain"]
    sigma2 = jnp.exp(2 * params["log_std"]) if stochastic else jnp.zeros(K.shape[0])
    P = linear_policy_cost_matrix(lqr, K)
    noise = lqr.noise_cov + lqr.B @ jnp.diag(sigma2) @ lqr.B.T
    constant = (jnp.sum(sigma2 * jnp.diag(lqr.R)) + lqr.gamma * jnp.trace(P @ noise)) / (1 - lqr.gamma)
    return -(start_mean @ P @ start_mean + jnp.trace(P @ start_cov) + constant)


# ------------------------------------------------------------------ DPG as the zero-temperature SAC
def skewed_q(a):
    """A one-state, non-quadratic Q(a) = 2a - exp(a), maximized at a* = log 2."""
    return 2.0 * a - jnp.exp(a)


def soft_gaussian_closed_form(alpha):
    """For Q = skewed_q the Gaussian minimizing KL(N(mu, s^2) || exp(Q/alpha)/Z) is exact:
    mu = log 2 - alpha / 4 and s = sqrt(alpha / 2); both reach (a*, 0) as alpha -> 0."""
    return jnp.log(2.0) - alpha / 4.0, jnp.sqrt(alpha / 2.0)


class GaussianFit(NamedTuple):
    mean: jax.Array
    std: jax.Array


def fit_soft_gaussian(q, alpha, eps, weights, steps=2000, learning_rate=0.05):
    """SAC's policy step at one state: minimize alpha * KL(N(mu, s^2) || exp(q/alpha)/Z), i.e.
    E[alpha log N(a; mu, s) - q(a)] with a = mu + s eps (reparameterized), averaged over the noise
    nodes eps with `weights` (samples with weights 1/M, or Gauss-Hermite nodes). alpha = 0 is DPG
    with a Gaussian whose width only shrinks. Returns the fitted GaussianFit."""
    check_positive_int("steps", steps)
    check_positive("learning_rate", learning_rate)
    alpha_value = concrete(alpha)
    if alpha_value is not None:
        check_range("alpha", float(alpha_value), 0.0)
    optimizer = optax.adam(learning_rate)

    def loss(theta):
        mu, log_s = theta
        a = mu + jnp.exp(log_s) * eps
        log_density = gaussian_log_prob(mu[None], log_s[None], a[:, None])
        return jnp.sum(weights * (alpha * log_density - q(a)))

    def step(carry, _):
        theta, opt_state = carry
        return gradient_step(optimizer, theta, opt_state, jax.grad(loss)(theta)), None

    theta = (jnp.zeros(()), jnp.zeros(()))
    (theta, _), _ = jax.lax.scan(step, (theta, optimizer.init(theta)), None, steps)
    return GaussianFit(theta[0], jnp.exp(theta[1]))


def fit_dpg(q, steps=2000, learning_rate=0.05):
    """DPG at one state: gradient ascent of q(mu) over the deterministic action mu."""
    check_positive_int("steps", steps)
    check_positive("learning_rate", learning_rate)
    optimizer = optax.adam(learning_rate)

    def step(carry, _):
        mu, opt_state = carry
        return _ascent_step(optimizer, mu, opt_state, jax.grad(q)(mu)), None

    mu = jnp.zeros(())
    (mu, _), _ = jax.lax.scan(step, (mu, optimizer.init(mu)), None, steps)
    return mu
