"""Score-function policy gradients (chapter 24): exact on a finite MDP, estimated from rollouts.

Two halves.

**Finite MDP, softmax policy.** The policy is a matrix of logits `w[s, a]` and
d(a|s; w) = softmax(w[s])_a (any other `policy_fn(params) -> pi[s, a]` works too). Here every
quantity has an exact value: the gradient from the policy gradient theorem, the discounted state
visitation, the expected GAE advantage for a given critic. The Monte Carlo estimators (whole
return, reward to go, baseline, GAE for each lambda) run on sampled episodes, vmapped over many
independent trials, so their bias and variance are measured against those exact values.

Occupancy convention: the book's x_alpha^T = alpha^T (I - gamma P_d)^{-1} is unnormalized (it sums
to 1 / (1 - gamma)); `lib.mdp.discounted_visitation` returns the normalized mu_alpha =
(1 - gamma) x_alpha. The gradient functions below use x_alpha, so that they equal grad J for
J(w) = alpha^T v_d exactly; the sampler draws from mu_alpha.

For the discounted objective J, the score-function estimators weight step t by gamma^t:
grad J = E[sum_t gamma^t grad log d(a_t|s_t; w) psi_t], where psi_t is the return to go G_t, the
return minus a baseline G_t - b(s_t), or a GAE advantage. Dropping gamma^t, as the CartPole
algorithms below do (and as nearly all deep-RL code does), changes which objective is followed.

**CartPole.** Algorithms 24.1 - 24.4 as update functions on small MLPs, and `make_train`, which
returns one pure `train(key)` whose whole run (collect B episodes, update, repeat) is a single
`lax.scan`, so `jax.vmap(train)` trains several seeds at once. Each iteration resets B copies of
the environment and keeps the first episode of each (steps after it are masked), so every
estimator, the Monte Carlo ones included, sees the same complete episodes.
"""
from dataclasses import dataclass
import functools
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.config import check_positive, check_positive_int, check_range
from lib.mdp import discounted_visitation, evaluate_policy, expected_return, policy_dynamics, sample_trajectories
from lib.nets import check_hidden_widths, gradient_step
from lib.onpolicy import (annealable_adam, annealed_learning_rate, collect_rollout,
                          current_learning_rate, discounted_returns_to_go, gae_advantages, init_policy_and_value,
                          masked_mean, minibatch_epochs, normalize, policy_output, run_iterations, start_envs,
                          state_value, with_learning_rate)
from lib.policies import categorical_log_prob


# =============================================================== finite MDP: exact answers

def softmax_policy(logits):
    """d(a|s; w) = exp(w[s, a]) / sum_b exp(w[s, b]): the tabular softmax policy pi[s, a]."""
    return jax.nn.softmax(logits, axis=-1)


def exact_return(mdp, params, policy_fn=softmax_policy):
    """J(w) = alpha^T v_d with v_d = (I - gamma P_d)^{-1} r_d (a linear solve), for pi = policy_fn(params)."""
    return expected_return(mdp, policy_fn(params))


def occupancy(mdp, policy):
    """The book's unnormalized discounted visitation x_alpha^T = alpha^T (I - gamma P_d)^{-1} (sums to 1/(1-gamma))."""
    return discounted_visitation(mdp, policy) / (1.0 - mdp.gamma)


def policy_gradient_theorem(mdp, params, policy_fn=softmax_policy):
    """The exact gradient of J(w) = alpha^T v_d from the policy gradient theorem.

        grad J = x_alpha^T (dr_d/dw + gamma dP_d/dw v_d),   x_alpha^T = alpha^T (I - gamma P_d)^{-1},

    with x_alpha the book's unnormalized occupancy (see `occupancy`). The bracket is the Jacobian of
    the one-step map w -> r_d(w) + gamma P_d(w) v with v frozen at v_d; multiplying it on the left by
    x_alpha^T is one vector-Jacobian product. Nothing here differentiates v_d or the linear solve:
    only the policy's effect on one step of reward and transition.
    """
    policy = policy_fn(params)
    values = evaluate_policy(mdp, policy)
    visits = occupancy(mdp, policy)

    def one_step_backup(w):
        transitions_d, rewards_d = policy_dynamics(mdp, policy_fn(w))
        return rewards_d + mdp.gamma * transitions_d @ values

    _, pullback = jax.vjp(one_step_backup, params)
    return pullback(visits)[0]


