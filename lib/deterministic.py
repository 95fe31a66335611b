"""Chapter 21: deterministic policies d(s; w) trained through a critic q(s, a; theta).

- `nfqca` (Algorithm 21.1): fitted Q-iteration on a fixed batch B whose maximization over actions is
  amortized into a policy, fit by ascending q(s, d(s; w); theta). The LQR helpers below give it
  a problem with a known answer: quadratic critic features, a linear policy, Riccati's gain K.
- `ou_step`, `ou_paths`, `ou_stationary_variance`: Ornstein-Uhlenbeck exploration noise,
  dN = theta (mu - N) dt + sigma dW, discretized by Euler-Maruyama.
- `ddpg_update` (Algorithm 21.2) and `make_ddpg`: DDPG as an `OffPolicyAgent` for
  `lib.offpolicy.make_off_policy_train` (replay, acting and evaluation live there).
- `td3_target`, `td3_update` (Algorithm 21.3) and `make_td3`: twin critics, clipped target noise,
  delayed policy and target updates.
- `with_snapshots`, `value_estimates`: the overestimation experiment, the critic's q(s0, d(s0))
  against the Monte Carlo discounted return of the same greedy policy from the same s0.

Actions of the learned policies are squashed into the environment's box,
d(s; w) = center + scale * tanh(mlp(s; w)); every noise scale in the configs (OU sigma, TD3's
sigma, c and sigma_explore) is in units of `scale`, the half-width of the action box.
"""
import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lib.config import check_positive, check_positive_int, check_range
from lib.evaluation import episode_returns
from lib.lqr import lqr_step, reward as lqr_reward
from lib.nets import gradient_step, mlp_apply, mlp_init, soft_update
from lib.offpolicy import OffPolicyAgent
from lib.replay import Transition


def _not_terminal(batch):
    return 1.0 - batch.terminated.astype(jnp.float32)


# ------------------------------------------------------------------ Ornstein-Uhlenbeck noise
def _check_ou(theta, sigma, dt, prefix=""):
    check_positive(f"{prefix}theta", theta)
    check_range(f"{prefix}sigma", sigma, 0.0)
    check_positive(f"{prefix}dt", dt)
    check_range(f"{prefix}theta * {prefix}dt", theta * dt, 0.0, 2.0, low_open=True, high_open=True)


def ou_step(noise, key, theta, sigma, dt, mu=0.0):
    """One Euler-Maruyama step: N <- N + theta (mu - N) dt + sigma sqrt(dt) eps, eps ~ N(0, I)."""
    eps = jax.random.normal(key, jnp.shape(noise))
    return noise + theta * (mu - noise) * dt + sigma * jnp.sqrt(dt) * eps


@jax.jit
def _ou_paths(theta, sigma, dt, initial, eps):
    def step(noise, eps_t):
        noise = noise + theta * (0.0 - noise) * dt + sigma * jnp.sqrt(dt) * eps_t
        return noise, noise

    _, path = jax.lax.scan(step, initial * jnp.ones(eps.shape[1]), eps)
    return jnp.concatenate([initial * jnp.ones((1, eps.shape[1])), path]).T


def ou_paths(key, theta, sigma, dt, num_steps, num_paths=1, initial=0.0):
    """`num_paths` independent OU paths of `num_steps` steps from N_0 = initial: shape [paths, steps + 1].

    Euler-Maruyama is stable for 0 < theta dt < 2; theta, sigma and dt may change between calls
    without recompiling (they are traced), the shape may not.
    """
    _check_ou(float(theta), float(sigma), float(dt))
    check_positive_int("num_steps", num_steps)
    check_positive_int("num_paths", num_paths)
    eps = jax.random.normal(key, (num_steps, num_paths))
    return _ou_paths(jnp.asarray(theta, jnp.float32), jnp.asarray(sigma, jnp.float32),
                     jnp.asarray(dt, jnp.float32), jnp.asarray(initial, jnp.float32), eps)


