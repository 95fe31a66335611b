"""Chapter 26: policy optimization with a trust region.

Three layers, each built on the one before.

1. The trust-region loop in Euclidean space. At x_k we build the quadratic model
   m_k(p) = f(x_k) + g_k^T p + 1/2 p^T B_k p (B_k the exact Hessian, by `jax.hessian`), solve
   min m_k(p) subject to ||p|| <= Delta_k (Cauchy point or Steihaug's truncated conjugate gradient),
   and compare the actual reduction with the predicted one,
   rho_k = (f(x_k) - f(x_k + p)) / (m_k(0) - m_k(p)).
   The step is accepted when rho_k >= eta_1; the radius shrinks by alpha_1 when rho_k < eta_1,
   stays when eta_1 <= rho_k < eta_2 and grows by alpha_2 when rho_k >= eta_2.

2. The same idea with the KL divergence as the distance between policies: KL between Gaussian or
   categorical policies, its second-order (Fisher) form 1/2 d^T I(theta_k) d, Fisher-vector products
   by automatic differentiation (the Hessian of the mean KL at theta_k, a jvp of a grad), and
   conjugate gradient to solve I(theta_k) x = g without ever forming I(theta_k).

3. Three policy optimizers built from those pieces and trained end to end with one jitted
   `train(key, knobs)` (a `lax.scan` over iterations of rollout + update, vmappable over seeds
   and over a grid of knobs):
   - natural policy gradient (NPG): the step sqrt(2 delta / g^T I^-1 g) I^-1 g that exactly
     satisfies the Fisher form of the KL bound;
   - TRPO: the same direction, shrunk by a backtracking line search until the exact mean KL is
     <= delta and the surrogate objective improves;
   - PPO: no constraint, a clipped probability ratio in a first-order objective optimized with
     Adam over mini-batches for several epochs.
   All three use GAE advantages (`lib.onpolicy.gae_advantages`) and a value network v(s; psi)
   fitted by regression on the lambda-returns.

The book's text for the chapter stops after the trust-region basics; the policy optimizers follow
the published algorithms (Kakade 2001; Schulman et al. 2015, 2017).
"""
import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from lib.config import check_positive, check_positive_int, check_range, concrete
from lib.nets import check_hidden_widths
from lib.onpolicy import (annealable_adam, annealed_learning_rate, collect_rollout,
                          current_learning_rate, finished_episodes, gae_advantages, init_policy_and_value,
                          minibatch_epochs, normalize, policy_output, run_iterations, start_envs, state_value,
                          with_learning_rate)
from lib.policies import categorical_entropy, categorical_log_prob, gaussian_log_prob, gaussian_sample

# ================================================================ 1. the trust-region loop


def rosenbrock(x):
    """f(x) = (1 - x_1)^2 + 100 (x_2 - x_1^2)^2, minimized at (1, 1) where f = 0."""
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


@dataclass(frozen=True)
class TrustRegionConfig:
    """The knobs of the trust-region loop (the book's symbols).

    eta_1, eta_2: thresholds on rho_k, 0 < eta_1 < eta_2 < 1. rho_k < eta_1 is a poor prediction
        (the step is rejected and the radius shrinks), rho_k >= eta_2 a very good one (it grows).
    alpha_1: shrink factor, 0 < alpha_1 < 1.  alpha_2: growth factor, alpha_2 > 1.
    initial_radius: Delta_0 > 0.  max_radius: a cap on Delta_k (>= Delta_0), so that a run of very
        good steps cannot grow the region without bound.
    num_iterations: a fixed number of iterations (the loop is a scan; converged iterations propose
        p = 0 and change nothing).
    solver: "steihaug" (truncated conjugate gradient on the model, follows negative curvature to
        the boundary) or "cauchy" (the model's minimizer along -g_k inside the region).
    """
    eta_1: float = 0.25
    eta_2: float = 0.75
    alpha_1: float = 0.25
    alpha_2: float = 2.0
    initial_radius: float = 1.0
    max_radius: float = 10.0
    num_iterations: int = 50
    solver: str = "steihaug"

    def __post_init__(self):
        check_range("eta_1", self.eta_1, 0.0, 1.0, low_open=True, high_open=True)
        check_range("eta_2", self.eta_2, self.eta_1, 1.0, low_open=True, high_open=True)
        check_range("alpha_1", self.alpha_1, 0.0, 1.0, low_open=True, high_open=True)
        check_range("alpha_2", self.alpha_2, 1.0, low_open=True)
        check_positive("initial_radius", self.initial_radius)
        check_range("max_radius", self.max_radius, self.initial_radius)
        check_positive_int("num_iterations", self.num_iterations)
        if self.solver not in ("steihaug", "cauchy"):
            raise ValueError(f"solver must be 'steihaug' or 'cauchy', got {self.solver!r}")


