"""Chapter 21: deterministic policies d(s; w) trained through a critic q(s, a; theta).

- `nfqca` (Algorithm 21.1): fitted Q-iteration on a fixed batch B whose maximization over actions is
  amortized into a policy, fit by ascending q(s, d(s; w); theta). `nfqca_lqr` gives it a problem
  with a known answer (lib.lqr's quadratic critic features, linear policy and Riccati gain K).
- `ou_step`, `ou_paths`, `ou_stationary_variance`: Ornstein-Uhlenbeck exploration noise,
  dN = theta (mu - N) dt + sigma dW, discretized by Euler-Maruyama.
- `ddpg_update` (Algorithm 21.2) and `make_ddpg_agent`: DDPG as an `OffPolicyAgent` for
  `lib.offpolicy.make_off_policy_train` (replay, acting and evaluation live there).
- `td3_target`, `td3_update` (Algorithm 21.3) and `make_td3_agent`: twin critics (`lib.nets`), clipped
  target noise, delayed policy and target updates.
- `with_snapshots`, `value_estimates`: the overestimation experiment, the critic's q(s0, d(s0))
  against the Monte Carlo discounted return of the same greedy policy from the same s0.

Actions of the learned policies are squashed into the environment's box,
d(s; w) = center + scale * tanh(mlp(s; w)) (`lib.policies.squash_to_box`); every noise scale in the
configs (OU sigma, TD3's sigma, c and sigma_explore) is in units of `scale`, the half-width of the box.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lib.config import check_positive, check_positive_int, check_range
from lib.evaluation import episode_returns
from lib.lqr import linear_policy, lqr_base_points, quadratic_features, quadratic_q
from lib.nets import (
    check_hidden_widths,
    first_q_apply,
    gradient_step,
    mlp_apply,
    mlp_init,
    q_apply,
    soft_update,
    twin_mlp_init,
    twin_q_apply,
    twin_squared_error,
)
from lib.offpolicy import OffPolicyAgent
from lib.policies import box_center_and_half_width, squash_to_box


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
    return _ou_paths(
        jnp.asarray(theta, jnp.float32),
        jnp.asarray(sigma, jnp.float32),
        jnp.asarray(dt, jnp.float32),
        jnp.asarray(initial, jnp.float32),
        eps,
    )


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
        targets = batch.reward + config.gamma * _not_terminal(batch) * q_apply(
            theta, batch.next_observation, next_actions
        )
        # 2.3: theta_{n+1} = fit(D_q)
        theta, fit_loss = fit(theta, jax.lax.stop_gradient(targets))
        # 2.4: w_{n+1} = minimize_w -(1/|B|) sum_s q(s, d(s; w); theta_{n+1})
        w = minimize(w, theta)
        return (theta, w), (w, fit_loss)

    (theta, w), (history, fit_loss) = jax.lax.scan(iteration, (q_params, policy_params), None, config.num_iterations)
    return NFQCAResult(theta, w, history, fit_loss)


def nfqca_lqr(key, lqr, config, num_samples=256):
    """NFQCA on an LQR with quadratic critic features and a linear policy, both started at zero.
    Returns (NFQCAResult, gains K_n = -w_n with shape [iterations, m, n])."""
    batch = lqr_base_points(lqr, key, num_samples)
    n, m = lqr.B.shape
    theta0 = jnp.zeros(quadratic_features(jnp.zeros(n), jnp.zeros(m)).shape[-1])
    result = jax.jit(nfqca, static_argnums=(1, 2, 5))(
        batch, quadratic_q, linear_policy, theta0, jnp.zeros((m, n)), dataclasses.replace(config, gamma=lqr.gamma)
    )
    return result, -result.policy_history


# ------------------------------------------------------------------ what DDPG and TD3 share
def policy_action(env, policy, obs):
    """d(s; w) = center + scale * tanh(mlp(s; w)), inside the action box [low, high]."""
    return squash_to_box(mlp_apply(policy, obs), env.action_low, env.action_high)


def _action_scale(env):
    return box_center_and_half_width(env.action_low, env.action_high)[1]


def _check_networks(config):
    check_range("gamma", config.gamma, 0.0, 1.0, high_open=True)
    check_hidden_widths(config, "policy_hidden", "q_hidden")
    check_positive("policy_learning_rate", config.policy_learning_rate)
    check_positive("q_learning_rate", config.q_learning_rate)
    check_range("tau", config.tau, 0.0, 1.0, low_open=True)


class ActorCriticOptimizers(NamedTuple):
    policy: Any  # Adam at alpha_d, for w
    q: Any  # Adam at alpha_q, for theta (both twins at once in TD3)


def actor_critic_optimizers(config):
    """The two optimizers of a DDPG or TD3 config: the one definition that init and update both use."""
    return ActorCriticOptimizers(optax.adam(config.policy_learning_rate), optax.adam(config.q_learning_rate))


def _check_continuous(env):
    if env.discrete:
        raise ValueError(f"env must have continuous actions, got {env.name}")
    box_center_and_half_width(env.action_low, env.action_high)


# ------------------------------------------------------------------ DDPG (Algorithm 21.2)
@dataclass(frozen=True)
class DDPGConfig:
    gamma: float = 0.99  # discount, in [0, 1)
    policy_hidden: tuple = (64, 64)  # hidden widths of d(s; w), positive ints (a list is accepted)
    q_hidden: tuple = (64, 64)  # hidden widths of q(s, a; theta), positive ints
    policy_learning_rate: float = 1e-3  # alpha_d (Adam), > 0
    q_learning_rate: float = 1e-3  # alpha_q (Adam), > 0
    tau: float = 0.005  # target rate in (0, 1]: target <- tau online + (1 - tau) target
    target_period: int = 1  # K: targets move every K updates (tau = 1, K > 1: the box's copy)
    ou_theta: float = 0.15  # OU pull towards 0, > 0
    ou_sigma: float = 0.3  # OU diffusion, >= 0, in units of the action half-width
    ou_dt: float = 0.05  # Euler-Maruyama step (Pendulum's dt), 0 < theta dt < 2

    def __post_init__(self):
        _check_networks(self)
        check_positive_int("target_period", self.target_period)
        _check_ou(self.ou_theta, self.ou_sigma, self.ou_dt, prefix="ou_")


class DDPGState(NamedTuple):
    policy: Any  # w
    q: Any  # theta
    policy_target: Any  # w_target
    q_target: Any  # theta_target
    policy_opt_state: Any
    q_opt_state: Any
    noise: jax.Array  # the OU state N_t, advanced by every call of `act`
    step: jax.Array  # n, the number of updates so far


def ddpg_update(env, config, state, batch):
    """Algorithm 21.2: one DDPG update (steps 6-10 of the box) on a mini-batch of b transitions from R.

    The buffer, the noisy action of steps 1-4 and the mini-batch of step 5 come from
    `lib.offpolicy`; `make_ddpg_agent` wires this function in (DDPG's update draws no noise, so it
    takes no key). Returns (state, metrics).
    """
    optimizers = actor_critic_optimizers(config)

    # 6. y_i = r_i + gamma q(s'_i, d(s'_i; w_target); theta_target)  (no bootstrap past a terminal state)
    next_actions = policy_action(env, state.policy_target, batch.next_observation)
    next_q = q_apply(state.q_target, batch.next_observation, next_actions)
    y = batch.reward + config.gamma * _not_terminal(batch) * next_q

    # 7. theta_{n+1} <- theta_n - alpha_q grad (1/b) sum_i (y_i - q(s_i, a_i; theta))^2
    def q_loss(theta):
        return jnp.mean((y - q_apply(theta, batch.observation, batch.action)) ** 2)

    loss_q, grad_q = jax.value_and_grad(q_loss)(state.q)
    q, q_opt_state = gradient_step(optimizers.q, state.q, state.q_opt_state, grad_q)

    # 8. w_{n+1} <- w_n + alpha_d (1/b) sum_i grad_a q(s_i, a; theta_{n+1}) grad_w d(s_i; w): autodiff's chain rule
    def policy_loss(w):
        return -jnp.mean(q_apply(q, batch.observation, policy_action(env, w, batch.observation)))

    loss_d, grad_d = jax.value_and_grad(policy_loss)(state.policy)
    policy, policy_opt_state = gradient_step(optimizers.policy, state.policy, state.policy_opt_state, grad_d)

    # 9. if n mod K = 0: targets move towards the online networks (a copy when tau = 1)
    move = state.step % config.target_period == 0
    tau = jnp.where(move, config.tau, 0.0)
    q_target = soft_update(state.q_target, q, tau)
    policy_target = soft_update(state.policy_target, policy, tau)

    # 10. n <- n + 1
    state = DDPGState(policy, q, policy_target, q_target, policy_opt_state, q_opt_state, state.noise, state.step + 1)
    return state, {"q_loss": loss_q, "q_mean": -loss_d}


def _init_policy_and_q(key, env, config, q_init):
    """d(s; w) and the critic (`q_init`: one network or the twins) of the widths in `config`."""
    key_policy, key_q = jax.random.split(key)
    policy = mlp_init(key_policy, [env.observation_size, *config.policy_hidden, env.action_size])
    return policy, q_init(key_q, [env.observation_size + env.action_size, *config.q_hidden, 1])


def make_ddpg_agent(env, config=DDPGConfig()):
    """DDPG as an OffPolicyAgent: exploratory action d(s; w) + scale * N_t with N the OU process."""
    _check_continuous(env)
    scale = _action_scale(env)
    optimizers = actor_critic_optimizers(config)

    def init(key):
        policy, q = _init_policy_and_q(key, env, config, mlp_init)
        return DDPGState(
            policy,
            q,
            policy,
            q,
            optimizers.policy.init(policy),
            optimizers.q.init(q),
            jnp.zeros(env.action_size),
            jnp.array(0, jnp.int32),
        )

    def act(state, obs, key):
        noise = ou_step(state.noise, key, config.ou_theta, config.ou_sigma, config.ou_dt)
        action = jnp.clip(policy_action(env, state.policy, obs) + scale * noise, env.action_low, env.action_high)
        return action, state._replace(noise=noise)

    def greedy(state, obs):
        return policy_action(env, state.policy, obs)

    def update(state, batch, key):
        return ddpg_update(env, config, state, batch)

    return OffPolicyAgent(init, act, greedy, update)


# ------------------------------------------------------------------ TD3 (Algorithm 21.3)
@dataclass(frozen=True)
class TD3Config:
    gamma: float = 0.99  # discount, in [0, 1)
    policy_hidden: tuple = (64, 64)  # hidden widths of d(s; w), positive ints (a list is accepted)
    q_hidden: tuple = (64, 64)  # hidden widths of each of q^A, q^B, positive ints
    policy_learning_rate: float = 1e-3  # alpha_d (Adam), > 0
    q_learning_rate: float = 1e-3  # alpha_q (Adam), > 0
    tau: float = 0.005  # soft target rate, in (0, 1]
    policy_delay: int = 2  # d: one policy and target update every d critic updates
    target_noise: float = 0.2  # sigma of the target smoothing noise, >= 0 (action half-widths)
    noise_clip: float = 0.5  # c: the smoothing noise is clipped to [-c, c], >= 0
    explore_noise: float = 0.1  # sigma_explore of the Gaussian exploration noise, >= 0

    def __post_init__(self):
        _check_networks(self)
        check_positive_int("policy_delay", self.policy_delay)
        check_range("target_noise", self.target_noise, 0.0)
        check_range("noise_clip", self.noise_clip, 0.0)
        check_range("explore_noise", self.explore_noise, 0.0)


class TD3State(NamedTuple):
    policy: Any  # w
    q: Any  # (theta^A, theta^B) stacked on a leading axis of 2
    policy_target: Any
    q_target: Any
    policy_opt_state: Any
    q_opt_state: Any
    step: jax.Array  # n


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


def td3_policy_loss(env, q, policy, observation):
    """Step 8's objective, negated: -(1/b) sum_i q^A(s_i, d(s_i; w)); descending it ascends q^A."""
    return -jnp.mean(first_q_apply(q, observation, policy_action(env, policy, observation)))