def ou_stationary_variance(theta, sigma, dt=None):
    """Stationary variance of the OU process: sigma^2 / (2 theta) in continuous time (dt=None);
    sigma^2 / (theta (2 - theta dt)) for its Euler-Maruyama chain, an AR(1) with coefficient
    1 - theta dt, which tends to the continuous value as dt -> 0."""
    check_positive("theta", theta)
    check_range("sigma", sigma, 0.0)
    if dt is None:
        return sigma**2 / (2.0 * theta)
    _check_ou(theta, sigma, dt)
    return sigma**2 / (theta * (2.0 - theta * dt))


# ------------------------------------------------------------------ NFQCA (Algorithm 21.1)
@dataclass(frozen=True)
class NFQCAConfig:
    gamma: float = 0.95                # discount, in [0, 1)
    iterations: int = 60               # outer iterations n of the box, >= 1
    fit_steps: int = 300               # Adam steps of "fit" (critic regression) per iteration, >= 1
    policy_steps: int = 100            # Adam steps of "minimize" (policy) per iteration, >= 1
    q_learning_rate: float = 0.02      # Adam step size for theta, > 0
    policy_learning_rate: float = 0.05 # Adam step size for w, > 0

    def __post_init__(self):
        check_range("gamma", self.gamma, 0.0, 1.0, high_open=True)
        for name in ("iterations", "fit_steps", "policy_steps"):
            check_positive_int(name, getattr(self, name))
        check_positive("q_learning_rate", self.q_learning_rate)
        check_positive("policy_learning_rate", self.policy_learning_rate)


class NFQCAResult(NamedTuple):
    q_params: Any        # theta_n
    policy_params: Any   # w_n
    policy_history: Any  # w_1, ..., w_n stacked on a leading axis (one entry per iteration)
    fit_loss: jax.Array  # the critic's regression loss at the end of each iteration's fit


def nfqca(batch, q_apply, policy_apply, q_params, policy_params, config):
    """Algorithm 21.1: neural fitted Q-iteration with continuous actions on a fixed batch B.

    batch: Transition arrays (s, a, r, s', terminated) with a leading axis over B;
    q_apply(theta, s, a) -> q values and policy_apply(w, s) -> actions, both batched over B.
    "fit" and "minimize" are `fit_steps` and `policy_steps` Adam steps, warm-started from theta_n
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

        (theta, _), _ = jax.lax.scan(step, (theta, q_optimizer.init(theta)), None, config.fit_steps)
        return theta, loss(theta)

    def minimize(w, theta):
        def loss(w):
            return -jnp.mean(q_apply(theta, batch.observation, policy_apply(w, batch.observation)))

        def step(carry, _):
            w, opt_state = carry
            return gradient_step(policy_optimizer, w, opt_state, jax.grad(loss)(w)), None

        (w, _), _ = jax.lax.scan(step, (w, policy_optimizer.init(w)), None, config.policy_steps)
        return w

    def iteration(carry, _):
        theta, w = carry
        # 2.2.1-2.2.3: a'_{s'} = d(s'; w_n), targets y = r + gamma q(s', a'_{s'}; theta_n)
        next_actions = policy_apply(w, batch.next_observation)
        targets = batch.reward + config.gamma * _not_terminal(batch) * q_apply(theta, batch.next_observation, next_actions)
        # 2.3: theta_{n+1} = fit(D_q)
        theta, fit_loss = fit(theta, jax.lax.stop_gradient(targets))
        # 2.4: w_{n+1} = minimize_w -(1/|B|) sum_s q(s, d(s; w); theta_{n+1})
        w = minimize(w, theta)
        return (theta, w), (w, fit_loss)

    (theta, w), (history, fit_loss) = jax.lax.scan(iteration, (q_params, policy_params), None, config.iterations)
    return NFQCAResult(theta, w, history, fit_loss)


def quadratic_features(s, a):
    """phi(s, a): 1 and every product z_i z_j (i <= j) of z = (s, a), so that q = phi . theta is
    any quadratic in (s, a); batched over leading axes."""
    z = jnp.concatenate([s, a], axis=-1)
    rows, cols = jnp.triu_indices(z.shape[-1])
    return jnp.concatenate([jnp.ones(z.shape[:-1] + (1,)), z[..., rows] * z[..., cols]], axis=-1)


def quadratic_q(theta, s, a):
    """q(s, a; theta) = phi(s, a) . theta."""
    return quadratic_features(s, a) @ theta


def linear_policy(w, s):
    """d(s; w) = w s, so the gain of u = -K x is K = -w."""
    return s @ w.T


def lqr_batch(key, lqr, num_samples, state_scale=1.0, action_scale=3.0):
    """A fixed batch B of LQR transitions: s ~ U[-state_scale, state_scale]^n, a ~ U[-action_scale,
    action_scale]^m, r = -(s'Qs + a'Ra), s' = A s + B a + w (noise from lqr.noise_cov)."""
    check_positive_int("num_samples", num_samples)
    check_positive("state_scale", state_scale)
    check_positive("action_scale", action_scale)
    noisy = bool(jnp.any(lqr.noise_cov != 0))  # skip the noise (and its Cholesky) when Sigma = 0
    return _lqr_batch(key, lqr, num_samples, state_scale, action_scale, noisy)