class TrustRegionTrace(NamedTuple):
    """The recorded run: K = num_iterations iterations."""
    iterates: jax.Array   # [K + 1, n] x_0 ... x_K
    values: jax.Array     # [K + 1] f(x_k)
    radii: jax.Array      # [K + 1] Delta_0 ... Delta_K
    steps: jax.Array      # [K, n] the proposed step p_k (accepted or not)
    rho: jax.Array        # [K] actual / predicted reduction
    accepted: jax.Array   # [K] bool


def quadratic_model(f, x):
    """(f(x), g, B): value, gradient and exact Hessian, the ingredients of m_k(p)."""
    value, gradient = jax.value_and_grad(f)(x)
    return value, gradient, jax.hessian(f)(x)


def model_decrease(gradient, hessian, step):
    """m_k(0) - m_k(p) = -(g^T p + 1/2 p^T B p), the reduction the model predicts."""
    return -(gradient @ step + 0.5 * step @ hessian @ step)


def cauchy_point(gradient, hessian, radius):
    """The minimizer of m_k along -g inside ||p|| <= Delta: p = -tau Delta g / ||g||."""
    norm = jnp.linalg.norm(gradient)
    curvature = gradient @ hessian @ gradient
    tau = jnp.where(curvature > 0, jnp.minimum(1.0, norm**3 / (radius * jnp.maximum(curvature, 1e-30))), 1.0)
    return jnp.where(norm > 0, -tau * radius * gradient / jnp.maximum(norm, 1e-30), jnp.zeros_like(gradient))


def _to_boundary(z, d, radius):
    """The tau >= 0 with ||z + tau d|| = radius (z inside the region)."""
    a, b, c = d @ d, 2.0 * z @ d, z @ z - radius**2
    a = jnp.maximum(a, 1e-30)
    return (-b + jnp.sqrt(jnp.maximum(b * b - 4.0 * a * c, 0.0))) / (2.0 * a)


def steihaug_cg(gradient, hessian, radius, tolerance=1e-10):
    """Approximate min m_k(p) s.t. ||p|| <= Delta by conjugate gradient on B p = -g, stopped early.

    CG from p = 0 runs until the residual is below `tolerance`, or leaves the region (the step is
    cut at the boundary), or meets a direction of non-positive curvature d^T B d <= 0 (followed to
    the boundary). At most 2n iterations; the first iterate is the Cauchy point.
    """
    n = gradient.shape[0]

    def cond(carry):
        j, _, _, _, done = carry
        return jnp.logical_and(j < 2 * n, jnp.logical_not(done))

    def body(carry):
        j, z, r, d, _ = carry
        curvature = d @ hessian @ d
        rr = r @ r
        alpha = rr / jnp.where(curvature > 0, curvature, 1.0)
        z_next = z + alpha * d
        leaves = jnp.logical_or(curvature <= 0, jnp.linalg.norm(z_next) >= radius)
        z_boundary = z + _to_boundary(z, d, radius) * d
        r_next = r + alpha * (hessian @ d)
        beta = (r_next @ r_next) / jnp.maximum(rr, 1e-30)
        small = jnp.sqrt(r_next @ r_next) < tolerance
        z = jnp.where(leaves, z_boundary, z_next)
        return j + 1, z, r_next, -r_next + beta * d, jnp.logical_or(leaves, small)

    start_done = jnp.sqrt(gradient @ gradient) < tolerance
    init = (0, jnp.zeros_like(gradient), gradient, -gradient, start_done)
    return jax.lax.while_loop(cond, body, init)[1]


def trust_region_step(f, x, radius, eta_1, eta_2, alpha_1, alpha_2, max_radius, solver="steihaug"):
    """One iteration: model, step, rho_k, acceptance, radius update. Returns (x, radius, p, rho, accepted)."""
    value, gradient, hessian = quadratic_model(f, x)
    solve = steihaug_cg if solver == "steihaug" else cauchy_point
    step = solve(gradient, hessian, radius)
    predicted = model_decrease(gradient, hessian, step)
    actual = value - f(x + step)
    # p = 0 (a stationary point) predicts and achieves nothing: count it as a perfect prediction.
    rho = jnp.where(predicted > 0, actual / jnp.where(predicted > 0, predicted, 1.0), 1.0)
    accepted = rho >= eta_1
    x = jnp.where(accepted, x + step, x)
    radius = jnp.where(rho < eta_1, alpha_1 * radius, jnp.where(rho >= eta_2, alpha_2 * radius, radius))
    return x, jnp.minimum(radius, max_radius), step, rho, accepted


