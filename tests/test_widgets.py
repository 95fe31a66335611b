"""The slider helper redraws with the slider's values and reuses compiled code."""
import ipywidgets as widgets
import jax
import jax.numpy as jnp
import matplotlib
import pytest

from lib.widgets import interactive_figure

matplotlib.use("Agg")


def test_moving_a_slider_redraws_with_the_new_value_without_recompiling():
    @jax.jit
    def curve(theta):
        return jnp.sin(theta * jnp.linspace(0, 1, 50))

    seen = []

    def draw(fig, theta, n):
        seen.append((theta, n))
        fig.add_subplot().plot(curve(jnp.asarray(theta)))

    theta, n = widgets.FloatSlider(value=1.0, min=0, max=3), widgets.IntSlider(value=5, min=1, max=9)
    box = interactive_figure(draw, theta=theta, n=n)
    theta.value = 2.5
    n.value = 7
    assert seen == [(1.0, 5), (2.5, 5), (2.5, 7)]
    assert curve._cache_size() == 1
    assert box.children[0].children == (theta, n)


def test_interactive_figure_needs_a_slider():
    with pytest.raises(ValueError, match="slider"):
        interactive_figure(lambda fig: None)
