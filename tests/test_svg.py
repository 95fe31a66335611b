"""Chapter 25 estimators against the LQR's exact answers.

For a linear policy u = -K x + sigma eps on the LQR, started from x_0 ~ N(m0, S0), every
objective below has a closed form in the Gaussian state moments (`lib.problems.lqr.n_step_objective`,
`lib.problems.lqr.policy_expected_return`); jax.grad of it in float64 is the exact gradient. Monte Carlo
estimators must match it within Z standard errors of their sample mean at a fixed seed.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.problems import lqr as lqr_lib
from lib.problems import envs
from lib.algorithms import svg
from lib.core.sweep import sweep

Z = 4.0  # tolerance in standard errors
M = 4000  # Monte Carlo samples per estimator
GAMMA = 0.95
START_MEAN, START_COV = np.array([1.0, 0.0]), 0.25 * np.eye(2)


@functools.lru_cache(maxsize=None)
def make_problem(dtype=jnp.float32, noise_std=0.1):
    lqr = lqr_lib.double_integrator(dt=0.1, gamma=GAMMA, control_cost=0.1, noise_std=noise_std)
    lqr = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), lqr)
    params = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, dtype), svg.linear_gaussian_policy_params([[1.0, 1.5]], 0.3)
    )
    return lqr, params, lqr_lib.policy_q_matrix(lqr, params)


def exact_gradient(objective):
    """jax.grad of a closed-form objective(lqr, params, critic_params, m0, S0) in float64."""
    with jax.enable_x64(True):
        lqr, params, critic = make_problem(jnp.float64)
        return jax.tree_util.tree_map(
            np.asarray,
            jax.grad(lambda p: objective(lqr, p, critic, jnp.asarray(START_MEAN), jnp.asarray(START_COV)))(params),
        )


def start_states(key, count):
    return (
        jnp.asarray(START_MEAN, jnp.float32)
        + jax.random.normal(key, (count, 2)) @ jnp.linalg.cholesky(jnp.asarray(START_COV, jnp.float32)).T
    )


def assert_unbiased(per_sample, exact, leaves=("gain", "log_std")):
    for leaf in leaves:
        samples = np.asarray(per_sample[leaf], np.float64).reshape(M, -1)
        mean, se = samples.mean(0), samples.std(0, ddof=1) / np.sqrt(M)
        target = np.asarray(exact[leaf]).ravel()
        assert np.all(np.abs(mean - target) <= Z * se + 1e-6), (leaf, mean, target, se)


@pytest.fixture(scope="module")
def dpmb_gradients():
    """Per-sample DPMB-R and DPMB-SF gradients on the same M start states and noise."""
    lqr, params, critic = make_problem()
    key_s, key_xi = jax.random.split(jax.random.key(0))
    batch = (start_states(key_s, M), jax.random.normal(key_xi, (M, 2)))
    kwargs = dict(
        policy=svg.linear_gaussian_policy,
        model=svg.lqr_model(lqr),
        critic=svg.quadratic_critic,
        critic_params=critic,
        gamma=GAMMA,
    )
    return {
        name: svg.per_sample_gradients(functools.partial(f, **kwargs), params, *batch)
        for name, f in (
            ("reparameterized", svg.dpmb_reparameterized_objective),
            ("score_function", svg.dpmb_score_function_surrogate),
        )
    }


@pytest.mark.parametrize("name", ["reparameterized", "score_function"])
def test_deterministic_model_based_estimators_are_unbiased_for_the_one_step_objective(dpmb_gradients, name):
    exact = exact_gradient(lambda l, p, c, m, S: lqr_lib.n_step_objective(l, p, 1, m, S, c, stochastic=False))
    assert_unbiased(dpmb_gradients[name], exact, leaves=("gain",))
    assert np.all(np.asarray(dpmb_gradients[name]["log_std"]) == 0.0)  # a deterministic policy ignores sigma


def test_score_function_estimator_has_larger_variance_than_reparameterized(dpmb_gradients):
    variance = {name: np.var(np.asarray(g["gain"]), 0).sum() for name, g in dpmb_gradients.items()}
    assert variance["score_function"] > 10 * variance["reparameterized"]


def test_svg_n_estimator_is_unbiased_for_its_n_step_objective_at_every_depth():
    lqr, params, critic = make_problem()
    N = 4
    keys = jax.random.split(jax.random.key(2), 3)
    s0, eps, xi = (
        start_states(keys[0], M),
        jax.random.normal(keys[1], (M, N + 1, 1)),
        jax.random.normal(keys[2], (M, N, 2)),
    )
    model = svg.lqr_model(lqr)
    by_depth = svg.gradients_by_depth(
        params,
        s0,
        eps,
        xi,
        policy=svg.linear_gaussian_policy,
        model=model,
        max_depth=N,
        gamma=GAMMA,
        critic=svg.quadratic_critic,
        critic_params=critic,
    )
    # gradients_by_depth at depth N is jax.grad of svg_objective at n = N, sample by sample
    objective = functools.partial(
        svg.svg_objective,
        policy=svg.linear_gaussian_policy,
        model=model,
        n=N,
        gamma=GAMMA,
        critic=svg.quadratic_critic,
        critic_params=critic,
    )
    direct = svg.per_sample_gradients(objective, params, s0[:64], eps[:64], xi[:64])
    for leaf in ("gain", "log_std"):
        np.testing.assert_allclose(by_depth[leaf][N, :64], direct[leaf], rtol=1e-4, atol=1e-4)
    with jax.enable_x64(True):
        lqr64, params64, critic64 = make_problem(jnp.float64)
        exact = jax.jacfwd(
            lambda p: lqr_lib.objectives_by_depth(
                lqr64, p, N, jnp.asarray(START_MEAN), jnp.asarray(START_COV), critic64
            )
        )(params64)
    for n in range(N + 1):
        assert_unbiased(
            jax.tree_util.tree_map(lambda g: g[n], by_depth), jax.tree_util.tree_map(lambda g: np.asarray(g[n]), exact)
        )


def test_svg_infinity_objective_is_unbiased_for_the_truncated_return():
    lqr, params, _ = make_problem()
    T = 20
    keys = jax.random.split(jax.random.key(7), 3)
    objective = functools.partial(
        svg.svg_infinity_objective, policy=svg.linear_gaussian_policy, model=svg.lqr_model(lqr), gamma=GAMMA
    )
    grads = svg.per_sample_gradients(
        objective,
        params,
        start_states(keys[0], M),
        jax.random.normal(keys[1], (M, T + 1, 1)),
        jax.random.normal(keys[2], (M, T + 1, 2)),
    )
    exact = exact_gradient(lambda l, p, c, m, S: lqr_lib.n_step_objective(l, p, T + 1, m, S))
    assert_unbiased(grads, exact)


@pytest.mark.parametrize("n", [0, 7])
@pytest.mark.parametrize("with_critic", [False, True])
def test_bpo_gradient_equals_grad_of_closed_form_n_step_cost(n, with_critic):
    with jax.enable_x64(True):
        lqr, params, critic = make_problem(jnp.float64, noise_std=0.0)
        critic_kwargs = dict(critic=svg.quadratic_critic, critic_params=critic) if with_critic else {}
        x0 = jnp.array([1.0, -0.5])
        bpo = jax.grad(
            lambda p: svg.bpo_objective(
                p, x0, policy=svg.linear_gaussian_policy, model=svg.lqr_model(lqr), n=n, gamma=GAMMA, **critic_kwargs
            )
        )(params)
        exact = jax.grad(
            lambda p: lqr_lib.n_step_objective(
                lqr, p, n, x0, jnp.zeros((2, 2)), critic if with_critic else None, stochastic=False
            )
        )(params)
        np.testing.assert_allclose(bpo["gain"], exact["gain"], rtol=1e-10, atol=1e-12)


def test_n_step_objective_with_the_policys_own_critic_equals_its_infinite_horizon_value():
    with jax.enable_x64(True):
        lqr, params, critic = make_problem(jnp.float64)
        m0, S0 = jnp.asarray(START_MEAN), jnp.asarray(START_COV)
        value = lqr_lib.policy_expected_return(lqr, params, m0, S0)
        for n in (0, 1, 5, 30):
            assert float(lqr_lib.n_step_objective(lqr, params, n, m0, S0, critic)) == pytest.approx(
                float(value), rel=1e-10
            )
        # with no critic the n-step return tends to the value as n grows
        assert float(lqr_lib.n_step_objective(lqr, params, 600, m0, S0)) == pytest.approx(float(value), rel=1e-8)


def test_optimal_gain_is_a_stationary_point_of_the_exact_return():
    with jax.enable_x64(True):
        lqr, _, _ = make_problem(jnp.float64)
        params = {"gain": lqr_lib.solve_riccati(lqr).K, "log_std": jnp.log(jnp.array([0.3]))}
        gradient = jax.grad(lqr_lib.policy_expected_return, argnums=1)(
            lqr, params, jnp.asarray(START_MEAN), jnp.asarray(START_COV)
        )
        np.testing.assert_allclose(gradient["gain"], 0.0, atol=1e-7)


def test_svg0_is_svg_at_depth_zero():
    lqr, params, critic = make_problem()
    x, e = jnp.array([0.3, -1.0]), jnp.array([[0.7]])
    zero = svg.svg_objective(
        params,
        x,
        e,
        jnp.zeros((0, 2)),
        policy=svg.linear_gaussian_policy,
        model=svg.lqr_model(lqr),
        n=0,
        gamma=GAMMA,
        critic=svg.quadratic_critic,
        critic_params=critic,
    )
    svg0 = svg.svg0_objective(
        params, x, e[0], policy=svg.linear_gaussian_policy, critic=svg.quadratic_critic, critic_params=critic
    )
    assert float(zero) == pytest.approx(float(svg0), rel=1e-6)


@pytest.mark.parametrize("which", ["lqr", "pendulum"])
def test_noise_inference_inverts_forward_sampling(which):
    keys = jax.random.split(jax.random.key(4), 4)
    if which == "lqr":
        lqr, params, _ = make_problem(noise_std=0.2)
        model, policy = svg.lqr_model(lqr), svg.linear_gaussian_policy
        s = start_states(keys[0], 64)
    else:
        model, policy = svg.pendulum_model(noise_std=0.05), svg.pendulum_policy
        params = svg.pendulum_policy_init(keys[3], svg.SVGConfig(policy_hidden=(8,), initial_action_std=0.4))
        s = jax.vmap(svg.pendulum_initial_state)(jax.random.split(keys[0], 64))
    eps, xi = jax.random.normal(keys[1], (64, 1)), jax.random.normal(keys[2], (64, 2))
    forward = jax.jit(jax.vmap(lambda s, e, x: svg.sample_transition(params, s, e, x, policy=policy, model=model)))
    a, s_next = forward(s, eps, xi)
    infer = jax.jit(jax.vmap(lambda s, a, s2: svg.infer_noise(params, s, a, s2, policy=policy, model=model)))
    eps_hat, xi_hat = infer(s, a, s_next)
    np.testing.assert_allclose(eps_hat, eps, atol=1e-4)
    np.testing.assert_allclose(xi_hat, xi, atol=2e-3 if which == "pendulum" else 1e-4)
    a_again, s_next_again = forward(s, eps_hat, xi_hat)
    np.testing.assert_allclose(a_again, a, atol=1e-6)
    np.testing.assert_allclose(s_next_again, s_next, atol=1e-6)


def test_noise_inference_rejects_zero_dynamics_noise():
    lqr, params, _ = make_problem(noise_std=0.0)
    with pytest.raises(ValueError, match="Sigma"):
        svg.infer_noise(
            params, jnp.ones(2), jnp.ones(1), jnp.ones(2), policy=svg.linear_gaussian_policy, model=svg.lqr_model(lqr)
        )


@pytest.mark.parametrize("bad", [-1, 1.5, 2.0, True, "3", None])
def test_unroll_depth_must_be_a_non_negative_integer(bad):
    lqr, params, critic = make_problem()
    with pytest.raises(ValueError, match=r"n \(the unroll depth\) must be a non-negative integer"):
        svg.svg_objective(
            params,
            jnp.ones(2),
            jnp.zeros((3, 1)),
            jnp.zeros((3, 2)),
            policy=svg.linear_gaussian_policy,
            model=svg.lqr_model(lqr),
            n=bad,
            gamma=GAMMA,
        )
    with pytest.raises(ValueError, match=r"n \(the unroll depth\)"):
        svg.bpo_objective(
            params, jnp.ones(2), policy=svg.linear_gaussian_policy, model=svg.lqr_model(lqr), n=bad, gamma=GAMMA
        )


def test_unroll_depth_accepts_numpy_integers_and_rejects_short_noise():
    assert svg.check_unroll_depth(np.int64(3)) == 3
    lqr, params, _ = make_problem()
    with pytest.raises(ValueError, match="eps must have at least 4 rows"):
        svg.svg_objective(
            params,
            jnp.ones(2),
            jnp.zeros((2, 1)),
            jnp.zeros((3, 2)),
            policy=svg.linear_gaussian_policy,
            model=svg.lqr_model(lqr),
            n=3,
            gamma=GAMMA,
        )


@pytest.mark.parametrize(
    "field, value",
    [
        ("horizon", 0),
        ("gamma", 1.5),
        ("tau", 0.0),
        ("policy_learning_rate", -1.0),
        ("checkpoint_every", 7),
        ("max_grad_norm", 0.0),
        ("num_q_steps", 2.0),
        ("q_learning_rate", float("inf")),
        ("q_hidden", (64.0, 64)),
        ("policy_hidden", ()),
        ("initial_action_std", 0.0),
    ],
)
def test_svg_config_rejects_out_of_range_values(field, value):
    with pytest.raises(ValueError, match=field):
        svg.SVGConfig(**{field: value})


def test_svg_config_stores_a_list_of_widths_as_a_tuple():
    assert svg.SVGConfig(q_hidden=[32, 16], policy_hidden=[8]).q_hidden == (32, 16)


def lqr_start(key):
    return jnp.asarray(START_MEAN, jnp.float32) + 0.5 * jax.random.normal(key, (2,))


def svg_infinity_on_lqr(lqr, params, config):
    """Algorithm 25.1 on the LQR from `params`, with a linear Gaussian policy, at a fixed key."""
    return jax.jit(
        lambda key: svg.svg_infinity(
            key,
            params,
            policy=svg.linear_gaussian_policy,
            model=svg.lqr_model(lqr),
            initial_state=lqr_start,
            config=config,
        )
    )(jax.random.key(5))


def test_svg_infinity_on_the_lqr_raises_the_exact_return():
    lqr, params, _ = make_problem()
    config = svg.SVGConfig(horizon=20, batch_size=16, num_iterations=40, policy_learning_rate=0.05, checkpoint_every=20)
    final, log = svg_infinity_on_lqr(lqr, params, config)
    value = lambda p: float(lqr_lib.policy_expected_return(lqr, p, jnp.asarray(START_MEAN), 0.25 * jnp.eye(2)))
    optimum = lqr_lib.solve_riccati(lqr).K
    assert value(final) > value(params) + 1.0
    assert np.linalg.norm(final["gain"] - optimum) < np.linalg.norm(params["gain"] - optimum)
    assert jax.tree_util.tree_leaves(log.checkpoints)[0].shape[0] == 2
    assert int(log.diverged_at) == -1


def test_svg_infinity_records_the_iteration_where_it_diverged():
    """A step of 1e3 on the gain makes the closed loop explode within the 20-step rollout: J becomes
    inf within a few iterations, and diverged_at names the first one (it stays -1 at a sane step)."""
    lqr, params, _ = make_problem()
    config = svg.SVGConfig(horizon=20, batch_size=4, num_iterations=10, policy_learning_rate=1e3, checkpoint_every=10)
    _, log = svg_infinity_on_lqr(lqr, params, config)
    first = int(log.diverged_at)
    assert 0 <= first < 10
    assert np.all(np.isfinite(log.objective[:first])) and not np.isfinite(log.objective[first])


def test_pendulum_svg_training_that_diverges_raises_naming_the_iteration():
    config = svg.SVGConfig(
        horizon=5,
        batch_size=2,
        num_iterations=4,
        checkpoint_every=2,
        num_q_steps=2,
        q_hidden=(8,),
        q_learning_rate=1e30,
    )
    with pytest.raises(RuntimeError, match=r"SVG training on Pendulum diverged.*at step \d"):
        sweep(
            {"SVG training on Pendulum": svg.make_svg_train(envs.PENDULUM, dataclasses.replace(config, depths=(1,)))},
            num_seeds=1,
        )


def test_svg_infinity_objective_discounts_the_reward_of_step_t_by_gamma_to_the_t():
    """Three steps by hand with the model's own step and reward: r_0 + gamma r_1 + gamma^2 r_2 (r_0 undiscounted)."""
    lqr, params, _ = make_problem()
    model = svg.lqr_model(lqr)
    s0 = jnp.array([1.0, -0.5])
    eps, xi = jnp.array([[0.3], [-1.0], [0.5]]), jnp.array([[0.2, -0.1], [0.4, 0.0], [0.0, 0.0]])
    s, expected = s0, 0.0
    for t in range(3):
        a = -params["gain"] @ s + jnp.exp(params["log_std"]) * eps[t]
        expected += GAMMA**t * float(model.reward(s, a))
        s = model.step(s, a, xi[t])
    value = svg.svg_infinity_objective(params, s0, eps, xi, policy=svg.linear_gaussian_policy, model=model, gamma=GAMMA)
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_dpmb_score_function_gradient_at_the_origin_is_the_critics_own_gradient_by_hand():
    """At s = 0 the first action d(0) = -K 0 = 0 does not depend on K: r(0, 0) and the score of s' have no
    gradient, and DPMB-SF's gradient is gamma d/dK q(s', -K s') = 2 gamma (H z')_u s'^T, z' = (s', -K s')."""
    lqr, params, critic = make_problem()
    model = svg.lqr_model(lqr)
    xi = jnp.array([0.7, -1.2])
    surrogate = functools.partial(
        svg.dpmb_score_function_surrogate,
        policy=svg.linear_gaussian_policy,
        model=model,
        critic=svg.quadratic_critic,
        critic_params=critic,
        gamma=GAMMA,
    )
    gradient = jax.grad(surrogate)(params, jnp.zeros(2), xi)
    H = np.asarray(critic[0], np.float64)
    s_next = np.asarray(model.noise_scale, np.float64) @ np.asarray(xi, np.float64)  # A 0 + B 0 + Sigma xi
    z_next = np.concatenate([s_next, -np.asarray(params["gain"], np.float64) @ s_next])
    expected = 2.0 * GAMMA * (H @ z_next)[2:, None] * s_next[None, :]
    assert np.max(np.abs(expected)) > 1e-3  # the critic's own gradient is not negligible here
    np.testing.assert_allclose(gradient["gain"], expected, rtol=1e-4, atol=1e-7)