@partial(jax.jit, static_argnums=(2, 5))
def _lqr_batch(key, lqr, num_samples, state_scale, action_scale, noisy):
    n, m = lqr.B.shape
    key_s, key_a, key_w = jax.random.split(key, 3)
    s = jax.random.uniform(key_s, (num_samples, n), minval=-state_scale, maxval=state_scale)
    a = jax.random.uniform(key_a, (num_samples, m), minval=-action_scale, maxval=action_scale)
    r = jax.vmap(lambda x, u: lqr_reward(lqr, x, u))(s, a)
    if noisy:
        next_s = jax.vmap(lambda x, u, k: lqr_step(lqr, x, u, k))(s, a, jax.random.split(key_w, num_samples))
    else:
        next_s = jax.vmap(lambda x, u: lqr_step(lqr, x, u))(s, a)
    return Transition(s, a, r, next_s, jnp.zeros(num_samples, bool))


def nfqca_lqr(key, lqr, config, num_samples=256):
    """NFQCA on an LQR with quadratic critic features and a linear policy, both started at zero.
    Returns (NFQCAResult, gains K_n = -w_n with shape [iterations, m, n])."""
    batch = lqr_batch(key, lqr, num_samples)
    n, m = lqr.B.shape
    theta0 = jnp.zeros(quadratic_features(jnp.zeros(n), jnp.zeros(m)).shape[-1])
    result = jax.jit(nfqca, static_argnums=(1, 2, 5))(batch, quadratic_q, linear_policy, theta0,
                                                     jnp.zeros((m, n)), dataclasses.replace(config, gamma=lqr.gamma))
    return result, -result.policy_history


# ------------------------------------------------------------------ networks shared by DDPG and TD3
def policy_action(env, actor, obs):
    """d(s; w) = center + scale * tanh(mlp(s; w)), inside the action box [low, high]."""
    center = 0.5 * (env.action_high + env.action_low)
    scale = 0.5 * (env.action_high - env.action_low)
    return center + scale * jnp.tanh(mlp_apply(actor, obs))


def critic_value(critic, obs, action):
    """q(s, a; theta) from one MLP on the concatenated (s, a); batched over leading axes."""
    return mlp_apply(critic, jnp.concatenate([obs, action], axis=-1))[..., 0]


def twin_critic_values(critics, obs, action):
    """(q^A, q^B) stacked on a leading axis of 2, from twin critics stacked the same way."""
    return jax.vmap(critic_value, in_axes=(0, None, None))(critics, obs, action)


def _action_scale(env):
    return 0.5 * (env.action_high - env.action_low)


