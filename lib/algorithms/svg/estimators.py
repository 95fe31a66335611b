"""One objective per model-based estimator, written for one sample with its noise (s, eps, xi) as
arguments, so `jax.grad` of it is the estimator; `per_sample_gradients` and `gradients_by_depth`
batch them."""

import jax
import jax.numpy as jnp

from lib.core.config import check_range, concrete
from lib.problems.lqr import check_unroll_depth


# ------------------------------------------------------------------ arguments
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
    return _n_step_return(
        params, s0, eps, xi, policy=deterministic, model=model, gamma=gamma, critic=critic, critic_params=critic_params
    )


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
    return _n_step_return(
        params,
        s0,
        eps[: n + 1],
        xi[:n],
        policy=policy,
        model=model,
        gamma=gamma,
        critic=critic,
        critic_params=critic_params,
    )


def per_sample_gradients(objective, params, *batched):
    """jax.grad(objective) at params, once per sample: every leaf gains a leading batch axis."""
    return jax.jit(jax.vmap(jax.grad(objective), in_axes=(None,) + (0,) * len(batched)))(params, *batched)


def _depth_gradients(params, s0, eps, xi, model, critic_params, *, policy, critic, gamma):
    def all_depths(p, s, e, x):
        return _returns_at_every_depth(
            p, s, e, x, policy=policy, model=model, gamma=gamma, critic=critic, critic_params=critic_params
        )

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
    return _depth_gradients_jit(
        params,
        s0,
        eps[:, : max_depth + 1],
        xi[:, :max_depth],
        model,
        critic_params,
        policy=policy,
        critic=critic,
        gamma=float(gamma),
    )