def _trust_region_run(f, x0, knobs, num_iterations, solver):
    eta_1, eta_2, alpha_1, alpha_2, initial_radius, max_radius = knobs

    def iteration(carry, _):
        x, radius = carry
        x_next, radius_next, step, rho, accepted = trust_region_step(
            f, x, radius, eta_1, eta_2, alpha_1, alpha_2, max_radius, solver)
        return (x_next, radius_next), (x_next, f(x_next), radius_next, step, rho, accepted)

    radius0 = jnp.asarray(initial_radius, x0.dtype)
    _, (xs, fs, radii, steps, rho, accepted) = jax.lax.scan(iteration, (x0, radius0), None, num_iterations)
    return TrustRegionTrace(jnp.concatenate([x0[None], xs]), jnp.concatenate([f(x0)[None], fs]),
                            jnp.concatenate([radius0[None], radii]), steps, rho, accepted)


_trust_region_run_jit = jax.jit(_trust_region_run, static_argnames=("f", "num_iterations", "solver"))


def trust_region_minimize(f, x0, config=TrustRegionConfig()):
    """Minimize f from x0 with the trust-region loop; returns the whole TrustRegionTrace.

    The thresholds, factors and radii enter the compiled loop as array values, so a new config with
    the same num_iterations and solver (a slider move) reuses the compiled code. `f` must be a
    hashable function (a module-level def), as it is a static argument.
    """
    if not isinstance(config, TrustRegionConfig):
        raise ValueError("config must be a TrustRegionConfig")
    x0 = jnp.asarray(x0)
    if x0.ndim != 1:
        raise ValueError(f"x0 must be a vector, got shape {x0.shape}")
    knobs = jnp.asarray([config.eta_1, config.eta_2, config.alpha_1, config.alpha_2,
                         config.initial_radius, config.max_radius], x0.dtype)
    return _trust_region_run_jit(f, x0, knobs, config.num_iterations, config.solver)


# ================================================================ 2. KL, Fisher, conjugate gradient


def categorical_kl(logits_p, logits_q):
    """KL(p || q) = sum_a p(a) log(p(a) / q(a)) between two categoricals given by logits (last axis)."""
    log_p, log_q = jax.nn.log_softmax(logits_p), jax.nn.log_softmax(logits_q)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def gaussian_kl(mean_p, log_std_p, mean_q, log_std_q):
    """KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)) for diagonal Gaussians, summed over the last axis."""
    var_p, var_q = jnp.exp(2.0 * log_std_p), jnp.exp(2.0 * log_std_q)
    per_dim = log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2.0 * var_q) - 0.5
    return jnp.sum(per_dim, axis=-1)


def categorical_fisher(logits):
    """Fisher information of a categorical with respect to its logits: diag(p) - p p^T."""
    p = jax.nn.softmax(logits)
    return jnp.diag(p) - jnp.outer(p, p)


def gaussian_fisher(log_std):
    """Fisher information of a diagonal Gaussian with respect to (mean, log_std): diag(1/sigma^2, 2)."""
    return jnp.diag(jnp.concatenate([jnp.exp(-2.0 * log_std), 2.0 * jnp.ones_like(log_std)]))


def fisher_quadratic_form(fisher, delta):
    """1/2 d^T I(theta_k) d: the second-order approximation of KL(p(theta_k + d) || p(theta_k))."""
    return 0.5 * delta @ fisher @ delta


def fisher_vector_product(mean_kl, params, vector, damping=0.0):
    """I(theta_k) v + damping v without forming I: the Hessian-vector product of the mean KL at theta_k.

    `mean_kl(theta)` must be KL(pi_{theta_k} || pi_theta) averaged over states, with theta_k held
    fixed, evaluated here at theta = params = theta_k: its gradient vanishes there and its Hessian is
    the Fisher matrix. Pearlmutter's trick: the jvp of the gradient in the direction v.
    """
    check_range("damping", damping, 0.0)
    return jax.jvp(jax.grad(mean_kl), (params,), (vector,))[1] + damping * vector


def conjugate_gradient(matvec, b, num_iterations=10):
    """Solve A x = b for symmetric positive-definite A given only v -> A v, in a fixed number of steps.

    Exact (in exact arithmetic) after n iterations for an n x n system; fewer give the usual
    truncated solution. Steps with a vanishing residual leave x unchanged (no division by zero).
    A is refused where it is not positive definite: a search direction with d^T A d <= 0 stops the
    iteration. Called with concrete values that raises a ValueError; under jit (no value to raise on)
    the iterate reached before that direction is returned, as Steihaug's method does.
    """
    check_positive_int("num_iterations", num_iterations)
    x, refused = _conjugate_gradient(matvec, b, num_iterations)
    refused = concrete(refused)
    if refused is not None and bool(refused):
        raise ValueError("matvec must be a symmetric positive-definite matrix: conjugate_gradient met a direction d "
                         "with d^T A d <= 0 (add damping, or use steihaug_cg for an indefinite model)")
    return x


