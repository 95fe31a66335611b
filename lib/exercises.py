"""Checks for the coded exercises at the end of each chapter.

Each `check_*` function takes the student's function, calls it on a few cases, and compares the
result with an exact answer reached by another route (a Hessian or gradient by autodiff, value
iteration, Gauss-Hermite quadrature, a brute-force count; once, a Monte Carlo average within five
standard errors). It raises AssertionError naming the case that fails, and prints one line when
every case passes. `python -m tools.assignments` writes the
student notebooks, in which the solutions are stubs and these checks fail until filled in.
"""
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from lib import estimators, lqr, mdp, soft, svg, trust_region


def _passed(exercise, what):
    print(f"Exercise {exercise} passed: {what}")


def _assert_close(exercise, label, actual, expected, rtol, atol=0.0):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (
        f"Exercise {exercise}, {label}: expected shape {expected.shape}, got {actual.shape}")
    assert np.allclose(actual, expected, rtol=rtol, atol=atol), (
        f"Exercise {exercise}, {label}: got {np.round(actual, 6)}, which is not the exact answer")


# ------------------------------------------------------------------ chapter 19
def check_smallest_action_dimension(smallest_action_dimension):
    """The answer must match a brute-force count in exact integer arithmetic, boundaries included."""
    cases = [(10_000, 20, 10**12), (10_000, 10, 10**12), (1, 2, 1000), (500, 3, 10**6), (1, 7, 1)]
    for base_points, k, budget in cases:
        expected = next(m for m in itertools.count(1) if base_points * k**m > budget)
        got = smallest_action_dimension(base_points, k, budget)
        assert got == expected, (f"Exercise 19.1, |B| = {base_points}, k = {k}, budget = {budget}: "
                                 f"got m = {got}, but that is not the smallest m with |B| k^m > budget")
    _passed("19.1", f"the smallest action dimension matches a brute-force count in {len(cases)} cases")


# ------------------------------------------------------------------ chapters 20 and 21
def _lqr_cases():
    """Two discounted LQRs: the chapters' double integrator and a coarser one with dearer control."""
    return [lqr.double_integrator(dt=0.1, gamma=0.95, control_cost=0.1),
            lqr.double_integrator(dt=0.2, gamma=0.9, control_cost=1.0)]


@jax.jit
def _q_star_derivatives(system, x, u):
    """The Riccati solution, and the gradient and Hessian of q*(x, .) at u, compiled once."""
    solution = lqr.solve_riccati(system)
    q_of_u = lambda v: lqr.optimal_q(system, solution, x, v)  # noqa: E731
    return solution, jax.grad(q_of_u)(u), jax.hessian(q_of_u)(u)


def check_largest_stable_learning_rate(largest_stable_learning_rate):
    """Gradient ascent on a concave quadratic converges iff eta < 2 / (largest curvature)."""
    with jax.enable_x64(True):
        for i, system in enumerate(_lqr_cases()):
            solution, _, hessian = _q_star_derivatives(system, jnp.array([1.0, -0.5]), jnp.zeros(1))
            expected = 2.0 / np.max(np.linalg.eigvalsh(-np.asarray(hessian)))
            _assert_close("20.1", f"LQR case {i}", largest_stable_learning_rate(system, solution.P), expected,
                          rtol=1e-6)
    _passed("20.1", "2 / curvature equals the bound from the autodiff Hessian of -q* in u, on two LQRs")


def check_greedy_gain(greedy_gain):
    """u = -K x must zero the gradient of q*(x, .) at every x, and K must be the Riccati gain."""
    with jax.enable_x64(True):
        for i, system in enumerate(_lqr_cases()):
            solution = _q_star_derivatives(system, jnp.zeros(2), jnp.zeros(1))[0]
            gain = jnp.atleast_2d(jnp.asarray(greedy_gain(system, solution.P)))
            for x in (jnp.array([1.0, 0.0]), jnp.array([-0.3, 2.0])):
                slope = _q_star_derivatives(system, x, -gain @ x)[1]
                _assert_close("20.2", f"gradient of q*(x, -Kx) in u, LQR case {i}, x = {x}", slope,
                              np.zeros_like(slope), rtol=0.0, atol=1e-8)
            _assert_close("20.2", f"gain, LQR case {i}", gain, solution.K, rtol=1e-8)
    _passed("20.2", "-Kx maximizes q*(x, .) (zero gradient) and K is the Riccati gain, on two LQRs")