def _check_networks(config):
    check_range("gamma", config.gamma, 0.0, 1.0, high_open=True)
    for name in ("actor_hidden", "critic_hidden"):
        sizes = getattr(config, name)
        if not isinstance(sizes, tuple) or not sizes:
            raise ValueError(f"{name} must be a non-empty tuple of layer widths, got {sizes!r}")
        for width in sizes:
            check_positive_int(name, width)
    check_positive("actor_learning_rate", config.actor_learning_rate)
    check_positive("critic_learning_rate", config.critic_learning_rate)
    check_range("tau", config.tau, 0.0, 1.0, low_open=True)


# ------------------------------------------------------------------ DDPG (Algorithm 21.2)
@dataclass(frozen=True)
class DDPGConfig:
    gamma: float = 0.99                 # discount, in [0, 1)
    actor_hidden: tuple = (64, 64)      # hidden widths of d(s; w)
    critic_hidden: tuple = (64, 64)     # hidden widths of q(s, a; theta)
    actor_learning_rate: float = 1e-3   # alpha_d (Adam), > 0
    critic_learning_rate: float = 1e-3  # alpha_q (Adam), > 0
    tau: float = 0.005                  # target rate in (0, 1]: target <- tau online + (1 - tau) target
    target_period: int = 1              # K: targets move every K updates (tau = 1, K > 1: the box's copy)
    ou_theta: float = 0.15              # OU pull towards 0, > 0
    ou_sigma: float = 0.3               # OU diffusion, >= 0, in units of the action half-width
    ou_dt: float = 0.05                 # Euler-Maruyama step (Pendulum's dt), 0 < theta dt < 2

    def __post_init__(self):
        _check_networks(self)
        check_positive_int("target_period", self.target_period)
        _check_ou(self.ou_theta, self.ou_sigma, self.ou_dt, prefix="ou_")


class DDPGState(NamedTuple):
    actor: Any              # w
    critic: Any             # theta
    actor_target: Any       # w_target
    critic_target: Any      # theta_target
    actor_opt_state: Any
    critic_opt_state: Any
    noise: jax.Array        # the OU state N_t, advanced by every call of `act`
    step: jax.Array         # n, the number of updates so far


def ddpg_update(state, batch, env, config):
    """Algorithm 21.2: one DDPG update (steps 6-10 of the box) on a mini-batch of b transitions from R.

    The buffer, the noisy action of steps 1-4 and the mini-batch of step 5 come from
    `lib.offpolicy`; `make_ddpg` wires this function in. Returns (state, metrics).
    """
    actor_optimizer = optax.adam(config.actor_learning_rate)
    critic_optimizer = optax.adam(config.critic_learning_rate)

    # 6. y_i = r_i + gamma q(s'_i, d(s'_i; w_target); theta_target)  (no bootstrap past a terminal state)
    next_actions = policy_action(env, state.actor_target, batch.next_observation)
    next_q = critic_value(state.critic_target, batch.next_observation, next_actions)
    y = batch.reward + config.gamma * _not_terminal(batch) * next_q

    # 7. theta_{n+1} <- theta_n - alpha_q grad (1/b) sum_i (y_i - q(s_i, a_i; theta))^2
    def critic_loss(theta):
        return jnp.mean((y - critic_value(theta, batch.observation, batch.action)) ** 2)

    loss_q, grad_q = jax.value_and_grad(critic_loss)(state.critic)
    critic, critic_opt_state = gradient_step(critic_optimizer, state.critic, state.critic_opt_state, grad_q)

    # 8. w_{n+1} <- w_n + alpha_d (1/b) sum_i grad_a q(s_i, a; theta_{n+1}) grad_w d(s_i; w): autodiff's chain rule
    def actor_loss(w):
        return -jnp.mean(critic_value(critic, batch.observation, policy_action(env, w, batch.observation)))

    loss_d, grad_d = jax.value_and_grad(actor_loss)(state.actor)
    actor, actor_opt_state = gradient_step(actor_optimizer, state.actor, state.actor_opt_state, grad_d)

    # 9. if n mod K = 0: targets move towards the online networks (a copy when tau = 1)
    move = state.step % config.target_period == 0
    tau = jnp.where(move, config.tau, 0.0)
    critic_target = soft_update(state.critic_target, critic, tau)
    actor_target = soft_update(state.actor_target, actor, tau)

    # 10. n <- n + 1
    state = DDPGState(actor, critic, actor_target, critic_target, actor_opt_state, critic_opt_state,
                      state.noise, state.step + 1)
    return state, {"critic_loss": loss_q, "q_mean": -loss_d}


