"""Fitted Q-iteration with explicit and amortized maximization, against the discounted Riccati answer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from dataclasses import replace
from jax import enable_x64

from lib.problems import envs, lqr
from lib.algorithms import fqi

FEATURES = fqi.QuadraticFeatures(2, 1)
# -q is a quadratic in u with curvature 2 (R + gamma B^T P_n B) in [0.2, 0.29] on this LQR, so
# a step of 3 contracts the error by at most 0.4 per step; 60 steps reach 1e-24.
SGD = fqi.MaximizeConfig("sgd", num_ascent_steps=60, learning_rate=3.0)
EXPLICIT = jax.jit(fqi.fitted_q_iteration, static_argnames=("features", "config"))
AMORTIZED = jax.jit(fqi.amortized_fitted_q_iteration, static_argnames=("features", "config", "max_opt", "max_window"))
GREEDY = jax.jit(fqi.greedy_actions, static_argnames=("features", "config"))
N = 300  # every run below shares this config (tolerance 0: all N iterations), so it compiles once


@pytest.fixture(scope="module")
def problem():
    with enable_x64(True):
        system = lqr.double_integrator(dt=0.1, gamma=0.95, control_cost=0.1)
        base = lqr.lqr_base_points(system, jax.random.PRNGKey(0), 100)
        yield system, lqr.solve_riccati(system), base


def config(gamma, **changes):
    return fqi.FQIConfig(
        **{
            "gamma": gamma,
            "max_iterations": N,
            "tolerance": 0.0,
            "ridge": 0.0,
            "policy_ridge": 0.0,
            "maximize": SGD,
            **changes,
        }
    )


def test_quadratic_features_represent_q_star_exactly(problem):
    system, solution, base = problem

    @jax.jit
    def compare(system, solution, base):
        H, c = lqr.optimal_q_matrix(system, solution)  # q* = -(z^T H z + c)
        rows, cols = jnp.triu_indices(3)
        theta = -jnp.concatenate([c[None], jnp.where(rows == cols, H[rows, cols], 2 * H[rows, cols])])
        phi = jax.vmap(FEATURES.joint)(base.observation, base.action)
        exact = jax.vmap(lambda x, u: lqr.optimal_q(system, solution, x, u))(base.observation, base.action)
        return H, fqi.quadratic_q_matrix(FEATURES, theta)[0], phi @ theta, exact, fqi.greedy_gain(FEATURES, theta)

    with enable_x64(True):
        H, H_back, values, exact, gain = compare(system, solution, base)
        np.testing.assert_allclose(H_back, H, rtol=1e-12)
        np.testing.assert_allclose(values, exact, rtol=1e-10)
        np.testing.assert_allclose(gain, solution.K, rtol=1e-10)


@pytest.mark.parametrize("method", ["sgd", "adam", "grid"])
def test_maximize_finds_the_argmax_of_a_concave_quadratic(method):
    settings = {
        "sgd": dict(num_ascent_steps=60, learning_rate=0.4),
        "adam": dict(num_ascent_steps=400, learning_rate=0.05),
        "grid": dict(grid_size=401),
    }[method]
    maximize_config = fqi.MaximizeConfig(method, -2.0, 2.0, **settings)
    centers = jnp.array([[-1.3, 0.4], [0.25, -0.7], [3.0, 1.0]])  # the last one lies outside the box

    def best(center):
        return fqi.maximize(
            lambda a: -jnp.sum((a - center) ** 2 * jnp.array([1.0, 2.0])), jnp.zeros(2), maximize_config
        )

    found = jax.vmap(best)(centers)
    tolerance = {"sgd": 1e-6, "adam": 2e-3, "grid": 0.5 * 4.0 / 400}[method]
    np.testing.assert_allclose(found, jnp.clip(centers, -2.0, 2.0), atol=tolerance)


def test_explicit_fqi_converges_to_q_star_and_the_riccati_gain(problem):
    system, solution, base = problem
    with enable_x64(True):
        result = EXPLICIT(base, FEATURES, config(system.gamma))
        H, c = fqi.quadratic_q_matrix(FEATURES, result.theta)
        H_star, c_star = lqr.optimal_q_matrix(system, solution)
        np.testing.assert_allclose(H, H_star, rtol=1e-8, atol=1e-8)
        assert abs(float(c - c_star)) < 1e-8
        np.testing.assert_allclose(fqi.greedy_gain(FEATURES, result.theta), solution.K, rtol=1e-8)
        actions = GREEDY(FEATURES, result.theta, base.next_observation, SGD)
        np.testing.assert_allclose(actions, -base.next_observation @ solution.K.T, atol=1e-8)


def test_explicit_fqi_is_value_iteration_on_the_riccati_map(problem):
    # With exact features and theta_0 = 0, q_n = r + gamma max q_{n-1} exactly, so the value matrix
    # P_n of max_u q_n follows the Riccati recursion from P_0 = 0: one iteration of FQI is one riccati_step.
    system, _, base = problem
    with enable_x64(True):
        result = EXPLICIT(base, FEATURES, config(system.gamma))
        P = jnp.zeros((2, 2))
        for n in range(1, 7):
            P = lqr.riccati_step(system, P)
            H, _ = fqi.quadratic_q_matrix(FEATURES, result.thetas[n])
            K = fqi.greedy_gain(FEATURES, result.thetas[n])
            value = H[:2, :2] - H[:2, 2:] @ K  # max_u -z^T H z = -x^T (H_xx - H_xu H_uu^-1 H_ux) x
            np.testing.assert_allclose(value, P, rtol=1e-9, atol=1e-12)


def test_grid_reference_and_gradient_ascent_give_the_same_fixed_point(problem):
    system, solution, base = problem
    with enable_x64(True):
        grid = fqi.MaximizeConfig("grid", -8.0, 8.0, grid_size=16001)  # spacing 1e-3
        result = EXPLICIT(base, FEATURES, config(system.gamma, max_iterations=200, tolerance=1e-14, maximize=grid))
        # a grid maximizer within h/2 of the argmax costs at most curvature * (h/2)^2 ~ 1e-7 in q
        np.testing.assert_allclose(fqi.greedy_gain(FEATURES, result.theta), solution.K, rtol=2e-3)


def test_stops_when_delta_falls_below_tolerance_or_after_n_iterations(problem):
    system, _, base = problem
    with enable_x64(True):
        tolerance = 1e-6
        result = EXPLICIT(base, FEATURES, config(system.gamma, tolerance=tolerance))
        n = int(result.iterations)
        assert result.deltas[n - 1] < tolerance <= result.deltas[n - 2]
        assert np.all(np.isnan(result.deltas[n:]))
        assert int(result.solver_calls) == n * base.reward.shape[0]
        capped = EXPLICIT(base, FEATURES, config(system.gamma))
        assert int(capped.iterations) == N and int(capped.solver_calls) == N * base.reward.shape[0]


def test_amortized_with_b_opt_equal_to_b_matches_explicit(problem):
    system, _, base = problem
    with enable_x64(True):
        cfg = config(system.gamma)
        explicit = EXPLICIT(base, FEATURES, cfg)
        size = base.reward.shape[0]
        amortized = AMORTIZED(base, FEATURES, cfg, size, 0, max_opt=size)
        np.testing.assert_allclose(amortized.thetas, explicit.thetas, rtol=1e-12, atol=1e-12)
        assert int(amortized.solver_calls) == int(explicit.solver_calls) == N * size


def test_amortized_with_two_solved_points_reaches_the_riccati_gain(problem):
    # The maximizer -K x is linear in x and d(x; w) = w^T x is linear: two generic states pin w down.
    system, solution, base = problem
    with enable_x64(True):
        result = AMORTIZED(base, FEATURES, config(system.gamma), 2, 0, max_opt=base.reward.shape[0])
        assert int(result.solver_calls) == 2 * N
        np.testing.assert_allclose(result.w.T, -solution.K, rtol=1e-7)
        np.testing.assert_allclose(fqi.greedy_gain(FEATURES, result.theta), solution.K, rtol=1e-7)


def test_traced_num_opt_counts_calls_and_equals_the_static_subset(problem):
    system, _, base = problem
    with enable_x64(True):
        cfg = config(system.gamma)
        static = AMORTIZED(base, FEATURES, cfg, 5, 3, max_opt=5)
        masked = AMORTIZED(base, FEATURES, cfg, jnp.array(5), jnp.array(3), max_opt=base.reward.shape[0])
        np.testing.assert_allclose(masked.thetas, static.thetas, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(masked.ws, static.ws, rtol=1e-10, atol=1e-10)
        assert int(masked.solver_calls) == int(static.solver_calls) == N * 5


def test_empty_b_opt_keeps_w0_and_evaluates_the_zero_force_policy(problem):
    """With B_opt empty the box has no policy data: w stays 0, delta_d is 0 (not 0/0), and the loop is
    policy evaluation of u = 0. Its value matrices are S_n = Q + gamma A^T S_{n-1} A from S_0 = 0, that is
    S_n = P0 - gamma^n (A^n)^T P0 A^n with P0 the discrete Lyapunov solution (scipy, another route)."""
    system, _, base = problem
    with enable_x64(True):
        result = AMORTIZED(base, FEATURES, config(system.gamma), 0, 0, max_opt=0, max_window=0)
        A, B, Q, R, gamma = (np.asarray(m) for m in (system.A, system.B, system.Q, system.R, system.gamma))
        P0 = scipy.linalg.solve_discrete_lyapunov(np.sqrt(gamma) * A.T, Q)
        A_power = np.linalg.matrix_power(A, N - 1)
        S = P0 - gamma ** (N - 1) * A_power.T @ P0 @ A_power
        AB = np.concatenate([A, B], axis=1)
        expected = scipy.linalg.block_diag(Q, R) + gamma * AB.T @ S @ AB
        np.testing.assert_allclose(fqi.quadratic_q_matrix(FEATURES, result.theta)[0], expected, rtol=1e-8)
        assert not np.any(np.asarray(result.ws)) and int(result.solver_calls) == 0
        assert np.all(np.asarray(result.deltas_d) == 0.0)


def test_ascent_policy_step_is_gradient_ascent_on_the_new_critic(problem):
    """q = -z^T H z with u = w^T x gives grad_w mean_x q = -mean_x 2 x (H_ux x + H_uu w^T x)^T, here with
    H of theta_1 (the new critic) and two steps from w_0 = 0."""
    system, _, base = problem
    with enable_x64(True):
        cfg = config(
            system.gamma, max_iterations=1, policy_update="ascent", policy_learning_rate=0.7, num_policy_steps=2
        )
        result = AMORTIZED(base, FEATURES, cfg, 0, 0, max_opt=0, max_window=0)
        H = np.asarray(fqi.quadratic_q_matrix(FEATURES, result.thetas[1])[0])
        x = np.asarray(base.next_observation)
        w = np.zeros((2, 1))
        for _ in range(2):
            w = w - 0.7 * np.mean([2 * np.outer(s, H[2:, :2] @ s + H[2:, 2:] @ w.T @ s) for s in x], axis=0)
        np.testing.assert_allclose(result.ws[1], w, rtol=1e-10)


def test_ascent_without_solver_reaches_the_riccati_gain_and_a_large_step_diverges(problem):
    system, solution, base = problem
    with enable_x64(True):
        cfg = config(system.gamma, policy_update="ascent")
        run = jax.jit(
            jax.vmap(
                lambda eta: fqi.amortized_fitted_q_iteration(
                    base, FEATURES, replace(cfg, policy_learning_rate=eta), 0, 0, max_opt=0, max_window=0
                )
            )
        )
        result = run(jnp.array([5.0, 20.0]))
        assert np.asarray(result.solver_calls).tolist() == [0, 0]
        assert int(result.diverged_at[0]) == -1 and int(result.diverged_at[1]) >= 0
        np.testing.assert_allclose(result.w[0].T, -solution.K, rtol=1e-7)
        np.testing.assert_allclose(fqi.greedy_gain(FEATURES, result.theta[0]), solution.K, rtol=1e-7)
        concrete = AMORTIZED(base, FEATURES, replace(cfg, policy_learning_rate=5.0), 0, 0, max_opt=0, max_window=0)
        np.testing.assert_allclose(concrete.thetas, result.thetas[0], rtol=1e-10, atol=1e-10)


def test_window_mask_keeps_iterations_max0_n_minus_k_to_n():
    stamps = jnp.arange(7)  # slots written at iterations 0..6
    assert np.flatnonzero(fqi.window_mask(stamps, 6, 2)).tolist() == [4, 5, 6]
    assert np.flatnonzero(fqi.window_mask(jnp.array([0, 1, -4, -4]), 1, 3)).tolist() == [0, 1]
    assert np.flatnonzero(fqi.window_mask(stamps, 6, 0)).tolist() == [6]


@pytest.mark.parametrize("window", [0, 2])
def test_policy_is_fit_to_the_maximizers_of_iterations_n_minus_k_to_n(problem, window):
    system, _, base = problem
    with enable_x64(True):
        num_opt, n = 4, 9
        result = AMORTIZED(base, FEATURES, config(system.gamma), num_opt, window, max_opt=base.reward.shape[0])
        states = base.next_observation[:num_opt]
        recent = [GREEDY(FEATURES, result.thetas[j], states, SGD) for j in range(n - window, n + 1)]
        data_states = jnp.concatenate([states] * (window + 1))
        w, *_ = jnp.linalg.lstsq(data_states, jnp.concatenate(recent))
        np.testing.assert_allclose(result.ws[n + 1], w, rtol=1e-8, atol=1e-10)


def test_pendulum_features_value_equals_joint_features_dot_theta():
    features = fqi.PendulumFeatures(5, 4, 3)
    theta = jax.random.normal(jax.random.PRNGKey(3), (features.size,))
    psi = features.state(jnp.array([0.3, -2.0]))
    assert abs(float(jnp.sum(psi)) - 1.0) < 1e-6
    for a in (-2.0, 0.5, 1.7):
        action = jnp.array([a])
        np.testing.assert_allclose(features.value(theta, psi, action), features.joint(psi, action) @ theta, rtol=1e-5)


def test_pendulum_base_points_follow_the_environment():
    base = fqi.pendulum_base_points(jax.random.PRNGKey(4), 16)
    env = envs.make("Pendulum-v1")
    for i in range(3):
        state, _, reward, _, _ = env.step(envs.state_from_physics(base.observation[i]), base.action[i])
        assert abs(float(reward - base.reward[i])) < 1e-6
        assert abs(float(envs.angle_normalize(state.physics[0]) - base.next_observation[i, 0])) < 1e-5
        assert abs(float(state.physics[1] - base.next_observation[i, 1])) < 1e-6
    obs = jnp.array([np.cos(2.5), np.sin(2.5), -1.0])
    np.testing.assert_allclose(fqi.pendulum_state(obs), [2.5, -1.0], rtol=1e-6)


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: fqi.MaximizeConfig(method="newton"), "method"),
        (lambda: fqi.MaximizeConfig("grid"), "finite"),
        (lambda: fqi.MaximizeConfig(low=1.0, high=-1.0), "low"),
        (lambda: fqi.MaximizeConfig(num_ascent_steps=0), "num_ascent_steps"),
        (lambda: fqi.MaximizeConfig(learning_rate=-1.0), "learning_rate"),
        (lambda: fqi.FQIConfig(gamma=1.0), "gamma"),
        (lambda: fqi.FQIConfig(max_iterations=0), "max_iterations"),
        (lambda: fqi.FQIConfig(tolerance=-1.0), "tolerance"),
        (lambda: fqi.FQIConfig(ridge=-1.0), "ridge"),
        (lambda: fqi.FQIConfig(policy_ridge=-1.0), "policy_ridge"),
        (lambda: fqi.FQIConfig(policy_update="newton"), "policy_update"),
        (lambda: fqi.FQIConfig(policy_learning_rate=-0.1), "policy_learning_rate"),
        (lambda: fqi.FQIConfig(num_policy_steps=0), "num_policy_steps"),
        (lambda: fqi.PendulumFeatures(num_angle=1), "num_angle"),
    ],
)
def test_bad_configs_are_rejected_naming_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_bad_subset_and_window_are_rejected(problem):
    system, _, base = problem
    cfg = config(system.gamma, max_iterations=2)
    with pytest.raises(ValueError, match="max_opt"):
        fqi.amortized_fitted_q_iteration(base, FEATURES, cfg, 5, 1, max_opt=101)
    with pytest.raises(ValueError, match="num_opt"):
        fqi.amortized_fitted_q_iteration(base, FEATURES, cfg, 6, 1, max_opt=5)
    with pytest.raises(ValueError, match="num_opt"):
        fqi.amortized_fitted_q_iteration(base, FEATURES, cfg, -1, 1, max_opt=5)
    with pytest.raises(ValueError, match="window"):
        fqi.amortized_fitted_q_iteration(base, FEATURES, cfg, 5, 11, max_window=10)
    with pytest.raises(ValueError, match="action"):
        fqi.fitted_q_iteration(base, fqi.QuadraticFeatures(2, 2), cfg)


def test_a_diverging_loop_says_so_and_names_the_iteration(problem):
    """A gradient-ascent step of 100 on a curvature of about 0.5 overshoots further each step, so the
    maximizers and then theta leave the floats within a few iterations: called with concrete values the
    loops raise; under jit they return diverged_at for lib.core.divergence.raise_if_diverged."""
    system, _, base = problem
    wild = fqi.FQIConfig(
        gamma=system.gamma,
        max_iterations=5,
        tolerance=0.0,
        maximize=fqi.MaximizeConfig("sgd", num_ascent_steps=60, learning_rate=100.0),
    )
    with pytest.raises(RuntimeError, match=r"fitted Q-iteration diverged.*at step \d+"):
        fqi.fitted_q_iteration(base, FEATURES, wild)
    with pytest.raises(RuntimeError, match=r"amortized fitted Q-iteration diverged.*at step \d+"):
        fqi.amortized_fitted_q_iteration(base, FEATURES, wild, 10, 1)
    assert int(EXPLICIT(base, FEATURES, wild).diverged_at) >= 0
    assert int(EXPLICIT(base, FEATURES, config(system.gamma)).diverged_at) == -1


# ----------------------------------------------------------------------------- the loops as trainers
def test_a_trainer_draws_its_base_points_from_its_key_and_runs_the_box_on_them():
    system, config = lqr.double_integrator(), fqi.FQIConfig(gamma=0.95, max_iterations=20, maximize=SGD)
    key = jax.random.PRNGKey(4)
    theta, result = jax.jit(fqi.make_fqi_train(system, config, FEATURES, 50))(key)
    alone = EXPLICIT(lqr.lqr_base_points(system, key, 50), FEATURES, config)
    np.testing.assert_array_equal(result.thetas, alone.thetas)
    np.testing.assert_array_equal(theta, alone.theta)


def test_the_amortized_trainer_swept_over_draws_gives_each_draw_its_own_base_points():
    from lib.core.sweep import seed_keys, sweep

    pendulum, features = envs.make("Pendulum-v1"), fqi.PendulumFeatures(num_angle=3, num_velocity=3, action_degree=2)
    adam = fqi.MaximizeConfig("adam", low=-2.0, high=2.0, num_ascent_steps=5, learning_rate=0.2)
    config = fqi.FQIConfig(gamma=0.9, max_iterations=5, ridge=1e-3, policy_ridge=1e-6, maximize=adam)
    (thetas, ws), log = sweep(fqi.make_amortized_fqi_train(pendulum, config, features, 40, 10), num_seeds=2, seed=3)
    on_draw = jax.jit(
        lambda key: fqi.amortized_fitted_q_iteration(
            fqi.pendulum_base_points(key, 40), features, config, 10, 0, max_window=0
        )
    )
    for draw, key in enumerate(seed_keys(3, 2)):
        alone = on_draw(key)
        np.testing.assert_allclose(thetas[draw], alone.theta, rtol=1e-6)
        np.testing.assert_allclose(ws[draw], alone.w, rtol=1e-6)
    assert not np.allclose(thetas[0], thetas[1]), "both draws got the same base points"


def test_a_trainer_on_an_environment_without_base_points_is_refused_by_name():
    with pytest.raises(ValueError, match="env: fitted Q-iteration draws its base points"):
        fqi.base_points(envs.make("CartPole-v1"), jax.random.PRNGKey(0), 10)


def test_delta_d_is_the_mean_squared_gap_between_the_windows_maximizers_and_the_new_policy(problem):
    # delta_d of iteration n compares D_d (the maximizers of iterations n-K .. n) with d(s'; w_{n+1}),
    # the policy just fit to them: recomputed here from the stored w_{n+1} and the greedy actions.
    system, _, base = problem
    with enable_x64(True):
        num_opt, window = 4, 2
        result = AMORTIZED(base, FEATURES, config(system.gamma), num_opt, window, max_opt=base.reward.shape[0])
        states = base.next_observation[:num_opt]
        for n in (3, 9):
            recent = jnp.stack([GREEDY(FEATURES, result.thetas[j], states, SGD) for j in range(n - window, n + 1)])
            policy = jnp.clip(states @ result.ws[n + 1], SGD.low, SGD.high)
            expected = jnp.mean(jnp.sum((recent - policy[None]) ** 2, axis=-1))
            assert expected > 1e-8  # the window holds maximizers of different critics: the gap is not 0
            np.testing.assert_allclose(result.deltas_d[n], expected, rtol=1e-8)


def test_q_errors_is_the_root_mean_square_gap_to_the_reference_at_each_iteration():
    theta = jnp.arange(1.0, 8.0)  # FEATURES' 7 weights: 1 and the 6 products z_i z_j, z = (x, u)
    states, actions = jnp.array([[1.0, 0.0], [0.5, -1.0]]), jnp.array([[0.0], [2.0]])
    exact = jax.vmap(lambda x, u: FEATURES.joint(x, u) @ theta)(states, actions)
    errors = fqi.q_errors(FEATURES, jnp.stack([theta, theta]), states, actions, exact + jnp.array([3.0, -4.0]))
    np.testing.assert_allclose(errors, [np.sqrt((9.0 + 16.0) / 2)] * 2, rtol=1e-6)  # not the mean |gap| 3.5
