"""What both SAC variants share: `SACConfig`, the network sizes and optimizers it defines, the policy
head (mu, log sigma), the soft value target and the policy loss."""

from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Tuple

import jax.numpy as jnp
import optax

from lib.core.config import check_positive, check_range
from lib.parts.nets import check_hidden_widths, mlp_apply, twin_q_apply
from lib.algorithms.soft.smooth_bellman import check_temperature


# ------------------------------------------------------------------------------------- SAC


@dataclass(frozen=True)
class SACConfig:
    """Hyperparameters of both SAC variants (the defaults solve Pendulum-v1 in about 10k steps).

    Fields marked [22.1] are used only by `sac_update`, [tanh] only by `sac_tanh_update`.
    """

    policy_hidden: Tuple[int, ...] = (64, 64)  # hidden widths of the policy network, positive ints (or a list)
    q_hidden: Tuple[int, ...] = (64, 64)  # hidden widths of each twin Q-network
    value_hidden: Tuple[int, ...] = (64, 64)  # hidden widths of the value network [22.1]
    gamma: float = 0.99  # discount, in [0, 1)
    tau: float = 0.005  # soft target-update rate, in (0, 1]
    q_learning_rate: float = 1e-3  # alpha_q, > 0
    policy_learning_rate: float = 1e-3  # alpha_pi, > 0
    value_learning_rate: float = 1e-3  # alpha_v, > 0 [22.1]
    temperature: float = 0.2  # alpha (fixed, [22.1]) or its initial value ([tanh]), > 0
    learn_temperature: bool = True  # [tanh] tune alpha toward target_entropy; False keeps it fixed
    temperature_learning_rate: float = 1e-3  # [tanh] step size on log alpha, > 0
    target_entropy: Optional[float] = None  # [tanh] entropy target in nats; None means -(action dimension)
    log_std_min: float = -5.0  # the policy's log sigma is squashed into [log_std_min, log_std_max]
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
    return SACNetworks(
        (obs, *config.policy_hidden, 2 * act), (obs + act, *config.q_hidden, 1), (obs, *config.value_hidden, 1)
    )


class SACOptimizers(NamedTuple):
    policy: Any  # Adam at alpha_pi, for phi
    q: Any  # Adam at alpha_q, for both twins at once
    value: Any  # Adam at alpha_v, for psi [22.1]
    temperature: Any  # Adam on log alpha [tanh]


def sac_optimizers(config):
    """The optimizers of a SACConfig: the one definition that init and update both use."""
    return SACOptimizers(
        optax.adam(config.policy_learning_rate),
        optax.adam(config.q_learning_rate),
        optax.adam(config.value_learning_rate),
        optax.adam(config.temperature_learning_rate),
    )


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