def gradient_from_action_values(mdp, params, action_values, policy_fn=softmax_policy):
    """sum_s x_alpha(s) sum_a grad_w d(a|s; w) f(s, a), the theorem's second form, for any table f[s, a].

    With f = q_d it is grad J; with f = A_d = q_d - v_d too (a state-only shift drops out because
    sum_a grad d(a|s) = 0); with f = the expected GAE advantage of a critic it is the mean of the GAE
    estimator (`gae_expected_advantages`).
    """
    visits = occupancy(mdp, policy_fn(params))
    _, pullback = jax.vjp(policy_fn, params)
    return pullback(visits[:, None] * action_values)[0]


def gae_expected_advantages(mdp, policy, critic, lam):
    """E[A_t^GAE | s_t = s, a_t = a] exactly, for a critic table v_hat[s] and an infinite horizon.

    With delta_bar(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) v_hat(s') - v_hat(s) and
    delta_bar_d(s) = sum_a pi(a|s) delta_bar(s, a), the later TD errors average over the chain:

        E[A^lambda | s, a] = delta_bar(s, a) + gamma lambda P(.|s, a) (I - gamma lambda P_d)^{-1} delta_bar_d.

    With the exact critic v_hat = v_d this is the exact advantage A_d for every lambda; with a wrong
    critic it is biased, except for a state-only shift -(v_hat - v_d)(s) at lambda = 1.
    """
    check_range("lam", lam, 0.0, 1.0)
    deltas = mdp.rewards + mdp.gamma * mdp.transitions @ critic - critic[:, None]
    transitions_d, _ = policy_dynamics(mdp, policy)
    deltas_d = jnp.sum(policy * deltas, axis=1)
    num_states = deltas_d.shape[0]
    future = jnp.linalg.solve(jnp.eye(num_states) - mdp.gamma * lam * transitions_d, deltas_d)
    return deltas + mdp.gamma * lam * mdp.transitions @ future


def sample_discounted_visitation(mdp, policy, key, num_samples):
    """States drawn from the normalized discounted visitation mu_alpha = (1 - gamma) x_alpha.

    Each sample draws a stopping time T with P(T = t) = (1 - gamma) gamma^t (a geometric time),
    starts at s_0 ~ alpha, follows the policy and the transitions for T steps and returns s_T, since
    P(s_T = s) = sum_t (1 - gamma) gamma^t [alpha^T P_d^t]_s = mu_alpha(s). Only sampling access to the
    policy and the transitions is used. Samples are independent (one walk each).
    """
    check_positive_int("num_samples", num_samples)
    return _sample_discounted_visitation(mdp, policy, key, num_samples)


@partial(jax.jit, static_argnums=3)
def _sample_discounted_visitation(mdp, policy, key, num_samples):
    log_policy, log_transitions = jnp.log(policy), jnp.log(mdp.transitions)

    def one_sample(sample_key):
        key_time, key_start, key_walk = jax.random.split(sample_key, 3)
        # jax's geometric counts trials up to the first success (support 1, 2, ...): subtract one.
        stop = jax.random.geometric(key_time, 1.0 - mdp.gamma) - 1
        state = jax.random.categorical(key_start, jnp.log(mdp.initial))

        def keep_walking(carry):
            t, _, _ = carry
            return t < stop

        def walk(carry):
            t, state, walk_key = carry
            walk_key, key_action, key_next = jax.random.split(walk_key, 3)
            action = jax.random.categorical(key_action, log_policy[state])
            next_state = jax.random.categorical(key_next, log_transitions[state, action])
            return t + 1, next_state, walk_key

        _, state, _ = jax.lax.while_loop(keep_walking, walk, (jnp.zeros_like(stop), state, key_walk))
        return state

    return jax.vmap(one_sample)(jax.random.split(key, num_samples))


# =============================================================== finite MDP: estimators

class GradientEstimates(NamedTuple):
    """One gradient estimate per trial, each of shape [trials, *params.shape] (gae: [lambdas, trials, ...])."""
    whole_return: jax.Array
    reward_to_go: jax.Array
    baseline: jax.Array
    gae: jax.Array


def score_function_gradient(params, states, actions, weights, policy_fn=softmax_policy):
    """(1/E) sum_episodes sum_t weights_t grad_w log d(a_t|s_t; w) for [E, H] arrays of one trial.

    The gradient of the surrogate (1/E) sum weights_t log d(a_t|s_t; w) with the weights held fixed:
    the weights carry the return information, the log-probability carries w.
    """
    def surrogate(w):
        log_policy = jnp.log(policy_fn(w))
        return jnp.sum(weights * log_policy[states, actions]) / states.shape[0]

    return jax.grad(surrogate)(params)