@jax.jit
@jax.grad
def _return_gradient(gain, system, initial_cov):
    """grad_K of J(K) = E[v_K(x_0)] = -tr(P_K Sigma_0) for u = -K x on the noiseless LQR."""
    return -jnp.trace(lqr.linear_policy_cost_matrix(system, gain) @ initial_cov)


def check_dpg_gradient(dpg_gradient):
    """The deterministic policy gradient must equal the autodiff gradient of J(K) = -tr(P_K Sigma_0)."""
    with jax.enable_x64(True):
        systems = _lqr_cases()
        cases = [(systems[0], jnp.array([[1.0, 1.5]]), jnp.eye(2)),
                 (systems[1], jnp.array([[0.5, 0.8]]), jnp.diag(jnp.array([1.0, 0.5]))),
                 (systems[0], _q_star_derivatives(systems[0], jnp.zeros(2), jnp.zeros(1))[0].K, jnp.eye(2))]
        for i, (system, gain, initial_cov) in enumerate(cases):
            _assert_close("21.1", f"case {i}, K = {np.round(np.asarray(gain), 4)}",
                          dpg_gradient(system, gain, initial_cov), _return_gradient(gain, system, initial_cov),
                          rtol=1e-6, atol=1e-9)
    _passed("21.1", "the DPG formula equals the autodiff gradient of J(K) on two LQRs, and is zero at K*")


# ------------------------------------------------------------------ chapter 22
def check_equally_good_mdp(equally_good_mdp):
    """In that MDP the soft value must exceed the hard one by exactly beta log|A| / (1 - gamma)."""
    num_states, num_actions, gamma = 5, 3, 0.8
    model = equally_good_mdp(jax.random.key(7), num_states, num_actions, gamma)
    shape = (num_states, num_actions)
    assert model.rewards.shape == shape and model.transitions.shape == shape + (num_states,), (
        f"Exercise 22.1: rewards must have shape {shape} and transitions {shape + (num_states,)}")
    _assert_close("22.1", "transition rows sum", model.transitions.sum(-1), np.ones(shape), rtol=0, atol=1e-5)
    assert np.all(np.asarray(model.transitions) >= 0), "Exercise 22.1: negative transition probability"
    hard = jax.jit(mdp.value_iteration)(model)
    for beta in (0.1, 1.0):
        bound = soft.soft_value_gap_bound(beta, num_actions, model.gamma)
        gap = soft.soft_value_iteration(model, beta) - hard
        _assert_close("22.1", f"gap v_beta - v* at beta = {beta}", gap, np.full(num_states, bound),
                      rtol=1e-4, atol=1e-4)
    _passed("22.1", "v_beta - v* = beta log|A| / (1 - gamma) at every state, by soft and hard value iteration")


def check_soft_max_from_entropy(soft_max_from_entropy):
    """E_d[q] + beta H(d) at the Boltzmann policy d must equal beta log sum exp(q / beta)."""
    q_values = jax.random.normal(jax.random.key(3), (6, 4)) * 3.0
    for beta in (0.01, 0.5, 10.0):
        expected = soft.soft_maximum(q_values, beta)
        _assert_close("22.2", f"beta = {beta}", soft_max_from_entropy(q_values, beta), expected,
                      rtol=1e-5, atol=1e-4)
    _passed("22.2", "expected q plus beta times the entropy equals the log-sum-exp, for beta from 0.01 to 10")


# ------------------------------------------------------------------ chapter 23
def check_ten_times_theta(theta_where_ratio_is_ten):
    """At the returned theta > 0 the exact per-sample variances must be in the ratio 10 : 1."""
    theta = float(theta_where_ratio_is_ten())
    assert theta > 0, f"Exercise 23.1: theta must be positive, got {theta}"
    variance = estimators.per_sample_moments(theta).variance
    ratio = variance.score_function / variance.reparameterization
    _assert_close("23.1", f"Var SF / Var RT at theta = {theta:.6f}", ratio, 10.0, rtol=1e-6)
    _passed("23.1", f"at theta = {theta:.4f} the score-function variance is ten times the reparameterization one")


