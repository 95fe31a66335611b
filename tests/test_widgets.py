"""The slider helper: live redraws in a kernel, and the precomputed frames of the static site."""
import base64
import io
import re

import ipywidgets as widgets
import jax
import jax.numpy as jnp
import matplotlib
import pytest
from PIL import Image

from lib import widgets as lib_widgets
from lib.widgets import SliderGrid, frame_keys, interactive_figure

matplotlib.use("Agg")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_moving_a_slider_redraws_with_the_new_value_without_recompiling():
    @jax.jit
    def curve(theta):
        return jnp.sin(theta * jnp.linspace(0, 1, 50))

    seen = []

    def draw(fig, theta, n):
        seen.append((theta, n))
        fig.add_subplot().plot(curve(jnp.asarray(theta)))

    theta, n = widgets.FloatSlider(value=1.0, min=0, max=3), widgets.IntSlider(value=5, min=1, max=9)
    figure = interactive_figure(draw, theta=theta, n=n)
    theta.value = 2.5
    n.value = 7
    assert seen == [(1.0, 5), (2.5, 5), (2.5, 7)]
    assert curve._cache_size() == 1
    assert figure.widget.children[0].children == (theta, n)


def test_interactive_figure_needs_a_slider():
    with pytest.raises(ValueError, match="slider"):
        interactive_figure(lambda fig: None)


def test_a_widget_that_is_not_a_slider_is_rejected_by_name():
    with pytest.raises(TypeError, match="'flag' is a Checkbox"):
        interactive_figure(lambda fig, flag: None, flag=widgets.Checkbox())


def test_grids_span_the_slider_keep_its_initial_value_and_at_most_nine_values():
    float_grid = SliderGrid("theta", widgets.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.1, description="θ"))
    assert float_grid.values == [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
    assert float_grid.labels[float_grid.start] == "1.00" and float_grid.description == "θ"
    off_grid = SliderGrid("n", widgets.IntSlider(value=100, min=10, max=1000, step=10))
    assert off_grid.values[0] == 10 and off_grid.values[-1] == 1000 and off_grid.values[off_grid.start] == 100
    assert len(off_grid.values) == lib_widgets.MAX_VALUES and off_grid.values == sorted(off_grid.values)
    log_grid = SliderGrid("tau", widgets.FloatLogSlider(value=0.5, base=10, min=-2, max=1, step=0.05))
    assert log_grid.values[0] == pytest.approx(0.01) and log_grid.values[-1] == pytest.approx(10.0)
    assert log_grid.values[log_grid.start] == 0.5
    choice = SliderGrid("i", widgets.SelectionSlider(options=[("0.005", 0), ("0.5", 1), ("2.0", 2)], value=1))
    assert (choice.labels, choice.values, choice.start) == (["0.005", "0.5", "2.0"], [0, 1, 2], 1)


def test_frames_cover_the_product_when_it_fits_and_one_slider_at_a_time_otherwise():
    small = [SliderGrid("a", widgets.IntSlider(value=2, min=0, max=4)), SliderGrid("b", widgets.IntSlider(value=0, min=0, max=4))]
    assert len(frame_keys(small)) == 5 * 5
    pair = [SliderGrid(name, widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01)) for name in "ab"]
    keys = frame_keys(pair)
    assert len(keys) <= lib_widgets.MAX_FRAMES and len(keys) == len(pair[0].values) * len(pair[1].values)
    assert all(len(grid.values) >= lib_widgets.MIN_VALUES and 0.5 in grid.values for grid in pair)
    triple = [SliderGrid(name, widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01)) for name in "abc"]
    keys = frame_keys(triple)
    start = tuple(grid.start for grid in triple)
    assert len(keys) == 1 + 3 * (lib_widgets.MAX_VALUES - 1)
    assert all(sum(k != s for k, s in zip(key, start)) <= 1 for key in keys)
    five = [SliderGrid(name, widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01)) for name in "abcde"]
    assert len(frame_keys(five)) <= lib_widgets.MAX_FRAMES
    assert all(len(grid.values) == 5 and grid.values[0] == 0.0 and grid.values[-1] == 1.0 for grid in five)


def test_static_view_draws_every_frame_with_its_values_and_shows_the_initial_one(monkeypatch):
    monkeypatch.setenv(lib_widgets.STATIC_VIEW_VARIABLE, "1")
    calls = []

    def draw(fig, theta, n):
        calls.append((theta, n))
        fig.add_subplot().plot([0, 1], [0, theta * n])

    figure = interactive_figure(draw, figsize=(5, 2),
                                theta=widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.5, description="θ"),
                                n=widgets.SelectionSlider(options=[("one", 1), ("ten", 10)], value=10, description="n"))
    calls.clear()  # the live widget's first draw
    bundle = figure._repr_mimebundle_()
    assert WIDGET_VIEW in bundle
    html = bundle["text/html"]
    images = re.findall(r'<img data-key="([\d,]+)" alt="([^"]*)" style="([^"]*)" src="data:image/png;base64,([^"]+)"', html)
    assert sorted(calls) == [(theta, n) for theta in (0.0, 0.5, 1.0, 1.5, 2.0) for n in (1, 10)]
    assert len(images) == 10
    visible = [(key, alt) for key, alt, style, _ in images if "display:none" not in style]
    assert visible == [("2,1", "θ = 1.00, n = ten")]
    width, height = Image.open(io.BytesIO(base64.b64decode(images[0][3]))).size
    assert (width, height) == (5 * lib_widgets.DPI, 2 * lib_widgets.DPI)
    assert html.count('type="range"') == 2 and "<script>" in html


def test_without_the_variable_only_the_live_view_is_shown_and_no_frame_is_drawn(monkeypatch):
    monkeypatch.delenv(lib_widgets.STATIC_VIEW_VARIABLE, raising=False)
    calls = []
    figure = interactive_figure(lambda fig, theta: calls.append(theta),
                                theta=widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.5))
    calls.clear()
    bundle = figure._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "text/html" not in bundle and calls == []