def checked_lambdas(lams):
    """`lams` as a 1-D array, after checking every lambda lies in [0, 1] (a ValueError naming `lams`)."""
    lams = jnp.atleast_1d(jnp.asarray(lams))
    if bool(jnp.any((lams < 0) | (lams > 1) | ~jnp.isfinite(lams))):
        raise ValueError(f"lams must lie in [0, 1], got {lams}")
    return lams


def _psi_whole_return(rewards, gamma):
    """psi_t = G(tau) = sum_k gamma^k r_k on every step ([H, E] time-major arrays)."""
    discounts = gamma ** jnp.arange(rewards.shape[0])[:, None]
    return jnp.broadcast_to(jnp.sum(discounts * rewards, axis=0), rewards.shape)


def _psi_rewards_to_go(rewards, gamma, done):
    """psi_t = gamma^t G_t = sum_{k >= t} gamma^k r_k: the rewards before t dropped (causality)."""
    discounts = gamma ** jnp.arange(rewards.shape[0])[:, None]
    return discounts * discounted_returns_to_go(rewards, done, gamma)


def finite_mdp_estimates(mdp, params, critic, key, lams, num_trials, num_episodes, horizon,
                         policy_fn=softmax_policy):
    """Gradient estimates over `num_trials` independent trials of `num_episodes` episodes each.

    Every trial samples its own episodes of `horizon` steps (pick gamma^horizon negligible: the
    episode is cut there) and forms the four estimators from the same episodes:
      whole_return: psi_t = sum_k gamma^k r_k (the whole discounted return on every step),
      reward_to_go: psi_t = gamma^t G_t,
      baseline:     psi_t = gamma^t (G_t - v_hat(s_t)),
      gae:          psi_t = gamma^t A_t^GAE(gamma, lambda) with critic v_hat, one row per lambda in `lams`.
    `critic[s]` is v_hat. With the exact v_d the baseline is the usual choice, not the variance-minimizing
    one: that weights the returns by the squared norm of the score, b*(s) = E[|grad log d|^2 G | s] /
    E[|grad log d|^2 | s] (Exercise 6 of chapter 24 finds it on a bandit).
    """
    for name, value in (("num_trials", num_trials), ("num_episodes", num_episodes), ("horizon", horizon)):
        check_positive_int(name, value)
    return _finite_mdp_estimates(mdp, params, critic, key, checked_lambdas(lams), num_trials, num_episodes, horizon,
                                 policy_fn)


@partial(jax.jit, static_argnums=(5, 6, 7, 8))
def _finite_mdp_estimates(mdp, params, critic, key, lams, num_trials, num_episodes, horizon, policy_fn):
    policy = policy_fn(params)
    gamma = mdp.gamma

    def one_trial(trial_key):
        states, actions, rewards = sample_trajectories(mdp, policy, trial_key, num_episodes, horizon)
        # Time-major [H, E] for the reverse scans of lib.onpolicy; the episode ends at the horizon.
        states_t, rewards_t = states.T, rewards.T
        done = jnp.zeros_like(rewards_t).at[-1].set(1.0)
        discounts = gamma ** jnp.arange(horizon)[:, None]
        values = critic[states_t]
        next_values = jnp.concatenate([values[1:], jnp.zeros_like(values[:1])])
        psi = {"whole_return": _psi_whole_return(rewards_t, gamma),
               "reward_to_go": _psi_rewards_to_go(rewards_t, gamma, done)}
        psi["baseline"] = psi["reward_to_go"] - discounts * values
        # score_function_gradient wants episode-major [E, H] arrays: transpose the weights back.
        gradient = lambda weights: score_function_gradient(params, states, actions, weights.T, policy_fn)
        estimates = {name: gradient(weights) for name, weights in psi.items()}

        def gae_gradient(lam):
            advantages = gae_advantages(rewards_t, values, next_values, done, done, gamma, lam)
            return gradient(discounts * advantages)

        estimates["gae"] = jax.vmap(gae_gradient)(lams)
        return GradientEstimates(**estimates)

    estimates = jax.vmap(one_trial)(jax.random.split(key, num_trials))
    return estimates._replace(gae=jnp.moveaxis(estimates.gae, 1, 0))


