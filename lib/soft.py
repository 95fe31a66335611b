"""Soft actor-critic and the smooth Bellman operator (chapter 22).

Finite MDPs (exact answers). With temperature beta > 0 the smooth Bellman operator replaces the
max over actions by a log-sum-exp,

    (L_beta v)(s) = beta log sum_a exp(q(s, a) / beta),   q(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) v(s'),

whose maximizing decision rule is the Boltzmann policy d(a|s) = exp(q(s, a)/beta) / Z(s). L_beta is a
gamma-contraction, and since max_a q <= beta log sum_a exp(q/beta) <= max_a q + beta log|A|, its fixed
point v_beta satisfies v* <= v_beta <= v* + beta log|A| / (1 - gamma).

Continuous actions. `sac_update` is the book's Algorithm 22.1 (twin Q-networks, a value network
with a target copy, a reparameterized Gaussian policy, a fixed temperature alpha); `sac_tanh_update`
is the variant most code uses today (tanh-squashed actions with the change-of-variables correction
of the log-density, target Q-networks instead of a value network, and the temperature tuned toward
a target entropy). Both plug into `lib.offpolicy.make_off_policy_train` through `make_sac_agent`
and `make_sac_tanh_agent`.
"""
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib.config import check_positive, check_positive_int, check_range
from lib.mdp import evaluate_policy, policy_dynamics, q_from_v
from lib.nets import (check_hidden_widths, first_q_apply, gradient_step, mlp_apply, mlp_init, soft_update,
                      twin_mlp_init, twin_q_apply, twin_squared_error)
from lib.offpolicy import OffPolicyAgent
from lib.policies import (gaussian_log_prob, gaussian_sample, squash_to_box, tanh_gaussian_mode,
                          tanh_gaussian_sample)


def check_temperature(temperature, name="temperature"):
    """Raise ValueError unless every entry of `temperature` is a finite number > 0.

    Traced values (inside jit or vmap) cannot be inspected; the public entry points check their
    arguments before tracing, so a compiled call only ever sees a validated temperature.
    """
    if isinstance(temperature, jax.core.Tracer):
        return
    for value in np.ravel(np.asarray(temperature, dtype=float)):
        check_range(name, float(value), 0.0, np.inf, low_open=True, high_open=True)


# ------------------------------------------------------------------------- finite MDPs, exact

def _advantages_over_temperature(q_values, temperature):
    """(q - max_a q) / beta: at most 0, so exp of it never overflows as beta -> 0 (q / beta would reach
    inf and give inf - inf = NaN). The maximizers get exactly 0, also when a tiny beta is flushed to 0."""
    best = jnp.max(q_values, axis=-1, keepdims=True)
    return best, jnp.where(q_values == best, 0.0, (q_values - best) / temperature)


def soft_maximum(q_values, temperature):
    """beta log sum_a exp(q(s, a) / beta) over the last axis: the smooth max of the operator L_beta,
    computed as max_a q + beta log sum_a exp((q - max_a q) / beta)."""
    check_temperature(temperature)
    best, scaled = _advantages_over_temperature(q_values, temperature)
    return best[..., 0] + temperature * jax.nn.logsumexp(scaled, axis=-1)


def boltzmann_policy(q_values, temperature):
    """The Boltzmann policy d(a|s) = exp(q(s, a) / beta) / Z(s), as a matrix pi[s, a]."""
    check_temperature(temperature)
    return jax.nn.softmax(_advantages_over_temperature(q_values, temperature)[1], axis=-1)


def soft_bellman_operator(mdp, values, temperature):
    """(L_beta v)(s) = beta log sum_a exp((r(s, a) + gamma E[v(s')]) / beta)."""
    return soft_maximum(q_from_v(mdp, values), temperature)


@jax.jit
def _soft_value_iteration(mdp, temperature, initial_values, num_iterations_array):
    def step(values, _):
        return temperature * jax.nn.logsumexp(q_from_v(mdp, values) / temperature, axis=-1), None

    values, _ = jax.lax.scan(step, initial_values, None, num_iterations_array.shape[0])
    return values


