"""CartPole, networks and state: the config, the agent's policy and value networks with their optimizers,
the losses and the mask that keeps each environment's first episode."""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.core.config import check_positive, check_positive_int, check_range
from lib.parts.nets import check_hidden_widths
from lib.loops.onpolicy import (
    annealable_adam,
    annealed_learning_rate,
    init_policy_and_value,
    masked_mean,
    policy_output,
    state_value,
    with_learning_rate,
)
from lib.parts.distributions import categorical_log_prob


# =============================================================== CartPole: networks and state


@dataclass(frozen=True)
class PolicyGradientConfig:
    """Hyperparameters of the CartPole runs. Defaults: the GAE actor-critic (Algorithm 24.3)."""

    estimator: str = "gae"  # one of ESTIMATORS
    num_iterations: int = 150  # N: outer iterations, each collecting B episodes
    num_episodes: int = 16  # B: episodes per iteration, run in parallel copies of the environment
    gamma: float = 0.99  # discount, in [0, 1]
    lam: float = 0.95  # GAE lambda (estimator "gae" only), in [0, 1]
    policy_learning_rate: float = 2e-3  # alpha_w, Adam step size of the policy, > 0
    value_learning_rate: float = 3e-3  # alpha_theta, Adam step size of the baseline / value function, > 0
    policy_hidden: tuple = (64, 64)  # hidden widths (tanh) of the policy d(a|s; w), each an int >= 1
    value_hidden: tuple = (64, 64)  # hidden widths (tanh) of the value v(s; theta), each an int >= 1
    num_minibatches: int = 4  # mini-batches per epoch (24.2, 24.3), in [1, num_episodes]
    value_epochs: int = 4  # K: passes over the batch for the value function (24.2, 24.3)
    policy_epochs: int = 1  # J: passes over the batch for the policy (24.2, 24.3)
    anneal_learning_rate: bool = True  # step sizes fall linearly to 0 over the run (the boxes keep them fixed)

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
    policy: list  # w: MLP observation -> action logits
    value: list  # theta: MLP observation -> v(s; theta) (unused by whole_return, reward_to_go)
    policy_opt_state: tuple
    value_opt_state: tuple


class PolicyGradientLog(NamedTuple):
    episode_returns: jax.Array  # [iterations]: mean undiscounted return of the episodes that ended in the iteration
    # (all B episodes collected: every iteration ends B)
    episode_lengths: jax.Array  # [iterations]: mean length of those episodes (steps actually used)
    learning_rate: jax.Array  # [iterations]: Adam's step size alpha_w in the iteration (annealed or fixed)
    diverged_at: jax.Array  # the first iteration after which a parameter was inf/NaN; -1 if none


def _optimizers(config):
    """The Adam of w and the Adam of theta, built here once; their step sizes sit in their states (annealable)."""
    return annealable_adam(config.policy_learning_rate), annealable_adam(config.value_learning_rate)


def _with_step_sizes(config, state, index):
    """Set alpha_w and alpha_theta for iteration `index` of the run (`lib.loops.onpolicy.annealed_learning_rate`)."""

    def rate(learning_rate):
        return annealed_learning_rate(learning_rate, index, config.num_iterations, config.anneal_learning_rate)

    policy_opt_state = with_learning_rate(state.policy_opt_state, rate(config.policy_learning_rate))
    value_opt_state = with_learning_rate(state.value_opt_state, rate(config.value_learning_rate))
    return state._replace(policy_opt_state=policy_opt_state, value_opt_state=value_opt_state)


def init_agent(key, env, config):
    """Fresh networks (`lib.loops.onpolicy.init_policy_and_value`) and Adam states."""
    policy, value = init_policy_and_value(key, env, config.policy_hidden, config.value_hidden)
    policy_opt, value_opt = _optimizers(config)
    return AgentState(policy, value, policy_opt.init(policy), value_opt.init(value))


def _policy_loss(policy, observations, actions, advantages, mask):
    """-mean over real steps of log d(a|s; w) A: its gradient is minus the score-function estimate."""
    log_probs = categorical_log_prob(policy_output(policy, observations), actions)
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


def _sampler(policy, env):
    def sample_action(observation, key):
        logits = policy_output(policy, observation)
        action = jax.random.categorical(key, logits)
        return action, categorical_log_prob(logits, action)

    return sample_action