def _conjugate_gradient(matvec, b, num_iterations):
    """(x, refused): CG's iterate and whether a direction of non-positive curvature stopped it."""
    def body(_, carry):
        x, r, d, rr, refused = carry
        ad = matvec(d)
        curvature = d @ ad
        refused = refused | ((rr > 1e-30) & (curvature <= 0))
        live = (rr > 1e-30) & ~refused
        alpha = jnp.where(live, rr / jnp.where(live, curvature, 1.0), 0.0)
        x = x + alpha * d
        r = r - alpha * ad
        rr_next = r @ r
        d = r + jnp.where(live, rr_next / jnp.where(live, rr, 1.0), 0.0) * d
        return x, r, d, rr_next, refused

    x0 = jnp.zeros_like(b)
    x, _, _, _, refused = jax.lax.fori_loop(0, num_iterations, body, (x0, b, b, b @ b, jnp.array(False)))
    return x, refused


# ================================================================ 3. policies and the three optimizers


class PolicyParams(NamedTuple):
    policy: list         # MLP: observation -> logits (categorical) or mean (Gaussian)
    log_std: jax.Array   # state-independent log standard deviation (Gaussian only; unused otherwise)
    value: list          # MLP: observation -> v(s; psi)


def init_policy(key, env, policy_hidden=(64, 64), value_hidden=(64, 64), initial_log_std=-0.5):
    """Policy and value MLPs (`lib.onpolicy.init_policy_and_value`: tanh layers, the policy's output scaled
    by 0.01) and, for a Gaussian policy, its log standard deviation."""
    policy, value = init_policy_and_value(key, env, policy_hidden, value_hidden)
    return PolicyParams(policy, jnp.full((0 if env.discrete else env.action_size,), initial_log_std), value)


def distribution(env, policy, log_std, observations):
    """The policy's distribution parameters at each observation: logits, or (mean, log_std)."""
    out = policy_output(policy, observations)
    return out if env.discrete else (out, jnp.broadcast_to(log_std, out.shape))


def log_prob(env, dist, actions):
    """log d(a | s; w) from distribution parameters."""
    return categorical_log_prob(dist, actions) if env.discrete else gaussian_log_prob(*dist, actions)


def policy_kl(env, dist_old, dist_new):
    """KL(pi_old(. | s) || pi_new(. | s)) per state."""
    return categorical_kl(dist_old, dist_new) if env.discrete else gaussian_kl(*dist_old, *dist_new)


def entropy(env, dist):
    """Entropy of the policy at each state."""
    if env.discrete:
        return categorical_entropy(dist)
    return jnp.sum(dist[1] + 0.5 * (1.0 + jnp.log(2.0 * jnp.pi)), axis=-1)


def sample(env, dist, key):
    """A sampled action and its log-probability (Gaussian actions are clipped by the environment)."""
    if env.discrete:
        action = jax.random.categorical(key, dist)
    else:
        action = gaussian_sample(key, *dist)
    return action, log_prob(env, dist, action)


ALGORITHMS = ("npg", "trpo", "ppo")


