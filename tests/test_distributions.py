"""lib.parts.distributions against scipy and closed forms: log-densities, the change of variables of the tanh-squashed
Gaussian (by numerical integration), entropies and KL divergences."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from jax import enable_x64

from lib.parts import distributions


def test_gaussian_log_prob_matches_scipy():
    mean, log_std = jnp.array([0.3, -1.0]), jnp.array([-0.5, 0.2])
    action = jnp.array([0.1, 0.4])
    expected = scipy.stats.norm.logpdf(np.asarray(action), np.asarray(mean), np.exp(np.asarray(log_std))).sum()
    np.testing.assert_allclose(distributions.gaussian_log_prob(mean, log_std, action), expected, rtol=1e-5)


def test_tanh_gaussian_density_integrates_to_one():
    with enable_x64(True):
        low, high = -2.0, 2.0
        actions = jnp.linspace(low, high, 400_001)[1:-1, None]
        density = jnp.exp(distributions.tanh_gaussian_log_prob(jnp.array([0.7]), jnp.array([-0.3]), actions, low, high))
        integral = jnp.trapezoid(density, actions[:, 0])
        np.testing.assert_allclose(integral, 1.0, atol=1e-6)


def test_tanh_gaussian_log_prob_matches_change_of_variables_reference():
    mean, log_std, low, high = 0.4, 0.1, -2.0, 2.0
    u = np.linspace(-3, 3, 13)
    action = low + (np.tanh(u) + 1) * (high - low) / 2
    # |da/du| = (1 - tanh(u)^2) (high - low) / 2, computed directly rather than in the stable form.
    reference = scipy.stats.norm.logpdf(u, mean, np.exp(log_std)) - np.log((1 - np.tanh(u) ** 2) * (high - low) / 2)
    computed = distributions.tanh_gaussian_log_prob(
        jnp.array([mean]), jnp.array([log_std]), jnp.asarray(action)[:, None], low, high
    )
    np.testing.assert_allclose(computed, reference, rtol=1e-4)


def test_tanh_gaussian_sample_returns_the_density_of_its_own_action():
    mean, log_std = jnp.array([0.2, -0.4]), jnp.array([-0.1, 0.3])
    keys = jax.random.split(jax.random.PRNGKey(0), 50)
    actions, log_probs = jax.vmap(lambda k: distributions.tanh_gaussian_sample(k, mean, log_std, -2.0, 2.0))(keys)
    assert jnp.all(jnp.abs(actions) <= 2.0)
    recomputed = distributions.tanh_gaussian_log_prob(mean, log_std, actions, -2.0, 2.0)
    np.testing.assert_allclose(log_probs, recomputed, rtol=1e-3, atol=1e-3)


def test_tanh_gaussian_samples_follow_the_squashed_law():
    mean, log_std = 0.5, -0.2
    keys = jax.random.split(jax.random.PRNGKey(1), 20_000)
    actions, _ = jax.vmap(lambda k: distributions.tanh_gaussian_sample(k, jnp.array([mean]), jnp.array([log_std])))(
        keys
    )
    cdf = lambda a: scipy.stats.norm.cdf(np.arctanh(np.clip(a, -1 + 1e-12, 1 - 1e-12)), mean, np.exp(log_std))
    assert scipy.stats.kstest(np.asarray(actions[:, 0], dtype=float), cdf).pvalue > 1e-3


def test_log_one_minus_tanh_squared_is_stable_and_exact():
    u = jnp.array([-30.0, -3.0, 0.0, 2.0, 30.0])
    assert jnp.all(jnp.isfinite(distributions.log_one_minus_tanh_squared(u)))
    np.testing.assert_allclose(
        distributions.log_one_minus_tanh_squared(u[1:4]), jnp.log(1 - jnp.tanh(u[1:4]) ** 2), rtol=1e-5
    )


def test_categorical_log_prob_and_entropy():
    logits = jnp.array([0.2, -1.0, 1.5])
    probabilities = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(
        distributions.categorical_log_prob(logits, jnp.array(2)), np.log(probabilities[2]), rtol=1e-6
    )
    np.testing.assert_allclose(distributions.categorical_entropy(logits), scipy.stats.entropy(probabilities), rtol=1e-6)


def test_tanh_gaussian_log_prob_is_finite_on_the_bounds_where_clipped_actions_sit():
    """a = +-2 exactly (a clipped replay action) is read BOUND_MARGIN inside the box: finite, and equal to
    the density there; an interior action keeps its exact change-of-variables density."""
    mean, log_std = jnp.array([0.3]), jnp.array([-0.5])
    on_bounds = distributions.tanh_gaussian_log_prob(mean, log_std, jnp.array([[-2.0], [2.0]]), -2.0, 2.0)
    assert bool(jnp.all(jnp.isfinite(on_bounds)))
    inside = 2.0 * (1.0 - distributions.BOUND_MARGIN)
    just_inside = distributions.tanh_gaussian_log_prob(mean, log_std, jnp.array([[-inside], [inside]]), -2.0, 2.0)
    np.testing.assert_allclose(on_bounds, just_inside, rtol=1e-5)
    interior = jnp.array([[0.5]])
    u = np.arctanh(0.25)
    reference = scipy.stats.norm.logpdf(u, 0.3, np.exp(-0.5)) - np.log(2.0 * (1 - np.tanh(u) ** 2))
    np.testing.assert_allclose(
        distributions.tanh_gaussian_log_prob(mean, log_std, interior, -2.0, 2.0), reference, rtol=1e-5
    )


def test_categorical_log_prob_accepts_every_valid_action_under_jit_and_vmap():
    logits = jnp.array([[0.2, -1.0], [1.0, 0.0]])
    values = jax.jit(jax.vmap(distributions.categorical_log_prob))(logits, jnp.array([1, 0]))
    np.testing.assert_allclose(values, jax.nn.log_softmax(logits)[jnp.arange(2), jnp.array([1, 0])], rtol=1e-6)


def test_gaussian_entropy_matches_scipy_and_ignores_the_mean():
    log_std = jnp.array([[-0.5, 0.2, 1.3], [0.0, -2.0, 0.4]])
    expected = scipy.stats.norm.entropy(scale=np.exp(np.asarray(log_std))).sum(axis=-1)
    np.testing.assert_allclose(distributions.gaussian_entropy(log_std), expected, rtol=1e-6)


def test_gaussian_kl_matches_the_closed_form_and_a_quadrature():
    """Per dimension KL = log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2, and the integral of
    p log(p / q) on a grid; zero for equal Gaussians, and not symmetric."""
    with enable_x64(True):
        m_p, s_p, m_q, s_q = np.array([0.3, -1.0]), np.array([0.6, 1.5]), np.array([-0.2, 0.5]), np.array([1.1, 0.8])
        kl = distributions.gaussian_kl(*(jnp.asarray(v) for v in (m_p, np.log(s_p), m_q, np.log(s_q))))
        closed = np.sum(np.log(s_q / s_p) + (s_p**2 + (m_p - m_q) ** 2) / (2 * s_q**2) - 0.5)
        grid = np.linspace(-15, 15, 300_001)
        quadrature = sum(
            np.trapezoid(
                scipy.stats.norm.pdf(grid, m_p[i], s_p[i])
                * (scipy.stats.norm.logpdf(grid, m_p[i], s_p[i]) - scipy.stats.norm.logpdf(grid, m_q[i], s_q[i])),
                grid,
            )
            for i in range(2)
        )
        np.testing.assert_allclose(kl, closed, rtol=1e-12)
        np.testing.assert_allclose(kl, quadrature, rtol=1e-8)
        assert float(distributions.gaussian_kl(jnp.asarray(m_p), jnp.log(s_p), jnp.asarray(m_p), jnp.log(s_p))) == 0.0
        backward = distributions.gaussian_kl(*(jnp.asarray(v) for v in (m_q, np.log(s_q), m_p, np.log(s_p))))
        assert abs(float(backward - kl)) > 0.1


def test_categorical_entropy_kl_and_sample_against_scipy():
    logits_p, logits_q = jnp.array([0.2, -1.0, 1.5, 0.0]), jnp.array([1.0, 0.3, -0.5, 0.1])
    p, q = np.asarray(jax.nn.softmax(logits_p)), np.asarray(jax.nn.softmax(logits_q))
    np.testing.assert_allclose(distributions.categorical_entropy(logits_p), scipy.stats.entropy(p), rtol=1e-6)
    np.testing.assert_allclose(distributions.categorical_kl(logits_p, logits_q), scipy.stats.entropy(p, q), rtol=1e-5)
    np.testing.assert_allclose(distributions.categorical_kl(logits_p, logits_p + 3.0), 0.0, atol=1e-6)  # logits' shift
    draws = np.asarray(
        jax.vmap(lambda k: distributions.categorical_sample(k, logits_p))(jax.random.split(jax.random.key(2), 40_000))
    )
    counts = np.bincount(draws, minlength=4)
    expected = 40_000 * p.astype(np.float64) / p.astype(np.float64).sum()
    assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3


def test_tanh_gaussian_mass_on_an_interval_is_the_gaussian_mass_of_its_preimage():
    """The change of variables: the integral of the squashed density over [c, d] in the box equals
    P(u in [arctanh((c - center)/h), arctanh((d - center)/h)]) under N(mean, sigma^2)."""
    with enable_x64(True):
        mean, log_std, low, high = 0.4, -0.2, -2.0, 3.0
        center, half_width = 0.5, 2.5
        for c, d in [(-1.9, -1.0), (-0.5, 1.5), (2.0, 2.99)]:
            actions = jnp.linspace(c, d, 200_001)
            density = jnp.exp(
                distributions.tanh_gaussian_log_prob(
                    jnp.array([mean]), jnp.array([log_std]), actions[:, None], low, high
                )
            )
            mass = float(jnp.trapezoid(density, actions))
            u_c, u_d = np.arctanh((c - center) / half_width), np.arctanh((d - center) / half_width)
            expected = scipy.stats.norm.cdf(u_d, mean, np.exp(log_std)) - scipy.stats.norm.cdf(
                u_c, mean, np.exp(log_std)
            )
            np.testing.assert_allclose(mass, expected, rtol=1e-6)  # the trapezoid rule's error: about 1e-8