def td3_update(env, config, state, batch, key):
    """Algorithm 21.3: one TD3 update (steps 6-9 of the box) on a mini-batch of b transitions from R.

    The Gaussian exploration of step 2 and the buffer of steps 3-5 live in `make_td3_agent` and
    `lib.offpolicy`. Returns (state, metrics).
    """
    optimizers = actor_critic_optimizers(config)
    scale = _action_scale(env)

    # 6. targets from the smoothed target action and the smaller of the two target critics
    noise = config.target_noise * scale * jax.random.normal(key, batch.action.shape)
    y = td3_target(
        batch,
        noise,
        lambda s: policy_action(env, state.policy_target, s),
        lambda s, a: twin_q_apply(state.q_target, s, a),
        config.gamma,
        config.noise_clip * scale,
        env.action_low,
        env.action_high,
    )

    # 7. both critics regress on the same y: the loss is the sum of their two mean squared errors
    loss_q, grad_q = jax.value_and_grad(twin_squared_error)(state.q, batch.observation, batch.action, y)
    q_mean = jnp.mean(first_q_apply(state.q, batch.observation, batch.action))
    q, q_opt_state = gradient_step(optimizers.q, state.q, state.q_opt_state, grad_q)

    # 8. if n mod d = 0: the policy ascends q^A, then all three targets move softly (rate tau)
    def delayed_update(operand):
        policy, policy_opt_state, policy_target, q_target = operand
        grad_d = jax.grad(lambda w: td3_policy_loss(env, q, w, batch.observation))(policy)
        policy, policy_opt_state = gradient_step(optimizers.policy, policy, policy_opt_state, grad_d)
        return (
            policy,
            policy_opt_state,
            soft_update(policy_target, policy, config.tau),
            soft_update(q_target, q, config.tau),
        )

    policy, policy_opt_state, policy_target, q_target = jax.lax.cond(
        state.step % config.policy_delay == 0,
        delayed_update,
        lambda operand: operand,
        (state.policy, state.policy_opt_state, state.policy_target, state.q_target),
    )

    # 9. n <- n + 1
    state = TD3State(policy, q, policy_target, q_target, policy_opt_state, q_opt_state, state.step + 1)
    return state, {"q_loss": loss_q, "q_mean": q_mean}