@dataclass(frozen=True)
class PolicyOptimizationConfig:
    """One config for NPG, TRPO and PPO; the defaults solve CartPole-v1.

    algorithm: "npg", "trpo" or "ppo".
    total_steps: environment steps in the run (rounded down to whole iterations).
    num_envs, num_steps: parallel environments and steps per environment in each rollout;
        one iteration uses num_envs * num_steps transitions.
    policy_hidden, value_hidden: hidden widths (tanh) of the policy and of the value network, each an int >= 1.
    gamma, lam: discount and GAE parameter, in [0, 1].
    reward_scale: multiplies the rewards the learner sees (returns are logged unscaled), > 0.
    kl_bound: delta, the trust region on the mean KL for NPG and TRPO, > 0.
    cg_iterations, cg_damping: conjugate-gradient steps and the damping added to the Fisher matrix.
    backtrack_ratio, backtrack_steps: TRPO's line search tries beta^j * full step, j < backtrack_steps.
    clip_epsilon: PPO's clip, in (0, 1).
    epochs, num_minibatches: passes over each batch and mini-batches per pass (PPO's policy and value
        loss, and the value network of NPG and TRPO).
    learning_rate: the step of the one Adam that updates PPO's joint policy-and-value loss (and the
        NPG/TRPO value network), > 0; one optimizer, so one rate, not a policy_ and a value_learning_rate.
    anneal_learning_rate: decay the learning rate linearly to 0 over the run.
    value_coef, entropy_coef: PPO's loss weights, >= 0.
    max_grad_norm: global gradient-norm clip for the Adam updates, > 0.
    initial_log_std: the Gaussian policy's starting log standard deviation.
    """
    algorithm: str = "ppo"
    total_steps: int = 500_000
    num_envs: int = 32
    num_steps: int = 32
    policy_hidden: tuple = (64, 64)
    value_hidden: tuple = (64, 64)
    gamma: float = 0.99
    lam: float = 0.95
    reward_scale: float = 1.0
    kl_bound: float = 0.01
    cg_iterations: int = 10
    cg_damping: float = 0.1
    backtrack_ratio: float = 0.8
    backtrack_steps: int = 10
    clip_epsilon: float = 0.2
    epochs: int = 4
    num_minibatches: int = 4
    learning_rate: float = 2.5e-3
    anneal_learning_rate: bool = True
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    initial_log_std: float = -0.5

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        for name in ("total_steps", "num_envs", "num_steps", "cg_iterations", "backtrack_steps",
                     "epochs", "num_minibatches"):
            check_positive_int(name, getattr(self, name))
        check_hidden_widths(self, "policy_hidden", "value_hidden")
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("lam", self.lam, 0.0, 1.0)
        check_positive("reward_scale", self.reward_scale)
        check_positive("kl_bound", self.kl_bound)
        check_range("cg_damping", self.cg_damping, 0.0)
        check_range("backtrack_ratio", self.backtrack_ratio, 0.0, 1.0, low_open=True, high_open=True)
        check_range("clip_epsilon", self.clip_epsilon, 0.0, 1.0, low_open=True, high_open=True)
        check_positive("learning_rate", self.learning_rate)
        check_range("value_coef", self.value_coef, 0.0)
        check_range("entropy_coef", self.entropy_coef, 0.0)
        check_positive("max_grad_norm", self.max_grad_norm)
        check_range("initial_log_std", self.initial_log_std)   # any finite value
        if self.batch_size % self.num_minibatches:
            raise ValueError(f"num_minibatches must divide num_envs * num_steps = {self.batch_size}, "
                             f"got {self.num_minibatches}")
        check_positive_int("total_steps // (num_envs * num_steps)", self.num_iterations)

    @property
    def batch_size(self):
        return self.num_envs * self.num_steps

    @property
    def num_iterations(self):
        return self.total_steps // self.batch_size


class Knobs(NamedTuple):
    """The values a slider may change without recompiling (traced arrays inside `train`)."""
    kl_bound: jax.Array
    clip_epsilon: jax.Array
    learning_rate: jax.Array
    algorithm: jax.Array   # index into ALGORITHMS (used by a switchable train)


def make_knobs(config, kl_bound=None, clip_epsilon=None, learning_rate=None, algorithm=None):
    """Knobs from a config, with optional overrides (scalars or arrays for a grid), validated."""
    kl_bound = config.kl_bound if kl_bound is None else kl_bound
    clip_epsilon = config.clip_epsilon if clip_epsilon is None else clip_epsilon
    learning_rate = config.learning_rate if learning_rate is None else learning_rate
    for name, values, check in (("kl_bound", kl_bound, lambda v: check_positive("kl_bound", v)),
                                ("clip_epsilon", clip_epsilon,
                                 lambda v: check_range("clip_epsilon", v, 0.0, 1.0, low_open=True, high_open=True)),
                                ("learning_rate", learning_rate, lambda v: check_positive("learning_rate", v))):
        for v in np.ravel(np.asarray(values, dtype=float)).tolist():
            check(v)
    algorithm = config.algorithm if algorithm is None else algorithm
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    return Knobs(jnp.asarray(kl_bound, jnp.float32), jnp.asarray(clip_epsilon, jnp.float32),
                 jnp.asarray(learning_rate, jnp.float32), jnp.asarray(ALGORITHMS.index(algorithm), jnp.int32))


class Batch(NamedTuple):
    """One iteration's transitions, flattened over time and environments."""
    observations: jax.Array
    actions: jax.Array
    log_probs: jax.Array
    advantages: jax.Array
    returns: jax.Array    # lambda-returns A + v(s): the value network's regression targets