def soft_value_iteration(mdp, temperature, num_iterations=1000, initial_values=None):
    """Iterate v <- L_beta v from `initial_values` (zeros by default); returns v after `num_iterations`.

    Each step shrinks the distance to the fixed point v_beta by gamma, so 1000 steps at gamma = 0.9
    reach it to machine precision. `temperature` may be a float or a 0-d array: changing it reuses
    the compiled loop (the notebook's slider relies on this).
    """
    check_temperature(temperature)
    check_positive_int("num_iterations", num_iterations)
    num_states = mdp.rewards.shape[0]
    if initial_values is None:
        initial_values = jnp.zeros(num_states, mdp.rewards.dtype)
    temperature = jnp.asarray(temperature, mdp.rewards.dtype)
    return _soft_value_iteration(mdp, temperature, jnp.asarray(initial_values), jnp.zeros(num_iterations))


def soft_value_gap_bound(temperature, num_actions, gamma):
    """The bound beta log|A| / (1 - gamma) on v_beta - v*, which is >= 0 componentwise."""
    check_temperature(temperature)
    check_positive_int("num_actions", num_actions)
    check_range("gamma", gamma, 0.0, 1.0, high_open=True)
    return temperature * np.log(num_actions) / (1.0 - gamma)


def policy_entropy(policy):
    """H(d(.|s)) = -sum_a d(a|s) log d(a|s), per state."""
    return -jnp.sum(jax.scipy.special.xlogy(policy, policy), axis=-1)


def entropy_regularized_value(mdp, policy, temperature):
    """v_d = (I - gamma P_d)^{-1} (r_d + beta H_d): the return of `policy` plus beta times its entropy.

    At the Boltzmann policy of the fixed point of L_beta this equals v_beta: the smooth Bellman
    equation and the entropy-regularized objective are the same problem.
    """
    check_temperature(temperature)
    transitions_d, rewards_d = policy_dynamics(mdp, policy)
    num_states = rewards_d.shape[0]
    bonus = rewards_d + temperature * policy_entropy(policy)
    return jnp.linalg.solve(jnp.eye(num_states) - mdp.gamma * transitions_d, bonus)


class SoftSolution(NamedTuple):
    values: jax.Array        # v_beta(s), the fixed point of L_beta
    q_values: jax.Array      # q_beta(s, a) = r + gamma P v_beta
    policy: jax.Array        # Boltzmann policy of q_beta
    entropy: jax.Array       # H(d(.|s)) per state
    plain_return: jax.Array  # v_d(s) without the entropy bonus: the reward the policy actually collects


def solve_soft_mdp(mdp, temperature, num_iterations=1000):
    """Soft value iteration, then the Boltzmann policy, its entropy and its unregularized value."""
    values = soft_value_iteration(mdp, temperature, num_iterations)
    q_values = q_from_v(mdp, values)
    policy = boltzmann_policy(q_values, temperature)
    return SoftSolution(values, q_values, policy, policy_entropy(policy), evaluate_policy(mdp, policy))


@jax.jit
def _soft_fitted_q(mdp, temperature, key, sample_shape):
    num_states, num_actions = mdp.rewards.shape
    num_iterations, num_samples = sample_shape.shape

    def sample(cdf, u):
        """Inverse-CDF sampling: the index of the first cumulative probability above u."""
        return jnp.minimum(jnp.sum(cdf <= u[..., None], axis=-1), cdf.shape[-1] - 1)

    def iteration(q_values, key):
        u = jax.random.uniform(key, (2, num_samples, num_states, num_actions))
        # base points: every (s, a), each with `num_samples` sampled next states and next actions
        next_states = sample(jnp.cumsum(mdp.transitions, axis=-1), u[0])
        log_policy = jax.nn.log_softmax(q_values / temperature, axis=-1)        # log d(a'|s')
        next_actions = sample(jnp.cumsum(jnp.exp(log_policy), axis=-1)[next_states], u[1])
        q_next = q_values[next_states, next_actions]
        log_d_next = log_policy[next_states, next_actions]
        targets = mdp.rewards + mdp.gamma * (q_next - temperature * log_d_next)
        # least squares on one-hot (tabular) features: the fit is the average target per (s, a)
        q_values = jnp.mean(targets, axis=0)
        return q_values, q_values

    q0 = jnp.zeros((num_states, num_actions), mdp.rewards.dtype)
    _, iterates = jax.lax.scan(iteration, q0, jax.random.split(key, num_iterations))
    return jnp.concatenate([q0[None], iterates])


