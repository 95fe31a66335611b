"""Chapter 23 estimators against exact answers from the Gaussian moments.

Statistical tolerances follow from the standard error over trials: a trial mean must lie within
4 standard errors of the exact mean, a trial variance within 4 standard errors of the exact
variance, where the standard error of the sample variance uses the exact fourth central moment.
Exact moments of polynomials in eps ~ N(0, 1) come from Gauss-Hermite quadrature (exact for
polynomials of degree < 2 * nodes), independently of the closed forms in `lib.algorithms.estimators`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.algorithms import estimators as est

N_TRIALS = 1000
Z = 4.0  # tolerance in standard errors


def per_sample_estimators(theta, eps):
    """The three per-sample estimators written out by hand (the book's formulas), x = theta + eps."""
    x = theta + eps
    return {
        "naive": x**2,
        "score_function": x**2 * theta * (x - theta) + x**2,
        "reparameterization": 2 * theta * x + x**2,
    }


def gaussian_expectation(values_fn, nodes=24):
    """E[values_fn(eps)] for eps ~ N(0, 1) by Gauss-Hermite(e) quadrature."""
    eps, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / np.sqrt(2 * np.pi)
    return {k: float(np.sum(w * v)) for k, v in values_fn(eps).items()}


def central_moments(theta):
    """Exact per-sample mean, variance and fourth central moment of each estimator."""
    mean = gaussian_expectation(lambda e: per_sample_estimators(theta, e))
    var = gaussian_expectation(lambda e: {k: (v - mean[k]) ** 2 for k, v in per_sample_estimators(theta, e).items()})
    mu4 = gaussian_expectation(lambda e: {k: (v - mean[k]) ** 4 for k, v in per_sample_estimators(theta, e).items()})
    return mean, var, mu4


@pytest.mark.parametrize("theta", [-1.3, 0.0, 0.5, 1.0, 2.0])
def test_exact_moments_equal_gauss_hermite_moments(theta):
    mean, var, _ = central_moments(theta)
    exact = est.per_sample_moments(theta)
    for name in est.Estimates._fields:
        assert getattr(exact.mean, name) == pytest.approx(mean[name], rel=1e-10, abs=1e-10)
        assert getattr(exact.variance, name) == pytest.approx(var[name], rel=1e-10, abs=1e-10)


def test_exact_moments_at_theta_one_are_the_book_values():
    exact = est.exact_moments(1.0, 1000)
    assert est.true_gradient(1.0) == 4.0
    assert tuple(exact.mean) == pytest.approx((2.0, 4.0, 4.0))
    assert tuple(exact.variance) == pytest.approx((0.006, 0.060, 0.018))


def test_true_gradient_is_derivative_of_objective():
    thetas = jnp.linspace(-2.0, 2.0, 9)
    autodiff = jax.vmap(jax.grad(est.objective))(thetas)
    np.testing.assert_allclose(autodiff, est.true_gradient(thetas), rtol=1e-6)


@pytest.mark.parametrize("theta", [1.0, -0.7])
def test_estimators_on_fixed_noise_equal_book_formulas(theta):
    eps = jax.random.normal(jax.random.key(3), (257,))
    by_hand = per_sample_estimators(theta, np.asarray(eps, np.float64))
    got = {
        "naive": est.naive_gradient(est.book_integrand, theta, eps),
        "score_function": est.score_function_gradient(est.book_integrand, theta, eps),
        "reparameterization": est.reparameterization_gradient(est.book_integrand, theta, eps),
    }
    for name, value in got.items():
        assert float(value) == pytest.approx(by_hand[name].mean(), rel=1e-5)


def test_masked_estimate_equals_average_of_first_n_samples():
    key, theta, n = jax.random.key(11), 0.8, 37
    out = est.estimator_experiment(key, theta, n, n_trials=2)
    eps = jax.random.normal(jax.random.split(key, 2)[1], (est.MAX_SAMPLES,))
    by_hand = per_sample_estimators(theta, np.asarray(eps[:n], np.float64))
    for name in est.Estimates._fields:
        assert float(getattr(out, name)[1]) == pytest.approx(by_hand[name].mean(), rel=1e-5)


@pytest.fixture(scope="module", params=[(1.0, 1000, 0), (-0.5, 200, 1)], ids=["theta=1", "theta=-0.5"])
def trials(request):
    theta, n_samples, seed = request.param
    out = est.estimator_experiment(jax.random.key(seed), theta, n_samples, N_TRIALS)
    return theta, n_samples, {k: np.asarray(v, np.float64) for k, v in out._asdict().items()}


def test_trial_means_within_standard_errors_of_exact_means(trials):
    theta, n, values = trials
    exact = est.exact_moments(theta, n)
    for name, v in values.items():
        se = np.sqrt(getattr(exact.variance, name) / N_TRIALS)
        assert abs(v.mean() - getattr(exact.mean, name)) < Z * se, name


def test_trial_variances_within_standard_errors_of_exact_variances(trials):
    theta, n, values = trials
    _, var1, mu4_1 = central_moments(theta)
    for name, v in values.items():
        sigma2 = var1[name] / n  # variance of an average of n i.i.d. samples
        mu4 = (mu4_1[name] + 3 * (n - 1) * var1[name] ** 2) / n**3  # its fourth central moment
        t = N_TRIALS
        se = np.sqrt(mu4 / t - sigma2**2 * (t - 3) / (t * (t - 1)))
        assert abs(v.var(ddof=1) - sigma2) < Z * se, name


def test_naive_bias_is_minus_two_at_theta_one():
    out = est.estimator_experiment(jax.random.key(0), 1.0, 1000, N_TRIALS)
    bias = np.asarray(out.naive, np.float64).mean() - est.true_gradient(1.0)
    se = np.sqrt(6.0 / 1000 / N_TRIALS)  # per-sample naive variance 6 at theta = 1
    assert abs(bias - (-2.0)) < Z * se


def test_naive_bias_is_minus_two_theta_squared():
    for theta in (1.0, 0.5, -1.5):
        exact = est.per_sample_moments(theta)
        assert exact.mean.naive - est.true_gradient(theta) == pytest.approx(-2 * theta**2)


@pytest.mark.parametrize("bad", [0, -3, 2.5, est.MAX_SAMPLES + 1])
def test_experiment_rejects_bad_n_samples(bad):
    with pytest.raises(ValueError, match="n_samples"):
        est.estimator_experiment(jax.random.key(0), 1.0, bad, 10)


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_experiment_rejects_bad_n_trials(bad):
    with pytest.raises(ValueError, match="n_trials"):
        est.estimator_experiment(jax.random.key(0), 1.0, 10, bad)


def test_experiment_rejects_non_finite_theta():
    with pytest.raises(ValueError, match="theta"):
        est.estimator_experiment(jax.random.key(0), float("nan"), 10, 10)


def test_slider_moves_reuse_the_compiled_experiment():
    est._estimator_trials.clear_cache()
    key = jax.random.key(5)
    first = est.estimator_experiment(key, 1.0, 1000, 64)
    assert est._estimator_trials._cache_size() == 1
    second = est.estimator_experiment(key, -0.3, 17, 64)
    assert est._estimator_trials._cache_size() == 1
    assert float(first.naive[0]) != float(second.naive[0])  # the new values were used