def collect_batch(env, params, key, env_states, observations, num_steps, gamma=0.99, lam=0.95, reward_scale=1.0):
    """Run the current policy for num_steps steps in every environment copy and build the Batch:
    GAE advantages from the value network, lambda-returns as its targets. Returns
    (env_states, observations, batch, finished_returns[T, N], done[T, N]): done marks the entries of
    finished_returns that are the returns of episodes ending there."""
    def sample_action(observation, k):
        return sample(env, distribution(env, params.policy, params.log_std, observation), k)

    env_states, observations, rollout, finished = collect_rollout(
        env, sample_action, key, env_states, observations, num_steps)
    rewards = reward_scale * rollout.rewards
    values = state_value(params.value, rollout.observations)
    next_values = state_value(params.value, rollout.next_observations)
    advantages = gae_advantages(rewards, values, next_values, rollout.terminated.astype(rewards.dtype),
                                rollout.done, gamma, lam)
    flat = lambda x: x.reshape((-1,) + x.shape[2:])
    batch = Batch(flat(rollout.observations), flat(rollout.actions), flat(rollout.log_probs),
                  flat(advantages), flat(advantages + values))
    return env_states, observations, batch, finished, rollout.done


def _flat_policy(params):
    """theta = (policy weights, log_std) as one vector, and the map back."""
    return ravel_pytree((params.policy, params.log_std))


def natural_gradient_step(env, params, batch, kl_bound, cg_iterations=10, cg_damping=0.1):
    """The natural policy gradient step that exactly fills the Fisher form of the KL bound.

    g = grad of the surrogate L(theta) = mean[ratio(theta) A] at theta_k (the policy gradient);
    x = I(theta_k)^-1 g by conjugate gradient with Fisher-vector products; the step
    sqrt(2 delta / x^T I x) x satisfies 1/2 step^T I step = delta. Returns
    (theta_k as a vector, full step, unravel, surrogate, mean_kl, predicted improvement g^T step).
    """
    theta_k, unravel = _flat_policy(params)
    dist_k = distribution(env, params.policy, params.log_std, batch.observations)
    advantages = normalize(batch.advantages)

    def surrogate(theta):
        policy, log_std = unravel(theta)
        new_log_probs = log_prob(env, distribution(env, policy, log_std, batch.observations), batch.actions)
        return jnp.mean(jnp.exp(new_log_probs - batch.log_probs) * advantages)

    def mean_kl(theta):
        policy, log_std = unravel(theta)
        return jnp.mean(policy_kl(env, dist_k, distribution(env, policy, log_std, batch.observations)))

    gradient = jax.grad(surrogate)(theta_k)
    fvp = lambda v: fisher_vector_product(mean_kl, theta_k, v, cg_damping)
    direction = conjugate_gradient(fvp, gradient, cg_iterations)
    curvature = direction @ fvp(direction)
    step = jnp.sqrt(2.0 * kl_bound / jnp.maximum(curvature, 1e-12)) * direction
    return theta_k, step, unravel, surrogate, mean_kl, gradient @ step


def npg_update(env, params, batch, kl_bound, cg_iterations=10, cg_damping=0.1):
    """Natural policy gradient: take the full natural step. Returns (params, mean KL after the step)."""
    theta_k, step, unravel, _, mean_kl, _ = natural_gradient_step(
        env, params, batch, kl_bound, cg_iterations, cg_damping)
    theta = theta_k + step
    policy, log_std = unravel(theta)
    return params._replace(policy=policy, log_std=log_std), mean_kl(theta)


def trpo_update(env, params, batch, kl_bound, cg_iterations=10, cg_damping=0.1,
                backtrack_ratio=0.8, backtrack_steps=10):
    """TRPO: the natural direction, then a backtracking line search on the exact constraint.

    The candidates theta_k + beta^j step (j = 0 .. J-1) are evaluated together; the first whose
    exact mean KL is <= delta and whose surrogate improves on L(theta_k) is taken. If none
    qualifies, theta_k is kept. Returns (params, mean KL of the accepted policy).
    """
    theta_k, step, unravel, surrogate, mean_kl, _ = natural_gradient_step(
        env, params, batch, kl_bound, cg_iterations, cg_damping)
    fractions = backtrack_ratio ** jnp.arange(backtrack_steps)
    candidates = theta_k[None] + fractions[:, None] * step[None]
    kls = jax.vmap(mean_kl)(candidates)
    gains = jax.vmap(surrogate)(candidates) - surrogate(theta_k)
    ok = jnp.logical_and(kls <= kl_bound, gains > 0)
    theta = jnp.where(ok.any(), candidates[jnp.argmax(ok)], theta_k)
    policy, log_std = unravel(theta)
    return params._replace(policy=policy, log_std=log_std), jnp.where(ok.any(), kls[jnp.argmax(ok)], 0.0)