def soft_fitted_q_iteration(mdp, key, temperature, num_iterations=50, num_samples=10):
    """Soft fitted Q-iteration with sampled next states and sampled next actions (section 22.1).

    At every base point (s, a) draw s' ~ P(.|s, a) and a' ~ d(.|s') from the Boltzmann policy of the
    current q_n, form the target y = r(s, a) + gamma (q_n(s', a') - beta log d(a'|s')) and fit q_{n+1}
    by least squares (tabular features, so the fit is the mean target per pair). Given q_n the target
    is an unbiased sample of (L_beta q_n)(s, a): E_{a'~d}[q(s', a') - beta log d(a'|s')] is exactly the
    log-sum-exp. Returns the iterates q_0 = 0, q_1, ..., shape [num_iterations + 1, S, A].
    """
    check_temperature(temperature)
    check_positive_int("num_iterations", num_iterations)
    check_positive_int("num_samples", num_samples)
    temperature = jnp.asarray(temperature, mdp.rewards.dtype)
    return _soft_fitted_q(mdp, temperature, key, jnp.zeros((num_iterations, num_samples)))


# ------------------------------------------------------- a Gaussian fit to a Boltzmann target

def multimodal_q(action):
    """A 1-D q with two peaks: log of 0.6 N(-1, 0.35^2) + 0.4 N(1.3, 0.5^2) (+ a constant).

    At beta = 1 its Boltzmann distribution is exactly that two-component mixture. The log is taken
    in log space, with no floor: a floor would make exp(q/beta) integrate to infinity over R.
    """
    norm = jax.scipy.stats.norm
    return jnp.logaddexp(jnp.log(0.6) + norm.logpdf(action, -1.0, 0.35), jnp.log(0.4) + norm.logpdf(action, 1.3, 0.5))


def boltzmann_log_normalizer(q_fn, temperature, grid):
    """log Z = log of the integral of exp(q/beta), by a Riemann sum on a uniform `grid`.

    The grid must cover the target's mass (for multimodal_q, [-30, 30] covers beta <= 10)."""
    check_temperature(temperature)
    return jax.nn.logsumexp(q_fn(grid) / temperature) + jnp.log(grid[1] - grid[0])


def boltzmann_density(q_fn, temperature, actions, grid):
    """exp(q(a)/beta) / Z at `actions`, with Z integrated over the (wider) uniform `grid`."""
    return jnp.exp(q_fn(actions) / temperature - boltzmann_log_normalizer(q_fn, temperature, grid))


_STANDARD_NODES = jnp.linspace(-10.0, 10.0, 2001)   # z of a = mean + sigma z: follows the Gaussian anywhere


def kl_gaussian_to_boltzmann(mean, log_std, q_fn, temperature, grid):
    """KL(N(mean, sigma^2) || exp(q/beta)/Z), the exact objective of the fit, never negative.

    KL = -H(N) - E_N[q]/beta + log Z, with H = log(2 pi e)/2 + log sigma exact, E_N[q] by the trapezoid
    rule in standardized coordinates (so no Gaussian mass is lost off a grid), and log Z on `grid`,
    which must cover the target's mass."""
    actions = mean + jnp.exp(log_std) * _STANDARD_NODES
    weights = jax.scipy.stats.norm.pdf(_STANDARD_NODES)
    expected_q = jnp.trapezoid(weights * q_fn(actions), _STANDARD_NODES)
    entropy = 0.5 * jnp.log(2 * jnp.pi * jnp.e) + log_std
    return -entropy - expected_q / temperature + boltzmann_log_normalizer(q_fn, temperature, grid)


def reparameterized_kl_loss(mean, log_std, q_fn, temperature, eps):
    """Sample average of log d(a) - q(a)/beta at a = mean + sigma eps: KL up to the constant log Z."""
    actions = mean + jnp.exp(log_std) * eps
    return jnp.mean(gaussian_log_prob(mean, log_std, actions[:, None]) - q_fn(actions) / temperature)


def _fit_gaussian(q_fn, temperature, key, init, learning_rate, shape):
    num_adam_steps, num_samples = shape.shape
    optimizer = optax.adam(learning_rate)

    def step(carry, key):
        params, opt_state = carry
        eps = jax.random.normal(key, (num_samples,))
        loss, grads = jax.value_and_grad(lambda p: reparameterized_kl_loss(p[0], p[1], q_fn, temperature, eps))(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), (params, loss)

    (_, _), (path, losses) = jax.lax.scan(step, (init, optimizer.init(init)), jax.random.split(key, num_adam_steps))
    return jnp.concatenate([init[None], path]), losses


