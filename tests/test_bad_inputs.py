"""Bad input gets a clear error that names the parameter, at the Python boundary, never a NaN or a hang.

One row per case: (what is called, the error type, a word the message must contain). The valid edge
values at the end keep working.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.algorithms import deterministic as det
from lib.problems import envs
from lib.problems import mdp as mdps
from lib.parts import distributions, nets, replay
from lib.loops import onpolicy
from lib.algorithms import soft, svg
from lib.algorithms import policy_gradient as pg
from lib.algorithms import trust_region as tr
from lib.parts.evaluation import episode_returns
from lib.problems.lqr import double_integrator
from lib.loops.offpolicy import OffPolicyConfig
from lib.core.sweep import sweep

CARTPOLE, PENDULUM = envs.make("CartPole-v1"), envs.make("Pendulum-v1")
CART_STATE = CARTPOLE.reset(jax.random.key(0))[0]
PENDULUM_STATE = PENDULUM.reset(jax.random.key(0))[0]
GOOD = mdps.random_mdp(jax.random.key(0), 3, 2, gamma=0.9)
BAD_ROWS = GOOD.transitions.at[0, 0].set(jnp.array([0.5, 0.4, 0.0]))

CASES = {
    "step count given as a float": (lambda: OffPolicyConfig(total_steps=2e4, eval_every=1e3), "total_steps"),
    "integral float of a width": (lambda: det.TD3Config(policy_hidden=(64.0, 64.0)), "policy_hidden"),
    "infinite learning rate": (lambda: det.DDPGConfig(policy_learning_rate=float("inf")), "policy_learning_rate"),
    "NaN initial log std": (lambda: tr.PolicyOptimizationConfig(initial_log_std=float("nan")), "initial_log_std"),
    "infinite kl bound": (lambda: tr.PolicyOptimizationConfig(kl_bound=float("inf")), "kl_bound"),
    "infinite exploration noise": (lambda: det.TD3Config(explore_noise=float("inf")), "explore_noise"),
    "infinite SAC learning rate": (lambda: soft.SACConfig(q_learning_rate=float("inf")), "q_learning_rate"),
    "MDP with gamma = 1": (lambda: GOOD._replace(gamma=1.0), "gamma"),
    "MDP with gamma = 1.2": (lambda: mdps.FiniteMDP(GOOD.transitions, GOOD.rewards, GOOD.initial, 1.2), "gamma"),
    "gamma that float32 rounds to 1": (lambda: mdps.random_mdp(jax.random.key(0), 3, 2, gamma=1 - 1e-9), "gamma"),
    "transition row not a distribution": (lambda: GOOD._replace(transitions=BAD_ROWS), "transitions"),
    "negative transition probability": (
        lambda: GOOD._replace(transitions=GOOD.transitions.at[0, 0].set(jnp.array([1.5, -0.5, 0.0]))),
        "transitions",
    ),
    "initial distribution not summing to 1": (lambda: GOOD._replace(initial=jnp.array([0.5, 0.1, 0.1])), "initial"),
    "non-finite reward": (lambda: GOOD._replace(rewards=GOOD.rewards.at[0, 0].set(jnp.nan)), "rewards"),
    "rewards of the wrong shape": (lambda: GOOD._replace(rewards=jnp.zeros((3, 3))), "rewards"),
    "CartPole action 2 of 2": (lambda: CARTPOLE.step(CART_STATE, jnp.array(2)), "action"),
    "CartPole action -1": (lambda: CARTPOLE.step(CART_STATE, jnp.array(-1)), "action"),
    "CartPole action 0.7": (lambda: CARTPOLE.step(CART_STATE, jnp.array(0.7)), "action"),
    "CartPole float action under jit": (lambda: jax.jit(CARTPOLE.step)(CART_STATE, jnp.array(1.0)), "action"),
    "scalar Pendulum torque": (lambda: PENDULUM.step(PENDULUM_STATE, jnp.array(0.5)), "shape"),
    "Pendulum torque of two entries": (lambda: jax.jit(PENDULUM.step)(PENDULUM_STATE, jnp.zeros(2)), "shape"),
    "discount 1.5 for episode returns": (
        lambda: episode_returns(PENDULUM, lambda o: jnp.zeros(1), jax.random.key(0), 2, discount=1.5),
        "discount",
    ),
    "negative episode count": (
        lambda: episode_returns(PENDULUM, lambda o: jnp.zeros(1), jax.random.key(0), -1),
        "num_episodes",
    ),
    "gamma 1.5 for returns to go": (lambda: onpolicy.discounted_returns_to_go(jnp.ones(3), jnp.zeros(3), 1.5), "gamma"),
    "lambda 1.5 for GAE": (lambda: onpolicy.gae_advantages(*(jnp.ones(3),) * 5, 0.9, 1.5), "lam"),
    "zero mini-batches": (lambda: onpolicy.shuffled_minibatches(jax.random.key(0), jnp.ones(20), 0), "num_minibatches"),
    "more mini-batches than samples": (
        lambda: onpolicy.shuffled_minibatches(jax.random.key(0), jnp.ones(20), 21),
        "num_minibatches",
    ),
    "negative MLP width": (lambda: nets.mlp_init(jax.random.key(0), [3, -4, 1]), "sizes"),
    "categorical action 5 of 2": (lambda: distributions.categorical_log_prob(jnp.zeros(2), jnp.array(5)), "action"),
    "categorical action -1": (lambda: distributions.categorical_log_prob(jnp.zeros(2), jnp.array(-1)), "action"),
    "hard-update period 0": (
        lambda: nets.periodic_hard_update({"w": jnp.zeros(2)}, {"w": jnp.ones(2)}, 3, 0),
        "period",
    ),
    "hard-update period -2": (
        lambda: nets.periodic_hard_update({"w": jnp.zeros(2)}, {"w": jnp.ones(2)}, 3, -2),
        "period",
    ),
    "sampling an empty replay buffer": (
        lambda: replay.replay_sample(replay.replay_init(4, jnp.zeros(2)), jax.random.key(0), 8),
        "buffer",
    ),
    "swapped action bounds": (
        lambda: distributions.tanh_gaussian_sample(jax.random.key(0), jnp.zeros(1), jnp.zeros(1), 2.0, -2.0),
        "low < high",
    ),
    "TD3 width given as a float": (lambda: det.TD3Config(q_hidden=[64, 32.0]), "q_hidden"),
    "SAC width of zero": (lambda: soft.SACConfig(value_hidden=(0,)), "value_hidden"),
    "GAE moments with lambda 1.5": (
        lambda: pg.gae_advantage_moments(GOOD, jnp.full((3, 2), 0.5), jnp.zeros(3), jax.random.key(0), [1.5], 2, 4),
        "lams",
    ),
    "more policy-gradient mini-batches than episodes": (
        lambda: pg.PolicyGradientConfig(num_minibatches=5000),
        "num_minibatches",
    ),
    "a policy-gradient sweep over -2 seeds": (
        lambda: sweep(pg.make_train(CARTPOLE, pg.PolicyGradientConfig(num_iterations=1)), -2),
        "num_seeds",
    ),
    "a policy-gradient sweep over 0 seeds": (
        lambda: sweep(pg.make_train(CARTPOLE, pg.PolicyGradientConfig(num_iterations=1)), 0),
        "num_seeds",
    ),
    "policy width given as a float": (lambda: pg.PolicyGradientConfig(policy_hidden=(64.0, 64.0)), "policy_hidden"),
    "trust-region value width of zero": (lambda: tr.PolicyOptimizationConfig(value_hidden=(0,)), "value_hidden"),
    "conjugate gradient on an indefinite matrix": (
        lambda: tr.conjugate_gradient(lambda v: jnp.diag(jnp.array([1.0, -1.0])) @ v, jnp.ones(2)),
        "matvec",
    ),
    "variance of one trial": (lambda: pg.summarize_estimates(jnp.ones((1, 3)), jnp.zeros(3)), "estimates"),
    "SVG(inf) objective with gamma 1.5": (
        lambda: svg.svg_infinity_objective(
            svg.linear_gaussian_policy_params([[1.0, 1.0]], 0.3),
            jnp.ones(2),
            jnp.zeros((3, 1)),
            jnp.zeros((3, 2)),
            policy=svg.linear_gaussian_policy,
            model=svg.lqr_model(double_integrator()),
            gamma=1.5,
        ),
        "gamma",
    ),
    "SVG critic width given as a float": (lambda: svg.SVGConfig(q_hidden=(64.0, 64.0)), "q_hidden"),
    "SVG infinite policy learning rate": (
        lambda: svg.SVGConfig(policy_learning_rate=float("inf")),
        "policy_learning_rate",
    ),
    "SVG sweep over zero seeds": (lambda: sweep(svg.make_svg_train(envs.PENDULUM), 0), "num_seeds"),
    "SVG without an unroll depth": (lambda: svg.SVGConfig(depths=()), "depths"),
    "SVG with a negative unroll depth": (lambda: svg.SVGConfig(depths=(-1,)), "n"),
    "SVG with negative model noise": (lambda: svg.SVGConfig(model_noise_std=-0.1), "model_noise_std"),
    "SVG on an environment without a model": (lambda: svg.make_svg_train(envs.CARTPOLE), "env"),
    "NFQCA whose discount is not the LQR's": (
        lambda: det.make_nfqca_train(double_integrator(gamma=0.9), det.NFQCAConfig(gamma=0.95)),
        "gamma",
    ),
    "NFQCA on an empty batch": (lambda: det.make_nfqca_train(double_integrator(), num_samples=0), "num_samples"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_a_value_error_naming_the_parameter(case):
    call, name = CASES[case]
    with pytest.raises(ValueError, match=name):
        call()


def test_valid_edge_values_keep_working():
    edge = GOOD._replace(gamma=0.0)
    np.testing.assert_allclose(mdps.evaluate_policy(edge, jnp.full((3, 2), 0.5)), GOOD.rewards.mean(1), rtol=1e-6)
    OffPolicyConfig(total_steps=2, warmup_steps=0, eval_every=1, batch_size=1, buffer_capacity=1, eval_episodes=1)
    OffPolicyConfig(total_steps=np.int64(2000))  # NumPy integers are integers


def test_a_validated_mdp_still_passes_through_jit_and_vmap():
    values = jax.jit(mdps.evaluate_policy)(GOOD, jnp.full((3, 2), 0.5))
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), GOOD, GOOD._replace(gamma=0.5))
    both = jax.vmap(mdps.evaluate_policy, in_axes=(0, None))(stacked, jnp.full((3, 2), 0.5))
    np.testing.assert_allclose(both[0], values, rtol=1e-6)


def test_on_policy_edge_values_keep_working():
    for lam in (0.0, 1.0):
        mean, _, _ = pg.gae_advantage_moments(GOOD, jnp.full((3, 2), 0.5), jnp.zeros(3), jax.random.key(0), lam, 4, 8)
        assert mean.shape == (1, 3, 2)
    pg.PolicyGradientConfig(lam=0.0, gamma=1.0, num_episodes=4, num_minibatches=4)
    _, log = sweep(
        pg.make_train(
            CARTPOLE,
            pg.PolicyGradientConfig(
                num_iterations=1, num_episodes=2, num_minibatches=2, policy_hidden=(4,), value_hidden=(4,)
            ),
        ),
        1,
    )
    assert log.episode_returns.shape == (1, 1)