class EstimatorSummary(NamedTuple):
    """Bias, variance and MSE of an estimator of a vector: all summed over the vector's components."""
    bias_norm: float       # || mean estimate - exact ||
    bias_se: float         # standard error of that mean, sqrt(trace Cov / trials)
    variance: float        # trace of the covariance of one trial's estimate
    mse: float             # bias_norm^2 + variance


def summarize_estimates(estimates, exact):
    """Bias and variance of `estimates[trials, ...]` against the `exact` gradient (at least 2 trials)."""
    if estimates.shape[0] < 2:
        raise ValueError(f"estimates must hold at least 2 trials for a variance, got {estimates.shape[0]}")
    flat = jnp.reshape(estimates, (estimates.shape[0], -1))
    mean = jnp.mean(flat, axis=0)
    variance = jnp.sum(jnp.var(flat, axis=0, ddof=1))
    bias = jnp.linalg.norm(mean - jnp.ravel(exact))
    return EstimatorSummary(float(bias), float(jnp.sqrt(variance / flat.shape[0])), float(variance),
                            float(bias**2 + variance))


def gae_advantage_moments(mdp, policy, critic, key, lams, num_episodes, horizon):
    """Mean and variance of sampled GAE advantages for each (s, a), one row per lambda in `lams`.

    Only steps t < horizon / 2 count, so the cut at the horizon (weight (gamma lambda)^(H/2)) is
    negligible. Returns (mean[L, S, A], variance[L, S, A], count[S, A]); unvisited pairs give nan.
    """
    check_positive_int("num_episodes", num_episodes)
    check_positive_int("horizon", horizon)
    return _gae_advantage_moments(mdp, policy, critic, key, checked_lambdas(lams), num_episodes, horizon)