class StepProfile(NamedTuple):
    """Quantities along theta_k + t * (natural step), for each fraction t."""
    kl: jax.Array                # exact mean KL(pi_k || pi_t)
    fisher_kl: jax.Array         # its Fisher form 1/2 t^2 s^T I s (undamped I)
    surrogate_gain: jax.Array    # L(theta_t) - L(theta_k), L = mean[ratio A]
    clipped_gain: jax.Array      # the same for PPO's clipped surrogate at clip_epsilon
    outside_share: jax.Array     # share of samples whose ratio is outside [1 - eps, 1 + eps] (not all of
                                 # them clipped: the min keeps r A where it is the lower term)
    trpo_fraction: jax.Array     # the fraction TRPO's line search accepts (0 if none)
    trpo_kl: jax.Array           # the exact mean KL at that fraction


def natural_step_profile(env, params, batch, kl_bound, clip_epsilon, fractions, cg_iterations=10,
                         cg_damping=0.1, backtrack_ratio=0.8, backtrack_steps=10):
    """What one update sees along the natural direction: exact KL against its Fisher form, the
    surrogate against PPO's clipped surrogate, and where TRPO's line search stops."""
    theta_k, step, unravel, surrogate, mean_kl, _ = natural_gradient_step(
        env, params, batch, kl_bound, cg_iterations, cg_damping)
    advantages = normalize(batch.advantages)
    curvature = step @ fisher_vector_product(mean_kl, theta_k, step)

    def at(t):
        policy, log_std = unravel(theta_k + t * step)
        ratio = jnp.exp(log_prob(env, distribution(env, policy, log_std, batch.observations), batch.actions)
                        - batch.log_probs)
        clipped = jnp.mean(jnp.minimum(ratio * advantages,
                                       jnp.clip(ratio, 1 - clip_epsilon, 1 + clip_epsilon) * advantages))
        outside = jnp.mean(jnp.abs(ratio - 1.0) > clip_epsilon)
        return mean_kl(theta_k + t * step), surrogate(theta_k + t * step), clipped, outside

    kl, surr, clipped, outside = jax.vmap(at)(fractions)
    _, surr_k, clipped_k, _ = at(0.0)
    tries = backtrack_ratio ** jnp.arange(backtrack_steps)
    try_kl, try_surr, _, _ = jax.vmap(at)(tries)
    ok = jnp.logical_and(try_kl <= kl_bound, try_surr > surr_k)
    return StepProfile(kl, 0.5 * fractions**2 * curvature, surr - surr_k, clipped - clipped_k, outside,
                       jnp.where(ok.any(), tries[jnp.argmax(ok)], 0.0), jnp.where(ok.any(), try_kl[jnp.argmax(ok)], 0.0))


def ppo_loss(env, params, batch, clip_epsilon, value_coef=0.5, entropy_coef=0.01):
    """PPO's loss on a mini-batch: -clipped surrogate + c_v (v - target)^2 - c_e entropy.

    The clipped surrogate mean[min(r A, clip(r, 1 - eps, 1 + eps) A)], r = d(a|s; w) / d(a|s; w_k),
    removes any incentive to move r outside [1 - eps, 1 + eps]; where a move makes a sample worse
    the min keeps the unclipped r A, so the objective can fall.
    """
    dist = distribution(env, params.policy, params.log_std, batch.observations)
    new_log_probs = log_prob(env, dist, batch.actions)
    ratio = jnp.exp(new_log_probs - batch.log_probs)
    advantages = normalize(batch.advantages)
    clipped = jnp.clip(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon)
    policy_objective = jnp.mean(jnp.minimum(ratio * advantages, clipped * advantages))
    value_loss = jnp.mean((state_value(params.value, batch.observations) - batch.returns) ** 2)
    loss = -policy_objective + value_coef * value_loss - entropy_coef * jnp.mean(entropy(env, dist))
    return loss


def mean_policy_kl(env, params_old, params_new, observations):
    """The exact mean over `observations` of KL(pi_old(. | s) || pi_new(. | s)): the KL an update moved by."""
    dist_old = distribution(env, params_old.policy, params_old.log_std, observations)
    return jnp.mean(policy_kl(env, dist_old, distribution(env, params_new.policy, params_new.log_std, observations)))


class PolicyOptimizationLog(NamedTuple):
    """Per iteration, and the run's divergence."""
    steps: jax.Array               # environment steps so far
    episode_returns: jax.Array     # mean return of the episodes that ended in the iteration (the previous
                                   # iteration's value when none ended; 0 before the first: see episodes_so_far)
    episodes_so_far: jax.Array     # episodes ended up to and including the iteration
    kl: jax.Array                  # exact mean KL between the policies before and after the update
    learning_rate: jax.Array       # Adam's step size in the iteration (annealed or fixed)
    diverged_at: jax.Array         # the first iteration after which a parameter was inf/NaN; -1 if none