_fit_gaussian_jit = jax.jit(_fit_gaussian, static_argnums=0)


def fit_gaussian_to_boltzmann(q_fn, key, temperature, mean=0.0, log_std=0.0, num_adam_steps=400,
                              num_samples=64, learning_rate=0.05):
    """Minimize KL(N(mu, sigma^2) || exp(q/beta)/Z) over (mu, log sigma) by the reparameterization gradient.

    Each Adam step draws `num_samples` eps ~ N(0, 1), puts a = mu + sigma eps, and differentiates the
    sample average of log N(a; mu, sigma) - q(a)/beta through a (section 22.3). `q_fn` must be a
    module-level function (it is a static argument); the temperature and the starting point are arrays,
    so new values reuse the compiled loop. Returns (path [num_adam_steps + 1, 2] of (mu, log sigma), losses).
    """
    check_temperature(temperature)
    check_positive_int("num_adam_steps", num_adam_steps)
    check_positive_int("num_samples", num_samples)
    check_positive("learning_rate", learning_rate)
    init = jnp.array([mean, log_std], jnp.float32)
    return _fit_gaussian_jit(q_fn, jnp.asarray(temperature, jnp.float32), key, init, learning_rate,
                             jnp.zeros((num_adam_steps, num_samples)))


# ------------------------------------------------------------------------------------- SAC

@dataclass(frozen=True)
class SACConfig:
    """Hyperparameters of both SAC variants (the defaults solve Pendulum-v1 in about 10k steps).

    Fields marked [22.1] are used only by `sac_update`, [tanh] only by `sac_tanh_update`.
    """
    policy_hidden: Tuple[int, ...] = (64, 64)  # hidden widths of the policy network, positive ints (or a list)
    q_hidden: Tuple[int, ...] = (64, 64)       # hidden widths of each twin Q-network
    value_hidden: Tuple[int, ...] = (64, 64)   # hidden widths of the value network [22.1]
    gamma: float = 0.99                      # discount, in [0, 1)
    tau: float = 0.005                       # soft target-update rate, in (0, 1]
    q_learning_rate: float = 1e-3            # alpha_q, > 0
    policy_learning_rate: float = 1e-3       # alpha_pi, > 0
    value_learning_rate: float = 1e-3        # alpha_v, > 0 [22.1]
    temperature: float = 0.2                 # alpha (fixed, [22.1]) or its initial value ([tanh]), > 0
    learn_temperature: bool = True           # [tanh] tune alpha toward target_entropy; False keeps it fixed
    temperature_learning_rate: float = 1e-3  # [tanh] step size on log alpha, > 0
    target_entropy: Optional[float] = None   # [tanh] entropy target in nats; None means -(action dimension)
    log_std_min: float = -5.0                # the policy's log sigma is squashed into [log_std_min, log_std_max]
    log_std_max: float = 2.0

    def __post_init__(self):
        check_hidden_widths(self, "policy_hidden", "q_hidden", "value_hidden")
        check_range("gamma", self.gamma, 0.0, 1.0, high_open=True)
        check_range("tau", self.tau, 0.0, 1.0, low_open=True)
        for name in ("q_learning_rate", "policy_learning_rate", "value_learning_rate", "temperature_learning_rate"):
            check_positive(name, getattr(self, name))
        check_temperature(self.temperature)
        check_range("log_std_min", self.log_std_min)
        check_range("log_std_max", self.log_std_max, self.log_std_min, low_open=True)
        if self.target_entropy is not None:
            check_range("target_entropy", self.target_entropy)


class SACNetworks(NamedTuple):
    """Layer sizes of the policy (mu and log sigma), Q and value networks."""
    policy_sizes: Tuple[int, ...]
    q_sizes: Tuple[int, ...]
    value_sizes: Tuple[int, ...]


def _networks(env, config):
    obs, act = env.observation_size, env.action_size
    return SACNetworks((obs, *config.policy_hidden, 2 * act), (obs + act, *config.q_hidden, 1),
                       (obs, *config.value_hidden, 1))


class SACOptimizers(NamedTuple):
    policy: Any        # Adam at alpha_pi, for phi
    q: Any             # Adam at alpha_q, for both twins at once
    value: Any         # Adam at alpha_v, for psi [22.1]
    temperature: Any   # Adam on log alpha [tanh]