def make_td3_agent(env, config=TD3Config()):
    """TD3 as an OffPolicyAgent: exploratory action d(s; w) + eps, eps ~ N(0, (scale sigma_explore)^2)."""
    _check_continuous(env)
    scale = _action_scale(env)
    optimizers = actor_critic_optimizers(config)

    def init(key):
        policy, q = _init_policy_and_q(key, env, config, twin_mlp_init)
        return TD3State(
            policy, q, policy, q, optimizers.policy.init(policy), optimizers.q.init(q), jnp.array(0, jnp.int32)
        )

    def act(state, obs, key):
        eps = config.explore_noise * scale * jax.random.normal(key, (env.action_size,))
        return jnp.clip(policy_action(env, state.policy, obs) + eps, env.action_low, env.action_high), state

    def greedy(state, obs):
        return policy_action(env, state.policy, obs)

    def update(state, batch, key):
        return td3_update(env, config, state, batch, key)

    return OffPolicyAgent(init, act, greedy, update)


# ------------------------------------------------------------------ the overestimation experiment
class Snapshotting(NamedTuple):
    agent: Any  # the wrapped agent's state
    policy: Any  # policy parameters after `every`, 2 `every`, ... updates, stacked [count, ...]
    q: Any  # critic parameters at the same moments
    updates: jax.Array


