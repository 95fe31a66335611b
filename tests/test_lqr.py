"""The discounted Riccati solution against scipy, the Bellman equation and simulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax import enable_x64

from lib.problems import lqr


@pytest.fixture(scope="module")
def system():
    with enable_x64(True):
        problem = lqr.double_integrator(dt=0.1, gamma=0.95, control_cost=0.1, noise_std=0.05)
        yield problem, lqr.solve_riccati(problem)


def test_riccati_matches_scipy_discrete_are(system):
    problem, solution = system
    with enable_x64(True):
        # The discounted problem is the undiscounted one with sqrt(gamma) A and sqrt(gamma) B.
        root = np.sqrt(problem.gamma)
        expected = scipy.linalg.solve_discrete_are(
            root * np.asarray(problem.A), root * np.asarray(problem.B), np.asarray(problem.Q), np.asarray(problem.R)
        )
        np.testing.assert_allclose(solution.P, expected, rtol=1e-8)


def test_optimal_q_satisfies_bellman_optimality(system):
    problem, solution = system
    with enable_x64(True):
        states = jax.random.normal(jax.random.PRNGKey(0), (5, 2))
        actions = jax.random.normal(jax.random.PRNGKey(1), (5, 1))
        for x, u in zip(states, actions):
            next_mean = problem.A @ x + problem.B @ u
            # max_u' q*(x', u') = q*(x', -K x') is quadratic in x', so averaging it over the noise
            # w ~ N(0, Sigma) shifts its value at the mean by -tr(P Sigma).
            best_next = lqr.optimal_q(problem, solution, next_mean, -solution.K @ next_mean)
            target = lqr.reward(problem, x, u) + problem.gamma * (best_next - jnp.trace(solution.P @ problem.noise_cov))
            np.testing.assert_allclose(lqr.optimal_q(problem, solution, x, u), target, rtol=1e-9)


def test_optimal_action_maximizes_q(system):
    problem, solution = system
    with enable_x64(True):
        x = jnp.array([1.0, -0.5])
        grid = jnp.linspace(-20, 20, 40001)[:, None]
        q_values = jax.vmap(lambda u: lqr.optimal_q(problem, solution, x, u))(grid)
        assert abs(grid[jnp.argmax(q_values), 0] - (-solution.K @ x)[0]) <= 1e-3
        np.testing.assert_allclose(jnp.max(q_values), lqr.optimal_value(problem, solution, x), rtol=1e-6)


def test_the_q_matrices_share_v_stars_sign_convention(system):
    """-(z^T H z + c) is q* for optimal_q_matrix, and for policy_q_matrix at the Riccati gain with sigma -> 0;
    both H are positive definite, as P is."""
    problem, solution = system
    with enable_x64(True):
        H, c = lqr.optimal_q_matrix(problem, solution)
        params = {"gain": solution.K, "log_std": jnp.full((1,), -30.0)}
        H_policy, c_policy = lqr.policy_q_matrix(problem, params)
        for x, u in zip(
            jax.random.normal(jax.random.PRNGKey(3), (5, 2)), jax.random.normal(jax.random.PRNGKey(4), (5, 1))
        ):
            z = jnp.concatenate([x, u])
            np.testing.assert_allclose(-(z @ H @ z + c), lqr.optimal_q(problem, solution, x, u), rtol=1e-10)
        np.testing.assert_allclose(H_policy, H, rtol=1e-8)
        np.testing.assert_allclose(c_policy, c, rtol=1e-8)
        assert np.all(np.linalg.eigvalsh(np.asarray(H)) > 0)


def test_the_policy_q_matrix_satisfies_the_policys_bellman_equation(system):
    """q_K(x, u) = r(x, u) + gamma E[q_K(x', -K x' + sigma eps)] for a noisy non-optimal policy: the mean of a
    quadratic over the dynamics noise w and the action noise eps is the quadratic at the mean plus traces."""
    problem, _ = system
    with enable_x64(True):
        K, sigma = jnp.array([[1.0, 1.5]]), 0.3
        H, c = lqr.policy_q_matrix(problem, {"gain": K, "log_std": jnp.log(jnp.array([sigma]))})
        lift = jnp.concatenate([jnp.eye(2), -K])  # z' = lift x' + (0, sigma eps)
        q = lambda z: -(z @ H @ z + c)
        for x, u in zip(
            jax.random.normal(jax.random.PRNGKey(5), (5, 2)), jax.random.normal(jax.random.PRNGKey(6), (5, 1))
        ):
            mean_next = problem.A @ x + problem.B @ u
            noise = jnp.trace(lift.T @ H @ lift @ problem.noise_cov) + sigma**2 * H[2, 2]
            target = lqr.reward(problem, x, u) + problem.gamma * (q(lift @ mean_next) - noise)
            np.testing.assert_allclose(q(jnp.concatenate([x, u])), target, rtol=1e-9)


def test_no_gain_beats_the_riccati_gain(system):
    problem, solution = system
    with enable_x64(True):
        best = jnp.trace(lqr.linear_policy_cost_matrix(problem, solution.K))
        np.testing.assert_allclose(lqr.linear_policy_cost_matrix(problem, solution.K), solution.P, rtol=1e-8)
        for delta in jax.random.normal(jax.random.PRNGKey(2), (20, 1, 2)) * 0.3:
            assert jnp.trace(lqr.linear_policy_cost_matrix(problem, solution.K + delta)) > best


def test_value_matches_monte_carlo_discounted_return(system):
    problem, solution = system
    with enable_x64(True):
        x0 = jnp.array([1.0, 0.0])
        horizon = 600  # 0.95^600 ~ 4e-14

        def episode(key):
            def step(x, step_key):
                u = -solution.K @ x
                return lqr.lqr_step(problem, x, u, step_key), lqr.reward(problem, x, u)

            _, rewards = jax.lax.scan(step, x0, jax.random.split(key, horizon))
            return rewards @ problem.gamma ** jnp.arange(horizon)

        returns = jax.vmap(episode)(jax.random.split(jax.random.PRNGKey(3), 4000))
        standard_error = jnp.std(returns) / jnp.sqrt(returns.shape[0])
        assert abs(jnp.mean(returns) - lqr.optimal_value(problem, solution, x0)) < 4 * standard_error


def test_make_lqr_rejects_mismatched_shapes_and_bad_discount():
    with pytest.raises(ValueError, match="Q"):
        lqr.make_lqr(jnp.eye(2), jnp.ones((2, 1)), jnp.eye(3), jnp.eye(1), 0.9)
    with pytest.raises(ValueError, match="gamma"):
        lqr.make_lqr(jnp.eye(2), jnp.ones((2, 1)), jnp.eye(2), jnp.eye(1), 1.0)


def test_an_unstable_gain_has_infinite_cost_not_a_finite_lyapunov_solution():
    """K = [[-10, -10]] and [[100, 30]] destabilize the double integrator: no finite return exists."""
    system = lqr.double_integrator()
    optimum = lqr.solve_riccati(system)
    for gain in ([[-10.0, -10.0]], [[100.0, 30.0]]):
        gain = jnp.array(gain)
        assert float(lqr.closed_loop_radius(system, gain)) >= 1.0
        assert np.all(np.isinf(np.asarray(lqr.linear_policy_cost_matrix(system, gain))))
    assert np.all(np.isfinite(np.asarray(lqr.linear_policy_cost_matrix(system, optimum.K))))
    assert float(lqr.closed_loop_radius(system, optimum.K)) < 1.0


def test_the_cost_matrix_is_differentiable_at_a_stable_gain():
    system = lqr.double_integrator()
    gain = lqr.solve_riccati(system).K
    grad = jax.grad(lambda k: jnp.trace(lqr.linear_policy_cost_matrix(system, k)))(gain)
    assert np.all(np.isfinite(np.asarray(grad))) and float(jnp.max(jnp.abs(grad))) < 1e-2  # K* is a minimizer


def test_riccati_on_an_unstabilizable_system_says_so():
    system = lqr.make_lqr([[1.1]], [[0.0]], [[1.0]], [[1.0]], 0.95)
    with pytest.raises(ValueError, match="stabilizable"):
        lqr.solve_riccati(system)
    with pytest.raises(ValueError, match="max_iterations"):
        lqr.solve_riccati(lqr.double_integrator(), max_iterations=3)


@pytest.mark.parametrize(
    "field, kwargs",
    [
        ("R", dict(R=[[-0.1]])),
        ("R", dict(R=[[0.0]])),
        ("Q", dict(Q=[[1.0, 2.0], [0.0, 1.0]])),
        ("Q", dict(Q=[[-1.0, 0.0], [0.0, 1.0]])),
        ("noise_cov", dict(noise_cov=[[1.0, 0.0], [0.0, -1.0]])),
        ("A", dict(A=[[float("nan"), 0.0], [0.0, 1.0]])),
    ],
)
def test_make_lqr_rejects_matrices_that_define_no_lqr(field, kwargs):
    args = dict(A=[[1.0, 0.1], [0.0, 1.0]], B=[[0.0], [0.1]], Q=np.eye(2), R=[[0.1]], gamma=0.95)
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        lqr.make_lqr(**args)


@pytest.mark.parametrize("field, value", [("dt", -0.1), ("dt", 0.0), ("control_cost", 0.0), ("noise_std", -1.0)])
def test_double_integrator_rejects_bad_constants(field, value):
    with pytest.raises(ValueError, match=field):
        lqr.double_integrator(**{field: value})