def make_ddpg(env, config=DDPGConfig()):
    """DDPG as an OffPolicyAgent: exploratory action d(s; w) + scale * N_t with N the OU process."""
    if env.discrete:
        raise ValueError(f"env must have continuous actions, got {env.name}")
    scale = _action_scale(env)

    def init(key):
        key_actor, key_critic = jax.random.split(key)
        actor = mlp_init(key_actor, [env.observation_size, *config.actor_hidden, env.action_size])
        critic = mlp_init(key_critic, [env.observation_size + env.action_size, *config.critic_hidden, 1])
        return DDPGState(actor, critic, actor, critic,
                         optax.adam(config.actor_learning_rate).init(actor),
                         optax.adam(config.critic_learning_rate).init(critic),
                         jnp.zeros(env.action_size), jnp.array(0, jnp.int32))

    def act(state, obs, key):
        noise = ou_step(state.noise, key, config.ou_theta, config.ou_sigma, config.ou_dt)
        action = jnp.clip(policy_action(env, state.actor, obs) + scale * noise, env.action_low, env.action_high)
        return action, state._replace(noise=noise)

    def greedy(state, obs):
        return policy_action(env, state.actor, obs)

    def update(state, batch, key):
        return ddpg_update(state, batch, env, config)

    return OffPolicyAgent(init, act, greedy, update)


# ------------------------------------------------------------------ TD3 (Algorithm 21.3)
@dataclass(frozen=True)
class TD3Config:
    gamma: float = 0.99                 # discount, in [0, 1)
    actor_hidden: tuple = (64, 64)      # hidden widths of d(s; w)
    critic_hidden: tuple = (64, 64)     # hidden widths of each of q^A, q^B
    actor_learning_rate: float = 1e-3   # alpha_d (Adam), > 0
    critic_learning_rate: float = 1e-3  # alpha_q (Adam), > 0
    tau: float = 0.005                  # soft target rate, in (0, 1]
    policy_delay: int = 2               # d: one policy and target update every d critic updates
    target_noise: float = 0.2           # sigma of the target smoothing noise, >= 0 (action half-widths)
    noise_clip: float = 0.5             # c: the smoothing noise is clipped to [-c, c], >= 0
    explore_noise: float = 0.1          # sigma_explore of the Gaussian exploration noise, >= 0

    def __post_init__(self):
        _check_networks(self)
        check_positive_int("policy_delay", self.policy_delay)
        check_range("target_noise", self.target_noise, 0.0)
        check_range("noise_clip", self.noise_clip, 0.0)
        check_range("explore_noise", self.explore_noise, 0.0)


class TD3State(NamedTuple):
    actor: Any              # w
    critic: Any             # (theta^A, theta^B) stacked on a leading axis of 2
    actor_target: Any
    critic_target: Any
    actor_opt_state: Any
    critic_opt_state: Any
    step: jax.Array         # n


def td3_target(batch, noise, target_policy, target_critics, gamma, noise_clip, action_low, action_high):
    """Step 6 of Algorithm 21.3 on its own: a~_i = d(s'_i; w_target) + clip(noise_i, -c, c) (kept in the
    action box), y_i = r_i + gamma min(q^A, q^B)(s'_i, a~_i).

    noise: the unclipped N(0, sigma^2) draws, shaped like the actions; target_policy(s') -> actions;
    target_critics(s', a) -> (q^A, q^B) stacked on a leading axis.
    """
    smoothed = target_policy(batch.next_observation) + jnp.clip(noise, -noise_clip, noise_clip)
    smoothed = jnp.clip(smoothed, action_low, action_high)
    q_target = jnp.min(target_critics(batch.next_observation, smoothed), axis=0)
    return batch.reward + gamma * _not_terminal(batch) * q_target