def sac_optimizers(config):
    """The optimizers of a SACConfig: the one definition that init and update both use."""
    return SACOptimizers(optax.adam(config.policy_learning_rate), optax.adam(config.q_learning_rate),
                         optax.adam(config.value_learning_rate), optax.adam(config.temperature_learning_rate))


def _policy_head(config, policy_params, observation):
    """(mu, log sigma) of d(.|s; phi); log sigma squashed smoothly into [log_std_min, log_std_max]."""
    out = mlp_apply(policy_params, observation)
    mean, raw_log_std = jnp.split(out, 2, axis=-1)
    log_std = config.log_std_min + 0.5 * (config.log_std_max - config.log_std_min) * (jnp.tanh(raw_log_std) + 1.0)
    return mean, log_std


def sac_value_target(q_params, observation, action, log_prob, alpha):
    """min_j q^j(s, a') - alpha log d(a'|s) at a sampled a' ~ d(.|s): one sample of the soft value v(s)
    (the box's value-network target at s; the tanh variant's bootstrap at s')."""
    return jnp.min(twin_q_apply(q_params, observation, action), axis=0) - alpha * log_prob


def sac_policy_loss(q_values, log_prob, alpha):
    """(1/b) sum_i (alpha log d(a_i|s_i) - q(s_i, a_i)) at reparameterized a_i: the KL to the Boltzmann
    policy up to log Z, which the policy step descends."""
    return jnp.mean(alpha * log_prob - q_values)


# ---------------------------------------------------------------- Algorithm 22.1, as in the box

class SACState(NamedTuple):
    policy: Any          # phi
    q: Any               # theta^1, theta^2 (stacked)
    value: Any           # psi
    value_target: Any    # psi-bar
    log_temperature: jax.Array  # log alpha, fixed during training
    policy_opt_state: Any
    q_opt_state: Any
    value_opt_state: Any


def gaussian_policy(env, config, policy_params, observation):
    """(mu, log sigma) of the box's Gaussian policy; mu = centre + half-width tanh(.) stays inside the bounds."""
    mean, log_std = _policy_head(config, policy_params, observation)
    return squash_to_box(mean, env.action_low, env.action_high), log_std


def _gaussian_sample(env, config, policy_params, observation, key):
    mean, log_std = gaussian_policy(env, config, policy_params, observation)
    action = gaussian_sample(key, mean, log_std)
    return action, gaussian_log_prob(mean, log_std, action)


def sac_init(key, env, config, temperature=None):
    """Random theta^1, theta^2, psi, phi; psi-bar <- psi; Adam states. `temperature` overrides config.temperature."""
    temperature = config.temperature if temperature is None else temperature
    check_temperature(temperature)
    nets, optimizers = _networks(env, config), sac_optimizers(config)
    key_pi, key_q, key_v = jax.random.split(key, 3)
    policy, q = mlp_init(key_pi, nets.policy_sizes), twin_mlp_init(key_q, nets.q_sizes)
    value = mlp_init(key_v, nets.value_sizes)
    return SACState(policy, q, value, value, jnp.log(jnp.asarray(temperature, jnp.float32)),
                    optimizers.policy.init(policy), optimizers.q.init(q), optimizers.value.init(value))


