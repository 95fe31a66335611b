"""Policy heads' log-densities against scipy and the change-of-variables formula."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from jax import enable_x64

from lib import policies


def test_gaussian_log_prob_matches_scipy():
    mean, log_std = jnp.array([0.3, -1.0]), jnp.array([-0.5, 0.2])
    action = jnp.array([0.1, 0.4])
    expected = scipy.stats.norm.logpdf(np.asarray(action), np.asarray(mean), np.exp(np.asarray(log_std))).sum()
    np.testing.assert_allclose(policies.gaussian_log_prob(mean, log_std, action), expected, rtol=1e-5)


def test_tanh_gaussian_density_integrates_to_one():
    with enable_x64(True):
        low, high = -2.0, 2.0
        actions = jnp.linspace(low, high, 400_001)[1:-1, None]
        density = jnp.exp(policies.tanh_gaussian_log_prob(jnp.array([0.7]), jnp.array([-0.3]), actions, low, high))
        integral = jnp.trapezoid(density, actions[:, 0])
        np.testing.assert_allclose(integral, 1.0, atol=1e-6)


def test_tanh_gaussian_log_prob_matches_change_of_variables_reference():
    mean, log_std, low, high = 0.4, 0.1, -2.0, 2.0
    u = np.linspace(-3, 3, 13)
    action = low + (np.tanh(u) + 1) * (high - low) / 2
    # |da/du| = (1 - tanh(u)^2) (high - low) / 2, computed directly rather than in the stable form.
    reference = scipy.stats.norm.logpdf(u, mean, np.exp(log_std)) - np.log((1 - np.tanh(u) ** 2) * (high - low) / 2)
    computed = policies.tanh_gaussian_log_prob(
        jnp.array([mean]), jnp.array([log_std]), jnp.asarray(action)[:, None], low, high
    )
    np.testing.assert_allclose(computed, reference, rtol=1e-4)


def test_tanh_gaussian_sample_returns_the_density_of_its_own_action():
    mean, log_std = jnp.array([0.2, -0.4]), jnp.array([-0.1, 0.3])
    keys = jax.random.split(jax.random.PRNGKey(0), 50)
    actions, log_probs = jax.vmap(lambda k: policies.tanh_gaussian_sample(k, mean, log_std, -2.0, 2.0))(keys)
    assert jnp.all(jnp.abs(actions) <= 2.0)
    recomputed = policies.tanh_gaussian_log_prob(mean, log_std, actions, -2.0, 2.0)
    np.testing.assert_allclose(log_probs, recomputed, rtol=1e-3, atol=1e-3)


def test_tanh_gaussian_samples_follow_the_squashed_law():
    mean, log_std = 0.5, -0.2
    keys = jax.random.split(jax.random.PRNGKey(1), 20_000)
    actions, _ = jax.vmap(lambda k: policies.tanh_gaussian_sample(k, jnp.array([mean]), jnp.array([log_std])))(keys)
    cdf = lambda a: scipy.stats.norm.cdf(np.arctanh(np.clip(a, -1 + 1e-12, 1 - 1e-12)), mean, np.exp(log_std))
    assert scipy.stats.kstest(np.asarray(actions[:, 0], dtype=float), cdf).pvalue > 1e-3


def test_log_one_minus_tanh_squared_is_stable_and_exact():
    u = jnp.array([-30.0, -3.0, 0.0, 2.0, 30.0])
    assert jnp.all(jnp.isfinite(policies.log_one_minus_tanh_squared(u)))
    np.testing.assert_allclose(
        policies.log_one_minus_tanh_squared(u[1:4]), jnp.log(1 - jnp.tanh(u[1:4]) ** 2), rtol=1e-5
    )


def test_categorical_log_prob_and_entropy():
    logits = jnp.array([0.2, -1.0, 1.5])
    probabilities = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(policies.categorical_log_prob(logits, jnp.array(2)), np.log(probabilities[2]), rtol=1e-6)
    np.testing.assert_allclose(policies.categorical_entropy(logits), scipy.stats.entropy(probabilities), rtol=1e-6)


def test_tanh_gaussian_log_prob_is_finite_on_the_bounds_where_clipped_actions_sit():
    """a = +-2 exactly (a clipped replay action) is read BOUND_MARGIN inside the box: finite, and equal to
    the density there; an interior action keeps its exact change-of-variables density."""
    mean, log_std = jnp.array([0.3]), jnp.array([-0.5])
    on_bounds = policies.tanh_gaussian_log_prob(mean, log_std, jnp.array([[-2.0], [2.0]]), -2.0, 2.0)
    assert bool(jnp.all(jnp.isfinite(on_bounds)))
    inside = 2.0 * (1.0 - policies.BOUND_MARGIN)
    just_inside = policies.tanh_gaussian_log_prob(mean, log_std, jnp.array([[-inside], [inside]]), -2.0, 2.0)
    np.testing.assert_allclose(on_bounds, just_inside, rtol=1e-5)
    interior = jnp.array([[0.5]])
    u = np.arctanh(0.25)
    reference = scipy.stats.norm.logpdf(u, 0.3, np.exp(-0.5)) - np.log(2.0 * (1 - np.tanh(u) ** 2))
    np.testing.assert_allclose(
        policies.tanh_gaussian_log_prob(mean, log_std, interior, -2.0, 2.0), reference, rtol=1e-5
    )


def test_categorical_log_prob_accepts_every_valid_action_under_jit_and_vmap():
    logits = jnp.array([[0.2, -1.0], [1.0, 0.0]])
    values = jax.jit(jax.vmap(policies.categorical_log_prob))(logits, jnp.array([1, 0]))
    np.testing.assert_allclose(values, jax.nn.log_softmax(logits)[jnp.arange(2), jnp.array([1, 0])], rtol=1e-6)