def td3_update(state, batch, key, env, config):
    """Algorithm 21.3: one TD3 update (steps 6-9 of the box) on a mini-batch of b transitions from R.

    The Gaussian exploration of step 2 and the buffer of steps 3-5 live in `make_td3` and
    `lib.offpolicy`. Returns (state, metrics).
    """
    actor_optimizer = optax.adam(config.actor_learning_rate)
    critic_optimizer = optax.adam(config.critic_learning_rate)
    scale = _action_scale(env)

    # 6. targets from the smoothed target action and the smaller of the two target critics
    noise = config.target_noise * scale * jax.random.normal(key, batch.action.shape)
    y = td3_target(batch, noise,
                   lambda s: policy_action(env, state.actor_target, s),
                   lambda s, a: twin_critic_values(state.critic_target, s, a),
                   config.gamma, config.noise_clip * scale, env.action_low, env.action_high)

    # 7. both critics regress on the same y: the loss is the sum of their two mean squared errors
    def critic_loss(thetas):
        q = twin_critic_values(thetas, batch.observation, batch.action)
        return jnp.sum(jnp.mean((y - q) ** 2, axis=-1)), jnp.mean(q[0])

    (loss_q, q_mean), grad_q = jax.value_and_grad(critic_loss, has_aux=True)(state.critic)
    critic, critic_opt_state = gradient_step(critic_optimizer, state.critic, state.critic_opt_state, grad_q)

    # 8. if n mod d = 0: the policy ascends q^A, then all three targets move softly (rate tau)
    def delayed_update(operand):
        actor, actor_opt_state, actor_target, critic_target = operand

        def actor_loss(w):
            q_a = twin_critic_values(critic, batch.observation, policy_action(env, w, batch.observation))[0]
            return -jnp.mean(q_a)

        actor, actor_opt_state = gradient_step(actor_optimizer, actor, actor_opt_state, jax.grad(actor_loss)(actor))
        return (actor, actor_opt_state, soft_update(actor_target, actor, config.tau),
                soft_update(critic_target, critic, config.tau))

    actor, actor_opt_state, actor_target, critic_target = jax.lax.cond(
        state.step % config.policy_delay == 0, delayed_update, lambda operand: operand,
        (state.actor, state.actor_opt_state, state.actor_target, state.critic_target))

    # 9. n <- n + 1
    state = TD3State(actor, critic, actor_target, critic_target, actor_opt_state, critic_opt_state, state.step + 1)
    return state, {"critic_loss": loss_q, "q_mean": q_mean}


def make_td3(env, config=TD3Config()):
    """TD3 as an OffPolicyAgent: exploratory action d(s; w) + eps, eps ~ N(0, (scale sigma_explore)^2)."""
    if env.discrete:
        raise ValueError(f"env must have continuous actions, got {env.name}")
    scale = _action_scale(env)
    critic_sizes = [env.observation_size + env.action_size, *config.critic_hidden, 1]

    def init(key):
        key_actor, key_critic = jax.random.split(key)
        actor = mlp_init(key_actor, [env.observation_size, *config.actor_hidden, env.action_size])
        critic = jax.vmap(lambda k: mlp_init(k, critic_sizes))(jax.random.split(key_critic, 2))
        return TD3State(actor, critic, actor, critic,
                        optax.adam(config.actor_learning_rate).init(actor),
                        optax.adam(config.critic_learning_rate).init(critic), jnp.array(0, jnp.int32))

    def act(state, obs, key):
        eps = config.explore_noise * scale * jax.random.normal(key, (env.action_size,))
        return jnp.clip(policy_action(env, state.actor, obs) + eps, env.action_low, env.action_high), state

    def greedy(state, obs):
        return policy_action(env, state.actor, obs)

    def update(state, batch, key):
        return td3_update(state, batch, key, env, config)

    return OffPolicyAgent(init, act, greedy, update)


