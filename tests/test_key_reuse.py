"""No trainer draws twice from one PRNG key: each runs a short training under JAX's key-reuse checker.

The checker (`jax.debug_key_reuse`) works on typed keys (`jax.random.key`) and raises KeyReuseError
at trace time when a key is consumed twice, e.g. by a mini-batch draw and by the update that follows.
"""

import jax
import pytest

from lib.algorithms import deterministic as det
from lib.problems import envs
from lib.algorithms import soft, svg
from lib.algorithms import policy_gradient as pg
from lib.algorithms import trust_region as tr
from lib.problems.lqr import double_integrator
from lib.loops.offpolicy import OffPolicyConfig, make_off_policy_train

PENDULUM, CARTPOLE = envs.make("Pendulum-v1"), envs.make("CartPole-v1")
LOOP = OffPolicyConfig(
    total_steps=200, warmup_steps=100, batch_size=16, buffer_capacity=200, eval_every=100, eval_episodes=1
)
SMALL = dict(total_steps=1024, num_envs=4, rollout_length=32, policy_hidden=(8,), value_hidden=(8,))

TRAINERS = {
    "ddpg": lambda: make_off_policy_train(
        PENDULUM, det.make_ddpg_agent(PENDULUM, det.DDPGConfig(policy_hidden=(8,), q_hidden=(8,))), LOOP
    ),
    "td3": lambda: make_off_policy_train(
        PENDULUM, det.make_td3_agent(PENDULUM, det.TD3Config(policy_hidden=(8,), q_hidden=(8,))), LOOP
    ),
    "sac box": lambda: make_off_policy_train(
        PENDULUM,
        soft.make_sac_agent(PENDULUM, soft.SACConfig(policy_hidden=(8,), q_hidden=(8,), value_hidden=(8,))),
        LOOP,
    ),
    "sac tanh": lambda: make_off_policy_train(
        PENDULUM, soft.make_sac_tanh_agent(PENDULUM, soft.SACConfig(policy_hidden=(8,), q_hidden=(8,))), LOOP
    ),
    "ppo": lambda: tr.make_train(CARTPOLE, tr.PolicyOptimizationConfig(**SMALL)),
    "trpo": lambda: tr.make_train(CARTPOLE, tr.PolicyOptimizationConfig(algorithm="trpo", **SMALL)),
    "npg": lambda: tr.make_train(CARTPOLE, tr.PolicyOptimizationConfig(algorithm="npg", **SMALL)),
    "ppo gaussian": lambda: tr.make_train(PENDULUM, tr.PolicyOptimizationConfig(**SMALL)),
    "policy gradient": lambda: pg.make_train(CARTPOLE, [pg.PolicyGradientConfig(num_iterations=2)]),
    "svg": lambda: svg.make_svg_train(
        PENDULUM, svg.SVGConfig(num_iterations=4, checkpoint_every=2, horizon=5, depths=(0, 1, None))
    ),
}


@pytest.mark.parametrize("name", TRAINERS)
def test_trainer_uses_no_key_twice(name):
    with jax.debug_key_reuse(True):
        jax.block_until_ready(jax.jit(TRAINERS[name]())(jax.random.key(0)))


def test_nfqca_uses_no_key_twice():
    with jax.debug_key_reuse(True):
        config = det.NFQCAConfig(num_iterations=2, num_fit_steps=3, num_policy_steps=3)
        jax.block_until_ready(det.make_nfqca_train(double_integrator(), config)(jax.random.key(0)))


def test_the_checker_catches_a_reused_key():
    """The test above can fail: a key consumed twice raises."""

    def twice(key):
        return jax.random.normal(key) + jax.random.uniform(key)

    with jax.debug_key_reuse(True), pytest.raises(Exception, match="consumed"):
        jax.jit(twice)(jax.random.key(0))
