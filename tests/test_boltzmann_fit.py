"""The one Gaussian-to-Boltzmann fitter, on chapter 22's two-peaked q (against a grid search of the exact
KL) and chapter 25's skewed q (against the closed-form fit, and DPG at temperature 0)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.algorithms import soft, svg
from lib.parts.boltzmann_fit import fit_gaussian_to_boltzmann, sampled_noise


def hermite_noise(num_adam_steps, num_nodes=40):
    """The same Gauss-Hermite nodes at every Adam step, and their weights (they sum to 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    nodes = jnp.broadcast_to(jnp.asarray(nodes, jnp.float32), (num_adam_steps, num_nodes))
    return nodes, jnp.asarray(weights / np.sqrt(2 * np.pi), jnp.float32)


def test_sampled_fit_reaches_the_minimum_kl_over_gaussians():
    grid = jnp.linspace(-6.0, 6.0, 4001)
    temperature = 2.0  # warm: one wide Gaussian covers both modes, a single basin
    noise = sampled_noise(jax.random.PRNGKey(5), 600, 128)
    path = fit_gaussian_to_boltzmann(soft.multimodal_q, temperature, noise, mean=-2.0, log_std=-1.0)
    assert path.shape == (601, 2) and np.array_equal(path[0], [-2.0, -1.0])
    fitted = float(soft.kl_gaussian_to_boltzmann(path[-1, 0], path[-1, 1], soft.multimodal_q, temperature, grid))
    means, log_stds = jnp.meshgrid(jnp.linspace(-2, 2, 81), jnp.linspace(-1.5, 1.5, 61))
    kl_grid = jax.vmap(lambda m, s: soft.kl_gaussian_to_boltzmann(m, s, soft.multimodal_q, temperature, grid))(
        means.ravel(), log_stds.ravel()
    )
    assert fitted <= float(kl_grid.min()) + 5e-3, (fitted, float(kl_grid.min()))


def test_quadrature_fit_matches_the_closed_form_and_collapses_to_dpg():
    noise, weights = hermite_noise(3000)
    for alpha in (1.0, 0.1, 0.01):
        path = fit_gaussian_to_boltzmann(svg.skewed_q, alpha, noise, weights)
        mean, std = svg.soft_gaussian_closed_form(alpha)
        assert float(path[-1, 0]) == pytest.approx(float(mean), abs=2e-3)
        assert float(jnp.exp(path[-1, 1])) == pytest.approx(float(std), rel=2e-2)
    at_zero = fit_gaussian_to_boltzmann(svg.skewed_q, 0.0, noise, weights)[-1]
    assert float(at_zero[0]) == pytest.approx(np.log(2.0), abs=2e-3)  # temperature 0: DPG, width shrinking
    assert float(at_zero[1]) < -3.0
    assert float(svg.fit_dpg(svg.skewed_q)) == pytest.approx(np.log(2.0), abs=1e-3)


def test_the_default_weights_are_the_sample_mean():
    noise = sampled_noise(jax.random.PRNGKey(0), 50, 16)
    default = fit_gaussian_to_boltzmann(soft.multimodal_q, 0.7, noise)
    explicit = fit_gaussian_to_boltzmann(soft.multimodal_q, 0.7, noise, jnp.full(16, 1 / 16))
    np.testing.assert_array_equal(default, explicit)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"temperature": -0.5}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": float("inf")}, "temperature"),
        ({"temperature": jnp.array([1.0, -1.0])}, "temperature"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"noise": jnp.zeros(5)}, "noise"),
        ({"weights": jnp.ones(3)}, "weights"),
    ],
)
def test_bad_arguments_are_refused_by_name(changes, message):
    arguments = {"temperature": 1.0, "noise": jnp.zeros((5, 4)), "weights": None, "learning_rate": 0.05, **changes}
    with pytest.raises(ValueError, match=message):
        fit_gaussian_to_boltzmann(soft.multimodal_q, **arguments)