def with_snapshots(agent, every, count):
    """Wrap a DDPG or TD3 OffPolicyAgent so that its state also keeps copies of (policy, q)
    after every `every` updates, `count` times; the learning itself is unchanged."""
    check_positive_int("every", every)
    check_positive_int("count", count)

    def init(key):
        inner = agent.init(key)
        stack = lambda tree: jax.tree_util.tree_map(lambda x: jnp.zeros((count,) + x.shape, x.dtype), tree)
        return Snapshotting(inner, stack(inner.policy), stack(inner.q), jnp.array(0, jnp.int32))

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
            lambda s, p: s.at[index].set(jnp.where(write, p, s[index])), stack, params
        )
        return Snapshotting(inner, keep(state.policy, inner.policy), keep(state.q, inner.q), updates), metrics

    return OffPolicyAgent(init, act, greedy, update)


def without_time_limit(env, horizon):
    """The same task truncated after `horizon` steps instead of env.max_episode_steps (for long
    Monte Carlo returns that approximate the infinite discounted sum)."""
    check_positive_int("horizon", horizon)

    def step(state, action):
        state, obs, reward, terminated, _ = env.step(state, action)
        return state, obs, reward, terminated, state.time >= horizon

    return dataclasses.replace(env, max_episode_steps=horizon, step=step)


def value_estimates(env, policy_params, q_params, q_fn, key, gamma, num_states=16, horizon=1000):
    """The critic's estimate against the truth for one greedy policy d(s; w).

    Returns (mean_s0 q(s0, d(s0); theta), mean_s0 of the Monte Carlo discounted return of d from s0),
    over `num_states` start states s0 drawn by env.reset; `horizon` steps (default 1000, so
    gamma^horizon is negligible for gamma = 0.99). q_fn(q_params, obs, action) -> q values: `lib.nets.q_apply`
    for DDPG, `lib.nets.first_q_apply` (the critic TD3's policy ascends) for TD3.
    """
    check_range("gamma", gamma, 0.0, 1.0, high_open=True)
    check_positive_int("num_states", num_states)
    policy = lambda obs: policy_action(env, policy_params, obs)
    # episode_returns draws episode i's start from env.reset(split(key)[i]); use the same s0 here.
    _, start_obs = jax.vmap(env.reset)(jax.random.split(key, num_states))
    q_estimate = jnp.mean(q_fn(q_params, start_obs, policy(start_obs)))
    returns = episode_returns(without_time_limit(env, horizon), policy, key, num_states, discount=gamma)
    return q_estimate, jnp.mean(returns)


def snapshot_value_estimates(env, snapshots, q_fn, key, gamma, num_states=16, horizon=1000):
    """`value_estimates` for every snapshot kept by `with_snapshots` (of every seed, when the runs
    were vmapped): two arrays (q estimate, Monte Carlo return) shaped [seeds..., count]."""
    first_weights = snapshots.policy[0]["w"]  # a 2-D matrix in one network; extra leading axes are stacked
    lead = first_weights.ndim - 2
    shape = first_weights.shape[:lead]
    flat = lambda tree: jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[lead:]), tree)
    one = lambda policy, q: value_estimates(env, policy, q, q_fn, key, gamma, num_states, horizon)
    q, mc = jax.jit(jax.vmap(one))(flat(snapshots.policy), flat(snapshots.q))
    return q.reshape(shape), mc.reshape(shape)
