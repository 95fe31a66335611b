"""Reparameterized samplers against scipy.stats and exact identities.

Distribution tests use Kolmogorov-Smirnov / chi-square at fixed seeds with p > 0.001. Pathwise
derivatives are checked against the implicit-function identity dx/dtheta = -dF/dtheta / p(x),
which holds sample by sample for any inverse-CDF sampler x = F^{-1}(u; theta).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from lib.parts import samplers as smp

P_MIN = 1e-3
N = 20_000


def kumaraswamy_cdf(x, alpha, beta):
    """F(x) = 1 - (1 - x^alpha)^beta on [0, 1], written here independently of lib."""
    x = np.clip(x, 0.0, 1.0)
    return 1.0 - (1.0 - x**alpha) ** beta


TRUNCNORM_CASES = [(0.0, 1.0, -1.0, 2.0), (1.5, 0.5, 0.0, 1.0), (0.0, 1.0, 2.5, 6.0), (-2.0, 3.0, -20.0, -4.0)]


@pytest.mark.parametrize("mu, sigma, a, b", TRUNCNORM_CASES)
def test_truncated_normal_matches_scipy_truncnorm(mu, sigma, a, b):
    x = np.asarray(smp.sample_truncated_normal(jax.random.key(0), mu, sigma, a, b, (N,)), np.float64)
    assert x.min() >= a and x.max() <= b
    ref = stats.truncnorm((a - mu) / sigma, (b - mu) / sigma, loc=mu, scale=sigma)
    assert stats.kstest(x, ref.cdf).pvalue > P_MIN


@pytest.mark.parametrize("mu, sigma, a, b", TRUNCNORM_CASES)
def test_truncated_normal_log_density_matches_scipy(mu, sigma, a, b):
    x = np.linspace(a, b, 101)[1:-1]
    ref = stats.truncnorm((a - mu) / sigma, (b - mu) / sigma, loc=mu, scale=sigma).logpdf(x)
    got = smp.truncated_normal_log_density(jnp.asarray(x, jnp.float32), mu, sigma, a, b)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert smp.truncated_normal_log_density(b + 0.1, mu, sigma, a, b) == -jnp.inf


@pytest.mark.parametrize(
    "mu, sigma, a, b",
    [
        (0.0, 1.0, 10.0, 11.0),
        (0.0, 1.0, -11.0, -10.0),
        (0.0, 1.0, 5.0, 6.0),
        (0.0, 1.0, -6.0, -5.0),
        (1.0, 0.5, 4.0, 4.5),
    ],
)
def test_truncated_normal_log_density_is_right_far_in_both_tails(mu, sigma, a, b):
    """The mass Phi(beta) - Phi(alpha) underflows in the right tail unless it is taken in log space."""
    x = np.linspace(a, b, 11)[1:-1]
    ref = stats.truncnorm((a - mu) / sigma, (b - mu) / sigma, loc=mu, scale=sigma).logpdf(x)
    got = smp.truncated_normal_log_density(jnp.asarray(x, jnp.float32), mu, sigma, a, b)
    assert np.all(np.isfinite(np.asarray(got)))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_truncated_normal_pathwise_derivative_matches_implicit_formula():
    mu, sigma, a, b = 0.3, 1.2, -1.0, 2.0
    u = smp.uniform_noise(jax.random.key(1), (50,))
    # forward mode: one tangent on mu gives dx_i/dmu for every sample at once
    x, dx_dmu = jax.jvp(lambda m: smp.truncated_normal_from_uniform(u, m, sigma, a, b), (mu,), (1.0,))
    x = np.asarray(x, np.float64)

    def cdf(m):
        return stats.truncnorm((a - m) / sigma, (b - m) / sigma, loc=m, scale=sigma).cdf(x)

    h = 1e-5
    dF_dmu = (cdf(mu + h) - cdf(mu - h)) / (2 * h)
    pdf = stats.truncnorm((a - mu) / sigma, (b - mu) / sigma, loc=mu, scale=sigma).pdf(x)
    np.testing.assert_allclose(dx_dmu, -dF_dmu / pdf, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("alpha, beta", [(2.0, 5.0), (0.5, 0.5), (1.0, 3.0), (5.0, 1.0)])
def test_kumaraswamy_matches_its_cdf(alpha, beta):
    x = np.asarray(smp.sample_kumaraswamy(jax.random.key(2), alpha, beta, (N,)), np.float64)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert stats.kstest(x, lambda t: kumaraswamy_cdf(t, alpha, beta)).pvalue > P_MIN


@pytest.mark.parametrize("alpha, beta", [(2.0, 5.0), (0.7, 1.5), (1.0, 1.0), (3.0, 0.8)])
def test_kumaraswamy_log_density_integrates_to_one(alpha, beta):
    def density(t):
        return float(jnp.exp(smp.kumaraswamy_log_density(t, alpha, beta)))

    with jax.enable_x64(True):  # quad probes points within 1e-10 of the endpoints
        total, _ = integrate.quad(density, 0.0, 1.0, limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_kumaraswamy_density_is_derivative_of_cdf():
    alpha, beta, h = 2.5, 1.7, 1e-6
    x = np.linspace(0.05, 0.95, 19)
    dcdf = (kumaraswamy_cdf(x + h, alpha, beta) - kumaraswamy_cdf(x - h, alpha, beta)) / (2 * h)
    got = np.exp(smp.kumaraswamy_log_density(jnp.asarray(x, jnp.float32), alpha, beta))
    np.testing.assert_allclose(got, dcdf, rtol=1e-4)


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_kumaraswamy_with_alpha_one_is_beta_distribution(beta):
    x = np.linspace(0.01, 0.99, 50)
    got = smp.kumaraswamy_log_density(jnp.asarray(x, jnp.float32), 1.0, beta)
    np.testing.assert_allclose(got, stats.beta(1.0, beta).logpdf(x), rtol=1e-4, atol=1e-5)


def test_kumaraswamy_pathwise_derivatives_match_implicit_formula():
    alpha, beta = 2.0, 3.0
    u = smp.uniform_noise(jax.random.key(3), (50,))
    grads = jax.vmap(jax.grad(smp.kumaraswamy_from_uniform, argnums=(1, 2)), (0, None, None))(u, alpha, beta)
    x = np.asarray(smp.kumaraswamy_from_uniform(u, alpha, beta), np.float64)
    xa = x**alpha
    pdf = alpha * beta * x ** (alpha - 1) * (1 - xa) ** (beta - 1)
    dF_dalpha = beta * (1 - xa) ** (beta - 1) * xa * np.log(x)
    dF_dbeta = -((1 - xa) ** beta) * np.log1p(-xa)
    np.testing.assert_allclose(grads[0], -dF_dalpha / pdf, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(grads[1], -dF_dbeta / pdf, rtol=1e-3, atol=1e-5)


def test_gumbel_noise_matches_scipy_gumbel_r():
    g = np.asarray(smp.sample_gumbel(jax.random.key(4), (N,)), np.float64)
    assert np.all(np.isfinite(g))
    assert stats.kstest(g, stats.gumbel_r.cdf).pvalue > P_MIN


def test_gumbel_max_frequencies_match_probabilities():
    probs = np.array([0.05, 0.15, 0.3, 0.5])
    logits = jnp.log(jnp.asarray(probs)) + 7.0  # an additive constant must not matter
    g = smp.sample_gumbel(jax.random.key(5), (N, probs.size))
    counts = np.bincount(np.asarray(smp.gumbel_max(logits, g)), minlength=probs.size)
    assert stats.chisquare(counts, N * probs).pvalue > P_MIN


@pytest.fixture(scope="module")
def softmax_setup():
    logits = jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4]))
    g = smp.sample_gumbel(jax.random.key(6), (2000, 4))
    return logits, g


def test_gumbel_softmax_lies_on_simplex_with_gumbel_max_argmax(softmax_setup):
    logits, g = softmax_setup
    for tau in (0.1, 1.0, 10.0):
        z = np.asarray(smp.gumbel_softmax(logits, g, tau))
        assert np.all(z >= 0)
        np.testing.assert_allclose(z.sum(axis=-1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(z.argmax(axis=-1), smp.gumbel_max(logits, g))


def test_gumbel_softmax_tends_to_one_hot_as_temperature_falls(softmax_setup):
    logits, g = softmax_setup
    one_hot = np.eye(4)[np.asarray(smp.gumbel_max(logits, g))]
    taus = [10.0, 1.0, 0.3, 0.1, 0.03, 0.01]
    dist = [np.abs(np.asarray(smp.gumbel_softmax(logits, g, t)) - one_hot).sum(-1) for t in taus]
    for hotter, colder in zip(dist, dist[1:]):
        assert np.all(colder <= hotter + 1e-6)  # monotone, sample by sample
    assert dist[-1].mean() < 0.01 < dist[0].mean()


def test_gumbel_softmax_jacobian_rows_sum_to_zero():
    logits = jnp.array([0.2, -1.0, 0.5])
    g = smp.sample_gumbel(jax.random.key(7), (3,))
    jac = jax.jacobian(smp.gumbel_softmax)(logits, g, 0.5)
    assert np.all(np.isfinite(jac)) and np.abs(jac).max() > 1e-3
    np.testing.assert_allclose(jac.sum(axis=0), 0.0, atol=1e-6)


def test_gumbel_softmax_gradient_is_unbiased_for_the_relaxed_mean():
    """Two categories, tau = 1: z_0 = sigmoid(l + L) with L logistic, so E[z_0] = p/c (1 - (1 - p)/c log(p/(1 - p))),
    p = sigmoid(l), c = 2p - 1. The mean of jax.grad over the noise matches its derivative within 4 SE."""

    def relaxed_mean(logit):
        p = 1.0 / (1.0 + np.exp(-logit))
        c = 2 * p - 1
        return p / c * (1 - (1 - p) / c * np.log(p / (1 - p)))

    logit, count = float(np.log(0.7 / 0.3)), 100_000
    g = smp.sample_gumbel(jax.random.key(8), (count, 2))
    grads = np.asarray(
        jax.vmap(jax.grad(lambda l, g: smp.gumbel_softmax(jnp.stack([l, 0.0]), g, 1.0)[0]), in_axes=(None, 0))(
            logit, g
        ),
        np.float64,
    )
    exact = (relaxed_mean(logit + 1e-5) - relaxed_mean(logit - 1e-5)) / 2e-5
    assert abs(grads.mean() - exact) < 4 * grads.std(ddof=1) / np.sqrt(count)
    assert abs(exact - 0.21) > 0.05  # the relaxed gradient is not d pi_0 / d l: the test tells them apart


MVN_MU, MVN_L = jnp.array([1.0, -0.5, 0.3]), jnp.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.4, 0.2, 1.5]])


def test_multivariate_normal_density_is_the_normal_with_covariance_l_l_transpose():
    x = smp.multivariate_normal_from_noise(jax.random.normal(jax.random.key(9), (50, 3)), MVN_MU, MVN_L)
    exact = stats.multivariate_normal(np.asarray(MVN_MU), np.asarray(MVN_L @ MVN_L.T)).logpdf(np.asarray(x))
    np.testing.assert_allclose(smp.multivariate_normal_log_density(x, MVN_MU, MVN_L), exact, rtol=1e-5, atol=1e-5)


def test_multivariate_normal_samples_have_covariance_l_l_transpose():
    x = np.asarray(smp.multivariate_normal_from_noise(jax.random.normal(jax.random.key(10), (N, 3)), MVN_MU, MVN_L))
    np.testing.assert_allclose(x.mean(0), MVN_MU, atol=0.05)
    np.testing.assert_allclose(np.cov(x.T), MVN_L @ MVN_L.T, atol=0.06)  # entries' SE below 0.02


def test_multivariate_normal_pathwise_gradient_of_a_quadratic_is_2_a_mu_and_2_a_l():
    """E[x^T A x] = mu^T A mu + tr(A L L^T) for symmetric A: gradients 2 A mu and the lower triangle of 2 A L."""
    a = jnp.array([[1.0, 0.5, 0.0], [0.5, 2.0, -0.3], [0.0, -0.3, 0.7]])
    eps = jax.random.normal(jax.random.key(11), (3,))

    def quadratic(mu, scale_tril):
        x = smp.multivariate_normal_from_noise(eps, mu, scale_tril)
        return x @ a @ x

    grad_mu, grad_l = jax.grad(quadratic, argnums=(0, 1))(MVN_MU, MVN_L)
    x = MVN_MU + MVN_L @ eps  # one sample: the gradients are 2 A x and the lower triangle of 2 A x eps^T
    np.testing.assert_allclose(grad_mu, 2 * a @ x, rtol=1e-5)
    np.testing.assert_allclose(grad_l, jnp.tril(2 * jnp.outer(a @ x, eps)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: smp.sample_truncated_normal(jax.random.key(0), 0.0, 0.0, -1.0, 1.0), "sigma"),
        (lambda: smp.multivariate_normal_log_density(jnp.zeros(2), jnp.zeros(2), -jnp.eye(2)), "scale_tril"),
        (lambda: smp.sample_truncated_normal(jax.random.key(0), 0.0, -1.0, -1.0, 1.0), "sigma"),
        (lambda: smp.sample_truncated_normal(jax.random.key(0), 0.0, 1.0, 1.0, 1.0), "a must be < b"),
        (lambda: smp.truncated_normal_log_density(0.0, 0.0, 1.0, 2.0, -1.0), "a must be < b"),
        (lambda: smp.sample_kumaraswamy(jax.random.key(0), 0.0, 1.0), "alpha"),
        (lambda: smp.sample_kumaraswamy(jax.random.key(0), 1.0, -2.0), "beta"),
        (lambda: smp.kumaraswamy_log_density(0.5, jnp.array([1.0, -1.0]), 1.0), "alpha"),
        (lambda: smp.gumbel_softmax(jnp.zeros(3), jnp.zeros(3), 0.0), "temperature"),
        (lambda: smp.gumbel_softmax(jnp.zeros(3), jnp.zeros(3), -0.5), "temperature"),
    ],
)
def test_bad_parameters_raise_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()