def check_scale_estimators(scale_estimators):
    """Both per-sample estimators of dE[x^2]/dsigma must have mean 2 sigma and their exact variances.

    Expectations over eps ~ N(0, 1) use 30-point Gauss-Hermite quadrature, exact for polynomials of
    degree < 60. With x = mu + sigma eps the variances are
      SF: (x^2 ((x - mu)^2 / sigma^3 - 1 / sigma)):  (2 mu^4 + 60 mu^2 sigma^2 + 74 sigma^4) / sigma^2,
      RP: 2 x eps:                                   4 mu^2 + 8 sigma^2.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(30)
    weights = weights / np.sqrt(2 * np.pi)
    with jax.enable_x64(True):
        for mu, sigma in ((0.0, 1.0), (1.0, 0.5), (-2.0, 1.5)):
            sf, rp = (np.asarray(e, dtype=float) for e in scale_estimators(jnp.asarray(nodes), mu, sigma))
            exact_variance = {"score function": (2 * mu**4 + 60 * mu**2 * sigma**2 + 74 * sigma**4) / sigma**2,
                              "reparameterization": 4 * mu**2 + 8 * sigma**2}
            for name, estimate in (("score function", sf), ("reparameterization", rp)):
                mean = np.sum(weights * estimate)
                variance = np.sum(weights * estimate**2) - mean**2
                _assert_close("23.2", f"{name} mean at mu = {mu}, sigma = {sigma}", mean, 2 * sigma, rtol=1e-8)
                _assert_close("23.2", f"{name} variance at mu = {mu}, sigma = {sigma}", variance,
                              exact_variance[name], rtol=1e-8)
    _passed("23.2", "both estimators have mean 2 sigma and their exact variances (Gauss-Hermite quadrature)")


# ------------------------------------------------------------------ chapter 24
def _score_function_variance(logits, rewards, baseline):
    """Total variance E||g - E g||^2 of g = grad log pi(a) (r(a) - b), a ~ softmax(logits), by enumeration."""
    probs = jax.nn.softmax(logits)
    scores = jnp.eye(logits.shape[0]) - probs            # row a: grad_logits log pi(a)
    g = scores * (rewards - baseline)[:, None]
    mean = probs @ g
    return probs @ jnp.sum((g - mean) ** 2, axis=1)


@jax.jit
def _variance_minimizer(logits, rewards):
    """The variance is quadratic in b, so one Newton step from b = 0 lands on its minimizer."""
    slope = jax.grad(_score_function_variance, argnums=2)
    curvature = jax.grad(slope, argnums=2)
    return -slope(logits, rewards, 0.0) / curvature(logits, rewards, 0.0)


def check_best_constant_baseline(best_constant_baseline):
    """The baseline must be the minimizer of the exact variance of the estimator."""
    cases = [([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]), ([2.0, 0.0, -1.0], [1.0, 0.0, 5.0]),
             ([-1.0, 0.5, 0.0], [3.0, -1.0, 0.5])]
    with jax.enable_x64(True):
        for logits, rewards in cases:
            logits, rewards = jnp.asarray(logits), jnp.asarray(rewards)
            _assert_close("24.6", f"logits {np.asarray(logits)}, rewards {np.asarray(rewards)}",
                          best_constant_baseline(logits, rewards), _variance_minimizer(logits, rewards),
                          rtol=1e-6, atol=1e-9)
    _passed("24.6", "the baseline minimizes the exact variance of the score-function estimator in 3 bandits")


# ------------------------------------------------------------------ chapter 25
@jax.jit
def _inferred_action_noise(behavior, target, states, eps, xi, model):
    """Sample (x, eps, xi) -> (a, x') under `behavior`, then infer the action noise under `target`."""
    def one(x, e, w):
        a, x_next = svg.sample_transition(behavior, x, e, w, policy=svg.linear_policy, model=model)
        return svg.infer_noise(target, x, a, x_next, policy=svg.linear_policy, model=model)[0]

    return jax.vmap(one)(states, eps, xi)


def check_off_policy_noise_moments(off_policy_noise_moments):
    """The moments of the inferred action noise must match 100,000 inferred samples within 5 standard errors."""
    num_samples, model = 100_000, svg.lqr_model(_lqr_cases()[0], noise_std=0.1)
    state_mean, state_cov = jnp.array([1.0, -0.5]), jnp.array([[0.5, 0.1], [0.1, 0.3]])
    cases = [(([[1.0, 1.5]], 0.3), ([[1.0, 1.5]], 0.3)), (([[1.0, 1.5]], 0.3), ([[2.0, 1.0]], 0.5)),
             (([[0.5, 2.0]], 1.0), ([[1.0, 1.5]], 0.2))]
    keys = jax.random.split(jax.random.key(5), 3)
    states = state_mean + jax.random.normal(keys[0], (num_samples, 2)) @ jnp.linalg.cholesky(state_cov).T
    eps, xi = jax.random.normal(keys[1], (num_samples, 1)), jax.random.normal(keys[2], (num_samples, 2))
    for (behavior_gain, behavior_std), (gain, std) in cases:
        inferred = np.asarray(_inferred_action_noise(svg.linear_policy_params(behavior_gain, behavior_std),
                                                     svg.linear_policy_params(gain, std), states, eps, xi, model),
                                   dtype=float)
        mean, covariance = (np.asarray(m, dtype=float) for m in off_policy_noise_moments(
            jnp.asarray(behavior_gain), behavior_std, jnp.asarray(gain), std, state_mean, state_cov))
        assert mean.shape == (1,) and covariance.shape == (1, 1), (
            f"Exercise 25.1: expected a mean of shape (1,) and a covariance of shape (1, 1), "
            f"got {mean.shape} and {covariance.shape}")
        sample_variance = inferred.var(ddof=1)      # standard errors of the sample mean and variance
        mean_error = abs(inferred.mean() - mean[0]) / np.sqrt(sample_variance / num_samples)
        variance_error = abs(sample_variance - covariance[0, 0]) / (sample_variance * np.sqrt(2 / (num_samples - 1)))
        label = f"behavior K = {behavior_gain}, sigma = {behavior_std}; inferred under K = {gain}, sigma = {std}"
        assert mean_error < 5, f"Exercise 25.1, {label}: the mean is {mean_error:.0f} standard errors off"
        assert variance_error < 5, f"Exercise 25.1, {label}: the variance is {variance_error:.0f} standard errors off"
    _passed("25.1", "mean and variance of the inferred action noise match 100,000 inferred samples (5 s.e.)")


# ------------------------------------------------------------------ chapter 26
def check_dogleg_step(dogleg_step):
    """Newton step inside the region, steepest descent to the boundary below the unconstrained
    Cauchy point, and in between a boundary point on the segment from that point to Newton's."""
    with jax.enable_x64(True):
        hessian = jnp.array([[4.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
        gradient = jnp.array([1.0, -2.0, 0.5])
        newton = -np.linalg.solve(hessian, gradient)
        steepest = -float(gradient @ gradient) / float(gradient @ hessian @ gradient) * np.asarray(gradient)
        short, far = np.linalg.norm(steepest), np.linalg.norm(newton)
        _assert_close("26.1", "radius beyond the Newton step", dogleg_step(gradient, hessian, 2 * far), newton,
                      rtol=1e-8)
        small = 0.5 * short
        _assert_close("26.1", "radius below the Cauchy point", dogleg_step(gradient, hessian, small),
                      trust_region.cauchy_point(gradient, hessian, small), rtol=1e-8)
        middle = 0.5 * (short + far)
        step = np.asarray(dogleg_step(gradient, hessian, middle), dtype=float)
        _assert_close("26.1", "length of the step between the two", np.linalg.norm(step), middle, rtol=1e-8)
        direction = newton - steepest
        tau = float((step - steepest) @ direction / (direction @ direction))
        assert 0 <= tau <= 1, "Exercise 26.1: the step is not between the Cauchy point and the Newton step"
        _assert_close("26.1", "step on the dogleg's second leg", step, steepest + tau * direction, rtol=1e-8,
                      atol=1e-12)
    _passed("26.1", "Newton step, boundary steepest descent and the second leg, on a 3-d quadratic model")