@partial(jax.jit, static_argnums=(5, 6))
def _gae_advantage_moments(mdp, policy, critic, key, lams, num_episodes, horizon):
    num_states, num_actions = mdp.rewards.shape
    states, actions, rewards = sample_trajectories(mdp, policy, key, num_episodes, horizon)
    states, actions, rewards = states.T, actions.T, rewards.T
    done = jnp.zeros_like(rewards).at[-1].set(1.0)
    values = critic[states]
    next_values = jnp.concatenate([values[1:], jnp.zeros_like(values[:1])])
    keep = (jnp.arange(horizon) < horizon // 2)[:, None] * jnp.ones_like(rewards)
    pair = (states * num_actions + actions).ravel()

    def pair_sum(x):
        return jax.ops.segment_sum((keep * x).ravel(), pair, num_states * num_actions).reshape(num_states, num_actions)

    count = pair_sum(jnp.ones_like(rewards))

    def moments(lam):
        advantages = gae_advantages(rewards, values, next_values, done, done, mdp.gamma, lam)
        mean = pair_sum(advantages) / count
        return mean, pair_sum(advantages**2) / count - mean**2

    mean, variance = jax.vmap(moments)(lams)
    return mean, variance * count / (count - 1), count


# =============================================================== CartPole: networks and state

@dataclass(frozen=True)
class PolicyGradientConfig:
    """Hyperparameters of the CartPole runs. Defaults: the GAE actor-critic (Algorithm 24.3)."""
    estimator: str = "gae"                 # one of ESTIMATORS
    num_iterations: int = 150              # N: outer iterations, each collecting B episodes
    num_episodes: int = 16                 # B: episodes per iteration, run in parallel copies of the environment
    gamma: float = 0.99                    # discount, in [0, 1]
    lam: float = 0.95                      # GAE lambda (estimator "gae" only), in [0, 1]
    policy_learning_rate: float = 2e-3     # alpha_w, Adam step size of the policy, > 0
    value_learning_rate: float = 3e-3      # alpha_theta, Adam step size of the baseline / value function, > 0
    policy_hidden: tuple = (64, 64)        # hidden widths (tanh) of the policy d(a|s; w), each an int >= 1
    value_hidden: tuple = (64, 64)         # hidden widths (tanh) of the value v(s; theta), each an int >= 1
    num_minibatches: int = 4               # mini-batches per epoch (24.2, 24.3), in [1, num_episodes]
    value_epochs: int = 4                  # K: passes over the batch for the value function (24.2, 24.3)
    policy_epochs: int = 1                 # J: passes over the batch for the policy (24.2, 24.3)
    anneal_learning_rate: bool = True      # step sizes fall linearly to 0 over the run (the boxes keep them fixed)

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        for name in ("num_iterations", "num_episodes", "num_minibatches", "value_epochs", "policy_epochs"):
            check_positive_int(name, getattr(self, name))
        check_hidden_widths(self, "policy_hidden", "value_hidden")
        # A mini-batch is cut from the B episodes' whole 500-step windows, most of it after the episode
        # ended (masked): with more mini-batches than episodes, one holds less than a window's worth.
        check_range("num_minibatches", self.num_minibatches, 1, self.num_episodes)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("lam", self.lam, 0.0, 1.0)
        check_positive("policy_learning_rate", self.policy_learning_rate)
        check_positive("value_learning_rate", self.value_learning_rate)


ESTIMATORS = ("whole_return", "reward_to_go", "baseline", "value_minibatch", "gae", "td0")


class AgentState(NamedTuple):
    policy: list             # w: MLP observation -> action logits
    value: list              # theta: MLP observation -> v(s; theta) (unused by whole_return, reward_to_go)
    policy_opt_state: tuple
    value_opt_state: tuple


class PolicyGradientLog(NamedTuple):
    episode_returns: jax.Array   # [iterations]: mean undiscounted return of the episodes that ended in the iteration
                                 # (all B episodes collected: every iteration ends B)
    episode_lengths: jax.Array   # [iterations]: mean length of those episodes (steps actually used)
    learning_rate: jax.Array     # [iterations]: Adam's step size alpha_w in the iteration (annealed or fixed)
    diverged_at: jax.Array       # the first iteration after which a parameter was inf/NaN; -1 if none


def policy_logits(policy, observations):
    """Action logits of the policy network."""
    return policy_output(policy, observations)


def _optimizers(config):
    """The Adam of w and the Adam of theta, built here once; their step sizes sit in their states (annealable)."""
    return annealable_adam(config.policy_learning_rate), annealable_adam(config.value_learning_rate)


def _with_step_sizes(config, state, index):
    """Set alpha_w and alpha_theta for iteration `index` of the run (`lib.onpolicy.annealed_learning_rate`)."""
    def rate(learning_rate):
        return annealed_learning_rate(learning_rate, index, config.num_iterations, config.anneal_learning_rate)

    policy_opt_state = with_learning_rate(state.policy_opt_state, rate(config.policy_learning_rate))
    value_opt_state = with_learning_rate(state.value_opt_state, rate(config.value_learning_rate))
    return state._replace(policy_opt_state=policy_opt_state, value_opt_state=value_opt_state)


def init_agent(env, config, key):
    """Fresh networks (`lib.onpolicy.init_policy_and_value`) and Adam states."""
    policy, value = init_policy_and_value(key, env, config.policy_hidden, config.value_hidden)
    policy_opt, value_opt = _optimizers(config)
    return AgentState(policy, value, policy_opt.init(policy), value_opt.init(value))


def _policy_loss(policy, observations, actions, advantages, mask):
    """-mean over real steps of log d(a|s; w) A: its gradient is minus the score-function estimate."""
    log_probs = categorical_log_prob(policy_logits(policy, observations), actions)
    return -masked_mean(log_probs * advantages, mask)


def _value_loss(value, observations, targets, mask):
    return masked_mean((state_value(value, observations) - targets) ** 2, mask)


def _on_minibatch(loss):
    """`loss(params, *arrays)` as the `loss(params, minibatch) -> (loss, aux)` of `minibatch_epochs`."""
    return lambda params, minibatch: (loss(params, *minibatch), None)


def first_episode_mask(done):
    """mask[t, n] = 1 while copy n is still in its first episode (the step that ends it included)."""
    done = done.astype(jnp.float32)
    return (jnp.cumsum(done, axis=0) - done == 0).astype(jnp.float32)


def _flatten(*arrays):
    return tuple(x.reshape((-1,) + x.shape[2:]) for x in arrays)


# =============================================================== CartPole: the four boxes

def reinforce_update(config, state, rollout, mask):
    """REINFORCE without a baseline: psi_t = the whole return G(tau), or the return to go G_t.

    One gradient step on -(1/B) sum_episodes sum_t log d(a_t|s_t; w) psi_t.
    """
    returns = discounted_returns_to_go(rollout.rewards, rollout.done, config.gamma)
    if config.estimator == "whole_return":
        psi = jnp.broadcast_to(returns[0], returns.shape)   # G(tau) on every step of the episode
    else:
        psi = returns                                       # causality: only rewards from t on
    policy_opt, _ = _optimizers(config)

    def loss(w):
        log_probs = categorical_log_prob(policy_logits(w, rollout.observations), rollout.actions)
        return -jnp.sum(mask * log_probs * psi) / mask.shape[1]

    policy, opt_state = gradient_step(policy_opt, state.policy, state.policy_opt_state, jax.grad(loss)(state.policy))
    return state._replace(policy=policy, policy_opt_state=opt_state)


def baseline_update(config, state, rollout, mask):
    """Algorithm 24.1: policy gradient with a simple learned baseline b(s; theta).

    The box's steps, for the B episodes in `rollout` (time-major [T, B], `mask` marks real steps):
      2.2  R_t = sum_{k >= t} gamma^(k - t) r_k, the return to go (gamma = 1 is the book's sum);
      2.3  theta <- theta - alpha_theta grad_theta sum_t (R_t - b(s_t; theta))^2 (an Adam step);
      2.4  w <- w + alpha_w sum_t grad_w log d(a_t|s_t; w) (R_t - b(s_t; theta)), with the updated
           baseline; the box's per-step updates are summed into one step (the same expected move).
    """
    policy_opt, value_opt = _optimizers(config)
    returns = discounted_returns_to_go(rollout.rewards, rollout.done, config.gamma)             # 2.2
    value_grads = jax.grad(_value_loss)(state.value, rollout.observations, returns, mask)        # 2.3
    value, value_state = gradient_step(value_opt, state.value, state.value_opt_state, value_grads)
    advantages = returns - state_value(value, rollout.observations)                             # 2.4
    policy_grads = jax.grad(_policy_loss)(state.policy, rollout.observations, rollout.actions, advantages, mask)
    policy, policy_state = gradient_step(policy_opt, state.policy, state.policy_opt_state, policy_grads)
    return AgentState(policy, value, policy_state, value_state)


def _fit_value_then_policy(config, state, data, key):
    """The shared tail of 24.2 and 24.3: K epochs on the value targets, normalized advantages, J epochs on the policy.

    `data` = (observations, actions, advantages, value targets, mask) flattened over time and copies;
    the advantages are computed by the caller, before (24.3) or after (24.2, `advantages=None`) the value fit.
    """
    policy_opt, value_opt = _optimizers(config)
    key_value, key_policy = jax.random.split(key)
    observations, actions, advantages, targets, weights = data
    value, value_state, _ = minibatch_epochs(_on_minibatch(_value_loss), state.value, state.value_opt_state,
                                             value_opt, (observations, targets, weights), key_value,
                                             config.value_epochs, config.num_minibatches)
    if advantages is None:                                   # 24.2: A = R - v(s; theta) with the fitted v
        advantages = targets - state_value(value, observations)
    advantages = normalize(advantages, weights)
    policy, policy_state, _ = minibatch_epochs(_on_minibatch(_policy_loss), state.policy, state.policy_opt_state,
                                               policy_opt, (observations, actions, advantages, weights), key_policy,
                                               config.policy_epochs, config.num_minibatches)
    return AgentState(policy, value, policy_state, value_state)


def value_minibatch_update(config, state, rollout, mask, key):
    """Algorithm 24.2: policy gradient with a value-function control variate and mini-batches.

      2.2  D <- (s_t, a_t, R_t) for the B episodes, R_t the return to go;
      2.3  v_target(s) = R (every CartPole state is visited once, so the average over D_s is R);
      2.4  K epochs of mini-batch steps on L_v = mean (v(s; theta) - R)^2;
      2.5  A = R - v(s; theta) with the fitted value function;
      2.6  A <- (A - mu_A) / sigma_A over the batch;
      2.7  J epochs of mini-batch steps on L_pi = -mean log d(a|s; w) A.
    """
    returns = discounted_returns_to_go(rollout.rewards, rollout.done, config.gamma)             # 2.2
    observations, actions, returns, weights = _flatten(rollout.observations, rollout.actions, returns, mask)
    return _fit_value_then_policy(config, state, (observations, actions, None, returns, weights), key)  # 2.3-2.7


def gae_update(config, state, rollout, mask, key):
    """Algorithm 24.3: policy gradient with GAE and mini-batches (the GAE actor-critic).

      2.2.2  delta_t = r_t + gamma v(s_{t+1}; theta) - v(s_t; theta) (no bootstrap past a true terminal);
      2.2.3  A_t = delta_t + gamma lambda A_{t+1}, a reverse scan (`lib.onpolicy.gae_advantages`);
      2.2.4  D <- (s_t, a_t, A_t, v_old(s_t));
      2.3    K epochs of mini-batch steps on L_v = mean (v(s; theta) - (A + v_old))^2. The box prints
             the target as v_old, which would leave v where it is; A + v_old, the lambda-return, is the
             target the GAE paper and every implementation use;
      2.4    A <- (A - mu_A) / sigma_A;
      2.5    J epochs of mini-batch steps on L_pi = -mean log d(a|s; w) A.
    """
    values = state_value(state.value, rollout.observations)                                     # 2.2.2
    next_values = state_value(state.value, rollout.next_observations)
    advantages = gae_advantages(rollout.rewards, values, next_values, rollout.terminated,       # 2.2.3
                                rollout.done, config.gamma, config.lam)
    targets = advantages + values                                                               # 2.2.4
    data = _flatten(rollout.observations, rollout.actions, advantages, targets, mask)
    return _fit_value_then_policy(config, state, data, key)                                    # 2.3-2.5


def actor_critic_td0_step(config, state, env, key, env_states, observations, alive):
    """Algorithm 24.4: one online step of the actor-critic with TD(0), in B copies at once.

      2.2.1  a_t ~ d(.|s_t; w);   2.2.2  execute a_t, observe r_t, s_{t+1};
      2.2.3  delta_t = r_t + gamma v(s_{t+1}; theta) - v(s_t; theta) (v(s_{t+1}) = 0 at a true terminal);
      2.2.4  theta <- theta + alpha_theta delta_t grad_theta v(s_t; theta);
      2.2.5  w <- w + alpha_w delta_t grad_w log d(a_t|s_t; w), with delta_t from before 2.2.4.
    Averaged over the copies still in their episode (`alive`); Adam steps replace the plain ones.
    Returns (state, env_states, observations, rollout step, alive after this step).
    """
    policy_opt, value_opt = _optimizers(config)
    sample = _sampler(state.policy, env)
    env_states, next_obs, step, _ = collect_rollout(env, sample, key, env_states, observations, 1)  # 2.2.1-2
    step = jax.tree_util.tree_map(lambda x: x[0], step)
    bootstrap = (1.0 - step.terminated) * state_value(state.value, step.next_observations)
    deltas = step.rewards + config.gamma * bootstrap - state_value(state.value, step.observations)  # 2.2.3
    deltas = jax.lax.stop_gradient(deltas)

    def value_surrogate(theta):   # its gradient is -mean delta grad v
        return -masked_mean(deltas * state_value(theta, step.observations), alive)

    value, value_state = gradient_step(value_opt, state.value, state.value_opt_state,              # 2.2.4
                                       jax.grad(value_surrogate)(state.value))
    policy_grads = jax.grad(_policy_loss)(state.policy, step.observations, step.actions, deltas, alive)
    policy, policy_state = gradient_step(policy_opt, state.policy, state.policy_opt_state, policy_grads)  # 2.2.5
    # Once every copy's episode is over there is nothing to learn from: keep the state as it was
    # (an Adam step on a zero gradient would still move the parameters along its momentum).
    new_state = AgentState(policy, value, policy_state, value_state)
    any_alive = jnp.any(alive > 0)
    state = jax.tree_util.tree_map(lambda new, old: jnp.where(any_alive, new, old), new_state, state)
    return state, env_states, next_obs, step, alive * (1.0 - step.done)


# =============================================================== CartPole: the training loop

def _sampler(policy, env):
    def sample_action(observation, key):
        logits = policy_logits(policy, observation)
        action = jax.random.categorical(key, logits)
        return action, categorical_log_prob(logits, action)
    return sample_action


def collect_episodes(env, policy, key, num_episodes):
    """One complete episode in each of `num_episodes` fresh copies: (rollout [T, B], mask [T, B]).

    Runs env.max_episode_steps steps, so every first episode ends inside the window (terminated or
    truncated by the time limit); `mask` keeps those steps and drops the ones after a reset.
    """
    key_reset, key_collect = jax.random.split(key)
    env_states, observations = start_envs(env, key_reset, num_episodes)
    _, _, rollout, _ = collect_rollout(env, _sampler(policy, env), key_collect, env_states, observations,
                                       env.max_episode_steps)
    return rollout, first_episode_mask(rollout.done)


def _batch_update(config, state, rollout, mask, key, index):
    """The update rule of `config.estimator` (all but "td0") on a batch of complete episodes."""
    state = _with_step_sizes(config, state, index)
    if config.estimator in ("whole_return", "reward_to_go"):
        return reinforce_update(config, state, rollout, mask)
    if config.estimator == "baseline":
        return baseline_update(config, state, rollout, mask)
    if config.estimator == "value_minibatch":
        return value_minibatch_update(config, state, rollout, mask, key)
    return gae_update(config, state, rollout, mask, key)


def _td0_episodes(env, config, state, key, index):
    """B episodes in parallel copies with an Algorithm 24.4 update at every step."""
    state = _with_step_sizes(config, state, index)
    key_reset, key_steps = jax.random.split(key)
    env_states, observations = start_envs(env, key_reset, config.num_episodes)

    def online_step(carry, step_key):
        state, env_states, observations, alive = carry
        state, env_states, observations, step, next_alive = actor_critic_td0_step(
            config, state, env, step_key, env_states, observations, alive)
        return (state, env_states, observations, next_alive), (step.rewards, alive)

    alive = jnp.ones(config.num_episodes)
    (state, _, _, _), (rewards, mask) = jax.lax.scan(
        online_step, (state, env_states, observations, alive), jax.random.split(key_steps, env.max_episode_steps))
    return state, rewards, mask


def _checked_configs(env, configs):
    """`configs` as a non-empty tuple of PolicyGradientConfig that agree on the shapes one program needs."""
    if not env.discrete:
        raise ValueError(f"make_train needs a discrete-action environment, got {env.name}")
    configs = (configs,) if isinstance(configs, PolicyGradientConfig) else tuple(configs)
    if not configs or not all(isinstance(c, PolicyGradientConfig) for c in configs):
        raise ValueError("configs must be a PolicyGradientConfig or a non-empty sequence of them")
    shapes = {(c.num_iterations, c.num_episodes, c.policy_hidden, c.value_hidden) for c in configs}
    if len(shapes) != 1:
        raise ValueError("configs must agree on (num_iterations, num_episodes, policy_hidden, value_hidden), "
                         f"got {sorted(shapes)}")
    return configs


def make_train(env, configs):
    """A pure `train(key, which=0) -> (AgentState, PolicyGradientLog)`, the whole run one compiled lax.scan.

    `configs` is one PolicyGradientConfig or a sequence of them; `which` (an integer, may be traced)
    picks the config to run. A sequence compiles every estimator into ONE program (a lax.switch per
    iteration), so comparing estimators costs one compilation instead of one each; the configs must
    then agree on num_iterations, num_episodes and the widths. Every iteration collects one complete
    episode in each of B = num_episodes fresh copies of `env` (`collect_episodes`) and updates with
    the estimator's rule; for "td0" the update happens at every step of those episodes instead.
    `lib.sweep.sweep(train, num_seeds, settings=range(len(configs)))` runs every config for every seed;
    `make_train` is cached, so sweeping the same configs again reuses the compiled program.
    """
    return _make_train(env, _checked_configs(env, configs))


@functools.lru_cache(maxsize=16)
def _make_train(env, configs):
    first = configs[0]
    batch = [c for c in configs if c.estimator != "td0"]
    online = [c for c in configs if c.estimator == "td0"]
    # which -> position among the batch configs or among the online ones.
    position = jnp.array([(batch if c.estimator != "td0" else online).index(c) for c in configs])
    is_online = jnp.array([c.estimator == "td0" for c in configs])

    def batch_iteration(state, key, which, index):
        key_collect, key_update = jax.random.split(key)
        rollout, mask = collect_episodes(env, state.policy, key_collect, first.num_episodes)
        branches = [partial(_batch_update, c) for c in batch]
        state = jax.lax.switch(position[which], branches, state, rollout, mask, key_update, index)
        return state, rollout.rewards, mask

    def online_iteration(state, key, which, index):
        branches = [partial(_td0_episodes, env, c) for c in online]
        return jax.lax.switch(position[which], branches, state, key, index)

    def train(key, which=0):
        key_init, key_loop = jax.random.split(key)

        def iteration(state, key, index):
            if batch and online:
                state, rewards, mask = jax.lax.cond(is_online[which], online_iteration, batch_iteration,
                                                    state, key, which, index)
            else:
                state, rewards, mask = (online_iteration if online else batch_iteration)(state, key, which, index)
            returns = jnp.sum(mask * rewards, axis=0)
            rate = current_learning_rate(state.policy_opt_state)
            return state, (jnp.mean(returns), jnp.mean(jnp.sum(mask, axis=0)), rate)

        state, rows, diverged_at = run_iterations(iteration, init_agent(env, first, key_init), key_loop,
                                                  first.num_iterations)
        return state, PolicyGradientLog(*rows, diverged_at)

    return train