# ------------------------------------------------------------------ the overestimation experiment
class Snapshotting(NamedTuple):
    agent: Any      # the wrapped agent's state
    actor: Any      # actor parameters after `every`, 2 `every`, ... updates, stacked [count, ...]
    critic: Any     # critic parameters at the same moments
    updates: jax.Array


def with_snapshots(agent, every, count):
    """Wrap a DDPG or TD3 OffPolicyAgent so that its state also keeps copies of (actor, critic)
    after every `every` updates, `count` times; the learning itself is unchanged."""
    check_positive_int("every", every)
    check_positive_int("count", count)

    def init(key):
        inner = agent.init(key)
        stack = lambda tree: jax.tree_util.tree_map(lambda x: jnp.zeros((count,) + x.shape, x.dtype), tree)
        return Snapshotting(inner, stack(inner.actor), stack(inner.critic), jnp.array(0, jnp.int32))

    def act(state, obs, key):
        action, inner = agent.act(state.agent, obs, key)
        return action, state._replace(agent=inner)

    def greedy(state, obs):
        return agent.greedy(state.agent, obs)

    def update(state, batch, key):
        inner, metrics = agent.update(state.agent, batch, key)
        updates = state.updates + 1
        index = jnp.minimum(updates // every - 1, count - 1)
        write = (updates % every == 0) & (updates // every <= count)
        keep = lambda stack, params: jax.tree_util.tree_map(
            lambda s, p: s.at[index].set(jnp.where(write, p, s[index])), stack, params)
        return Snapshotting(inner, keep(state.actor, inner.actor), keep(state.critic, inner.critic), updates), metrics

    return OffPolicyAgent(init, act, greedy, update)


def without_time_limit(env, horizon):
    """The same task truncated after `horizon` steps instead of env.max_episode_steps (for long
    Monte Carlo returns that approximate the infinite discounted sum)."""
    check_positive_int("horizon", horizon)

    def step(state, action):
        state, obs, reward, terminated, _ = env.step(state, action)
        return state, obs, reward, terminated, state.time >= horizon

    return dataclasses.replace(env, max_episode_steps=horizon, step=step)


def value_estimates(env, actor, critic, q_fn, key, gamma, num_states=16, horizon=1000):
    """The critic's estimate against the truth for one greedy policy d(s; w).

    Returns (mean_s0 q(s0, d(s0); theta), mean_s0 of the Monte Carlo discounted return of d from s0),
    over `num_states` start states s0 drawn by env.reset; `horizon` steps (default 1000, so
    gamma^horizon is negligible for gamma = 0.99). q_fn(critic, obs, action) -> q values.
    """
    check_range("gamma", gamma, 0.0, 1.0, high_open=True)
    check_positive_int("num_states", num_states)
    policy = lambda obs: policy_action(env, actor, obs)
    # episode_returns draws episode i's start from env.reset(split(key)[i]); use the same s0 here.
    _, start_obs = jax.vmap(env.reset)(jax.random.split(key, num_states))
    q_estimate = jnp.mean(q_fn(critic, start_obs, policy(start_obs)))
    returns = episode_returns(without_time_limit(env, horizon), policy, key, num_states, discount=gamma)
    return q_estimate, jnp.mean(returns)


def snapshot_value_estimates(env, snapshots, q_fn, key, gamma, num_states=16, horizon=1000):
    """`value_estimates` for every snapshot kept by `with_snapshots` (of every seed, when the runs
    were vmapped): two arrays (q estimate, Monte Carlo return) shaped [seeds..., count]."""
    first_weights = snapshots.actor[0]["w"]  # a 2-D matrix in one network; extra leading axes are stacked
    lead = first_weights.ndim - 2
    shape = first_weights.shape[:lead]
    flat = lambda tree: jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[lead:]), tree)
    one = lambda actor, critic: value_estimates(env, actor, critic, q_fn, key, gamma, num_states, horizon)
    q, mc = jax.jit(jax.vmap(one))(flat(snapshots.actor), flat(snapshots.critic))
    return q.reshape(shape), mc.reshape(shape)
