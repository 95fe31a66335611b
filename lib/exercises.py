"""Checks for the coded exercises at the end of each chapter.

`grade` scores an exercise on the cases its check cell lists with their answers (chapters 19, 24 and
26): it never raises and returns the points earned. Each `check_*` function (chapters 20-23, 25)
takes the student's function, calls it on a few cases, and compares the result with an exact answer
reached by another route (a Hessian or gradient by autodiff, value iteration, Gauss-Hermite
quadrature; once, a Monte Carlo average within five standard errors). It raises AssertionError
naming the case that fails, and prints one line when every case passes. `python -m tools.assignments`
writes the student notebooks, in which the solutions are stubs.
"""
import inspect
import types

import jax
import jax.numpy as jnp
import numpy as np

from lib import estimators, lqr, mdp, soft, svg


def _passed(exercise, what):
    print(f"Exercise {exercise} passed: {what}")


def _assert_close(exercise, label, actual, expected, rtol, atol=0.0):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (
        f"Exercise {exercise}, {label}: expected shape {expected.shape}, got {actual.shape}")
    assert np.allclose(actual, expected, rtol=rtol, atol=atol), (
        f"Exercise {exercise}, {label}: got {np.round(actual, 6)}, which is not the exact answer")


# ------------------------------------------------------------------ graded cases (chapters 19, 24, 26)
def _library_names(function):
    """The names `function` reads from its module that are this project's `lib` modules or functions."""
    found = inspect.getclosurevars(function)
    names = {**found.globals, **found.nonlocals}
    owner = lambda value: value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", "")  # noqa: E731
    imported_inside = ["lib"] if "lib" in function.__code__.co_names else []     # `from lib import ...` in the body
    return imported_inside + sorted(name for name, value in names.items() if (owner(value) or "").split(".")[0] == "lib")


def grade(exercise, function, cases, points, rtol=0.0, atol=0.0):
    """Points earned by `function` on `cases`, a list of (arguments, expected answer); prints why.

    The check cell of a graded exercise lists its cases with their answers (computed by the
    instructor, so no reference solution is importable), the hidden ones between nbgrader's
    BEGIN/END HIDDEN TESTS, and ends with this call. It never raises, so "Run all" reaches every
    exercise; the returned number is the cell's value, which nbgrader's autograder takes as partial
    credit: all the points if every case matches within `rtol`/`atol`, else 0. List arguments are
    passed as JAX arrays. The exercises are to be solved with JAX and NumPy: a function that calls
    this project's `lib` earns nothing.
    """
    shortcuts = _library_names(function)
    if shortcuts:
        print(f"Exercise {exercise}: 0 of {points} points: the answer calls {', '.join(shortcuts)} from lib; "
              f"write it with JAX or NumPy")
        return 0.0
    for arguments, expected in cases:
        shown = ", ".join(map(str, arguments))
        try:
            got = np.asarray(function(*(jnp.asarray(a) if isinstance(a, list) else a for a in arguments)), dtype=float)
        except Exception as error:       # a stub or a crash scores 0 without stopping the notebook
            print(f"Exercise {exercise}: 0 of {points} points: ({shown}) raised {type(error).__name__}: {error}")
            return 0.0
        want = np.asarray(expected, dtype=float)
        if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
            print(f"Exercise {exercise}: 0 of {points} points: ({shown}) gave {np.round(got, 6).tolist()}, "
                  f"expected {np.round(want, 6).tolist()}")
            return 0.0
    print(f"Exercise {exercise} passed: {len(cases)} cases, {points} of {points} points")
    return float(points)


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


# ------------------------------------------------------------------ chapter 25
@jax.jit
def _inferred_action_noise(behavior, target, states, eps, xi, model):
    """Sample (x, eps, xi) -> (a, x') under `behavior`, then infer the action noise under `target`."""
    def one(x, e, w):
        a, x_next = svg.sample_transition(behavior, x, e, w, policy=svg.linear_gaussian_policy, model=model)
        return svg.infer_noise(target, x, a, x_next, policy=svg.linear_gaussian_policy, model=model)[0]

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
        behavior = svg.linear_gaussian_policy_params(behavior_gain, behavior_std)
        target = svg.linear_gaussian_policy_params(gain, std)
        inferred = np.asarray(_inferred_action_noise(behavior, target, states, eps, xi, model), dtype=float)
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