def sac_update(env, config, state, batch, key):
    """Algorithm 22.1: one SAC update (value network, twin Q-networks, Gaussian policy, target value network).

    Symbols: alpha = exp(state.log_temperature) (fixed), gamma = config.gamma, tau = config.tau.
    Two readings of the printed box: the value target is formed at the states s_i whose value
    v(s_i; psi) is regressed (the box's s' there would regress v(s_i) on a quantity of s'), and the
    policy step *descends* alpha log d - q^1 (it minimizes the KL to the Boltzmann policy; the box's
    "ascent" on this sum would maximize it). Terminal transitions do not bootstrap.
    """
    s, a, r, s_next, terminated = batch
    alpha = jnp.exp(state.log_temperature)
    optimizers = sac_optimizers(config)
    key_v, key_pi = jax.random.split(key)

    # Update value network: y_v = E_{a'~d(.|s; phi)}[min_j q^j(s, a') - alpha log d(a'|s)], one sample per s_i.
    a_new, log_d = _gaussian_sample(env, config, state.policy, s, key_v)
    y_v = jax.lax.stop_gradient(sac_value_target(state.q, s, a_new, log_d, alpha))
    value_loss, value_grad = jax.value_and_grad(lambda psi: jnp.mean((mlp_apply(psi, s)[:, 0] - y_v) ** 2))(state.value)
    value, value_opt_state = gradient_step(optimizers.value, state.value, state.value_opt_state, value_grad)

    # Update Q-networks: y_q = r + gamma v(s'; psi-bar), both regressed on the stored (s_i, a_i).
    y_q = r + config.gamma * (1.0 - terminated) * mlp_apply(state.value_target, s_next)[:, 0]
    q_loss, q_grad = jax.value_and_grad(lambda theta: twin_squared_error(theta, s, a, y_q))(state.q)
    q, q_opt_state = gradient_step(optimizers.q, state.q, state.q_opt_state, q_grad)

    # Update policy network: reparameterized a = mu + sigma eps, descend mean(alpha log d(a|s_i) - q^1(s_i, a)).
    def policy_loss_fn(phi):
        action, log_prob = _gaussian_sample(env, config, phi, s, key_pi)
        return sac_policy_loss(first_q_apply(q, s, action), log_prob, alpha), -jnp.mean(log_prob)

    (policy_loss, entropy), policy_grad = jax.value_and_grad(policy_loss_fn, has_aux=True)(state.policy)
    policy, policy_opt_state = gradient_step(optimizers.policy, state.policy, state.policy_opt_state, policy_grad)

    # Update target value network: psi-bar <- tau psi + (1 - tau) psi-bar.
    value_target = soft_update(state.value_target, value, config.tau)

    metrics = {"q_loss": q_loss, "value_loss": value_loss, "policy_loss": policy_loss,
               "entropy": entropy, "temperature": alpha}
    return SACState(policy, q, value, value_target, state.log_temperature, policy_opt_state, q_opt_state,
                    value_opt_state), metrics


def make_sac_agent(env, config=SACConfig(), temperature=None):
    """The box's SAC (`sac_update`) as an OffPolicyAgent.

    act samples a ~ d(.|s) and clips it to the bounds; greedy acts mu(s).
    """
    if env.discrete:
        raise ValueError("env must have continuous actions for SAC, got a discrete action space")
    if temperature is not None:
        check_temperature(temperature)

    def act(state, obs, key):
        action, _ = _gaussian_sample(env, config, state.policy, obs, key)
        return jnp.clip(action, env.action_low, env.action_high), state

    def greedy(state, obs):
        return gaussian_policy(env, config, state.policy, obs)[0]

    return OffPolicyAgent(init=lambda key: sac_init(key, env, config, temperature), act=act, greedy=greedy,
                          update=lambda state, batch, key: sac_update(env, config, state, batch, key))


# ------------------------------------ the common variant: tanh squashing, automatic temperature

class SACTanhState(NamedTuple):
    policy: Any
    q: Any                      # theta^1, theta^2 (stacked)
    q_target: Any               # theta-bar^1, theta-bar^2
    log_temperature: jax.Array  # log alpha
    learn_temperature: jax.Array  # bool: tune alpha (an array, so tuned and fixed runs vmap together)
    policy_opt_state: Any
    q_opt_state: Any
    temperature_opt_state: Any


def _tanh_sample(env, config, policy_params, observation, key):
    mean, log_std = _policy_head(config, policy_params, observation)
    return tanh_gaussian_sample(key, mean, log_std, env.action_low, env.action_high)


def sac_tanh_init(key, env, config, temperature=None, learn_temperature=None):
    """Random theta^1, theta^2, phi; theta-bar <- theta; log alpha from `temperature` (default config.temperature).

    `learn_temperature` (default config.learn_temperature) may be a traced bool when vmapping over settings.
    """
    temperature = config.temperature if temperature is None else temperature
    learn_temperature = config.learn_temperature if learn_temperature is None else learn_temperature
    check_temperature(temperature)
    nets, optimizers = _networks(env, config), sac_optimizers(config)
    key_pi, key_q = jax.random.split(key)
    policy, q = mlp_init(key_pi, nets.policy_sizes), twin_mlp_init(key_q, nets.q_sizes)
    log_temperature = jnp.log(jnp.asarray(temperature, jnp.float32))
    return SACTanhState(policy, q, q, log_temperature, jnp.asarray(learn_temperature, bool),
                        optimizers.policy.init(policy), optimizers.q.init(q),
                        optimizers.temperature.init(log_temperature))