def _update_rule(env, config, optimizer):
    """`update(algorithm, params, opt_state, batch, key, knobs) -> (params, opt_state)` for one iteration."""
    def ppo_objective(clip_epsilon):
        return lambda p, b: (ppo_loss(env, p, b, clip_epsilon, config.value_coef, config.entropy_coef), None)

    def value_loss(p, b):
        return jnp.mean((state_value(p.value, b.observations) - b.returns) ** 2), None

    def update(algorithm, params, opt_state, batch, key, knobs):
        if algorithm == "ppo":
            params, opt_state, _ = minibatch_epochs(ppo_objective(knobs.clip_epsilon), params, opt_state, optimizer,
                                                    batch, key, config.epochs, config.num_minibatches)
            return params, opt_state
        if algorithm == "npg":
            new_params, _ = npg_update(env, params, batch, knobs.kl_bound, config.cg_iterations, config.cg_damping)
        else:
            new_params, _ = trpo_update(env, params, batch, knobs.kl_bound, config.cg_iterations,
                                        config.cg_damping, config.backtrack_ratio, config.backtrack_steps)
        # The value network is fitted on the batch with Adam (its loss does not involve the policy).
        fitted, opt_state, _ = minibatch_epochs(value_loss, params, opt_state, optimizer, batch, key,
                                                config.epochs, config.num_minibatches)
        return new_params._replace(value=fitted.value), opt_state

    return update


class _Carry(NamedTuple):
    params: PolicyParams
    opt_state: tuple
    env_states: tuple
    observations: jax.Array
    last_return: jax.Array
    episodes_so_far: jax.Array


@functools.lru_cache(maxsize=16)
def make_train(env, config=PolicyOptimizationConfig(), switchable=False):
    """A pure `train(key, knobs) -> (params, PolicyOptimizationLog)` running config.algorithm on `env`.

    With switchable=True all three updates are compiled into one program and `knobs.algorithm`
    (an index into ALGORITHMS) picks one at run time: one compilation serves NPG, TRPO and PPO.

    The whole run is one `lax.scan` over iterations (`lib.onpolicy.run_iterations`): collect a rollout
    with the current policy, compute GAE advantages and lambda-returns, update the policy (NPG, TRPO
    or PPO) and the value network. Jit it once; vmap it over keys for seeds and over knobs for a grid
    of KL bounds or clips: `lib.sweep.sweep(train, num_seeds, settings=[knobs, ...])` does that over every
    device and raises if a run diverged. Cached per (env, config, switchable), so new knobs reuse the program.
    """
    if not isinstance(config, PolicyOptimizationConfig):
        raise ValueError("config must be a PolicyOptimizationConfig")
    optimizer = annealable_adam(config.learning_rate, config.max_grad_norm, eps=1e-5)
    update = _update_rule(env, config, optimizer)

    def iteration(knobs, carry, key, index):
        key_rollout, key_update = jax.random.split(key)
        env_states, obs, batch, finished, done = collect_batch(
            env, carry.params, key_rollout, carry.env_states, carry.observations, config.num_steps, config.gamma,
            config.lam, config.reward_scale)
        rate = annealed_learning_rate(knobs.learning_rate, index, config.num_iterations, config.anneal_learning_rate)
        operands = (carry.params, with_learning_rate(carry.opt_state, rate), batch, key_update, knobs)
        if switchable:
            branches = [lambda *a, name=name: update(name, *a) for name in ALGORITHMS]
            params, opt_state = jax.lax.switch(knobs.algorithm, branches, *operands)
        else:
            params, opt_state = update(config.algorithm, *operands)
        kl = mean_policy_kl(env, carry.params, params, batch.observations)
        mean_return, count = finished_episodes(finished, done)
        last_return = jnp.where(count > 0, mean_return, carry.last_return)
        episodes = carry.episodes_so_far + count
        row = ((index + 1) * config.batch_size, last_return, episodes, kl, current_learning_rate(opt_state))
        return _Carry(params, opt_state, env_states, obs, last_return, episodes), row

    def train(key, knobs=None):
        knobs = make_knobs(config) if knobs is None else knobs
        key_init, key_env, key_loop = jax.random.split(key, 3)
        params = init_policy(key_init, env, config.policy_hidden, config.value_hidden, config.initial_log_std)
        env_states, obs = start_envs(env, key_env, config.num_envs)
        carry = _Carry(params, optimizer.init(params), env_states, obs, jnp.zeros(()), jnp.zeros((), jnp.int32))
        carry, rows, diverged_at = run_iterations(lambda c, k, i: iteration(knobs, c, k, i), carry, key_loop,
                                                  config.num_iterations)
        return carry.params, PolicyOptimizationLog(*rows, diverged_at)

    return train