def sac_tanh_update(env, config, state, batch, key):
    """SAC as most code runs it: tanh-squashed Gaussian actions, target Q-networks, learned temperature.

    Differences from the book's box (`sac_update`): actions are a = squash(u), u ~ N(mu, sigma^2), whose
    log-density includes the change-of-variables term -sum log(1 - tanh(u)^2) (lib.policies); there is no
    value network: the target is y = r + gamma (min_j q-bar^j(s', a') - alpha log d(a'|s')) with a' ~ d(.|s')
    and Polyak-averaged Q targets; the policy minimizes alpha log d - min_j q^j; and when
    state.learn_temperature is set (from config.learn_temperature), log alpha descends
    -log alpha (log d + H_target), raising alpha while the policy's entropy is below the target
    H_target and lowering it above.
    """
    s, a, r, s_next, terminated = batch
    alpha = jnp.exp(state.log_temperature)
    target_entropy = -float(env.action_size) if config.target_entropy is None else config.target_entropy
    optimizers = sac_optimizers(config)
    key_next, key_pi = jax.random.split(key)

    # Critic: soft target with a sampled next action and the log-density correction of the squash.
    a_next, log_d_next = _tanh_sample(env, config, state.policy, s_next, key_next)
    soft_next = sac_value_target(state.q_target, s_next, a_next, log_d_next, alpha)
    y = jax.lax.stop_gradient(r + config.gamma * (1.0 - terminated) * soft_next)
    q_loss, q_grad = jax.value_and_grad(lambda theta: twin_squared_error(theta, s, a, y))(state.q)
    q, q_opt_state = gradient_step(optimizers.q, state.q, state.q_opt_state, q_grad)

    # Actor: reparameterized squashed action, descend mean(alpha log d - min_j q^j).
    def policy_loss_fn(phi):
        action, log_prob = _tanh_sample(env, config, phi, s, key_pi)
        return sac_policy_loss(jnp.min(twin_q_apply(q, s, action), axis=0), log_prob, alpha), log_prob

    (policy_loss, log_prob), policy_grad = jax.value_and_grad(policy_loss_fn, has_aux=True)(state.policy)
    policy, policy_opt_state = gradient_step(optimizers.policy, state.policy, state.policy_opt_state, policy_grad)

    # Temperature: move alpha so that the policy's entropy -E[log d] tracks the target.
    entropy_gap = jax.lax.stop_gradient(jnp.mean(log_prob) + target_entropy)
    temperature_grad = jnp.where(state.learn_temperature, -entropy_gap, 0.0)
    log_temperature, temperature_opt_state = gradient_step(optimizers.temperature, state.log_temperature,
                                                           state.temperature_opt_state, temperature_grad)

    q_target = soft_update(state.q_target, q, config.tau)
    metrics = {"q_loss": q_loss, "policy_loss": policy_loss, "entropy": -jnp.mean(log_prob), "temperature": alpha}
    return SACTanhState(policy, q, q_target, log_temperature, state.learn_temperature, policy_opt_state,
                        q_opt_state, temperature_opt_state), metrics


def make_sac_tanh_agent(env, config=SACConfig(), temperature=None, learn_temperature=None):
    """The common SAC variant as an OffPolicyAgent; greedy acts squash(mu(s)).

    `temperature` sets the initial alpha and `learn_temperature` whether it is tuned, overriding the
    config's fields; both may be arrays (traced under vmap), so runs with a tuned temperature and runs
    at several fixed temperatures compile as one program.
    """
    if env.discrete:
        raise ValueError("env must have continuous actions for SAC, got a discrete action space")
    if temperature is not None:
        check_temperature(temperature)

    def act(state, obs, key):
        action, _ = _tanh_sample(env, config, state.policy, obs, key)
        return action, state

    def greedy(state, obs):
        mean, _ = _policy_head(config, state.policy, obs)
        return tanh_gaussian_mode(mean, env.action_low, env.action_high)

    return OffPolicyAgent(init=lambda key: sac_tanh_init(key, env, config, temperature, learn_temperature),
                          act=act, greedy=greedy,
                          update=lambda state, batch, key: sac_tanh_update(env, config, state, batch, key))
