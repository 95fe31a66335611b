"""The slider helper: live redraws in a kernel, and the precomputed frames of the static site."""

import base64
import io
import re

import ipywidgets as widgets
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from lib.notebook import widgets as lib_widgets
from lib.notebook.plotting import COLUMN_PX, MIN_TEXT_PX
from lib.notebook.widgets import RedrawnFigure, SliderGrid, defer_hidden_frames, frame_keys, interactive_figure

matplotlib.use("Agg")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TITLE, ALT = "a test line", "A line from the origin whose end rises with theta."


def figure_of(draw, figsize=(8, 4), **sliders):
    """`interactive_figure` with a title and an alt text, whose update is `draw(fig, **values)`: the tests
    of the sliders' grids and frames need a figure, not particular artists."""
    return interactive_figure(
        whole_figure, lambda artists, **values: draw(artists["fig"], **values), figsize, title=TITLE, alt=ALT, **sliders
    )


def whole_figure(fig):
    fig.add_subplot()  # build makes the axes; a `draw` that rebuilds them calls fig.clear() first
    return {"fig": fig}


def test_moving_a_slider_redraws_with_the_new_value_without_recompiling():
    @jax.jit
    def curve(theta):
        return jnp.sin(theta * jnp.linspace(0, 1, 50))

    seen = []

    def draw(fig, theta, n):
        seen.append((theta, n))
        fig.clear()
        fig.add_subplot().plot(curve(jnp.asarray(theta)))

    theta, n = widgets.FloatSlider(value=1.0, min=0, max=3), widgets.IntSlider(value=5, min=1, max=9)
    figure = figure_of(draw, theta=theta, n=n)
    theta.value = 2.5
    n.value = 7
    assert seen == [(1.0, 5), (2.5, 5), (2.5, 7)]
    assert curve._cache_size() == 1
    assert figure.widget.children[0].children == (theta, n)


def test_sliders_moved_back_to_values_seen_show_the_kept_image_without_drawing_again():
    seen = []
    theta = widgets.FloatSlider(value=1.0, min=0, max=3)
    figure_of(lambda fig, theta: seen.append(theta), theta=theta)
    for value in (2.5, 1.0, 2.5, 3.0):
        theta.value = value
    assert seen == [1.0, 2.5, 3.0]


def pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_the_live_image_keeps_text_outside_the_figure():
    def build(fig):
        fig.add_subplot().plot([0, 1], [0, 2])
        fig.text(0.5, -0.3, "a label below the figure", ha="center")
        return {}

    live = pixels(lib_widgets._live_png(RedrawnFigure(build, lambda artists: None, (6, 3)), {}))
    assert live.shape[0] > 3 * Figure().dpi, "the text below the figure was cut off"


def build_line(fig):
    """The axes and the line that `update_line` moves, built once."""
    ax = fig.add_subplot()
    (line,) = ax.plot([0, 1], [0, 0], label="a line")
    ax.set(xlim=(0, 1), ylim=(-1, 3), xlabel="x")
    ax.legend(loc="upper left")
    return {"ax": ax, "line": line}


def update_line(artists, theta):
    artists["line"].set_ydata([0, theta])
    artists["ax"].set_title(f"theta = {theta:.1f}")


def line_figure():
    return RedrawnFigure(build_line, update_line, (5, 3))


def test_an_updated_figure_gives_the_image_of_a_figure_built_for_its_values():
    updated = line_figure()
    for theta in (0.5, 2.0, 1.0):
        updated_image = pixels(lib_widgets._live_png(updated, {"theta": theta}))
    built_image = pixels(lib_widgets._live_png(line_figure(), {"theta": 1.0}))
    np.testing.assert_array_equal(updated_image, built_image)


def test_the_cropped_image_matches_matplotlibs_tight_bounding_box():
    fig = line_figure().draw({"theta": 1.0})
    cropped = lib_widgets._tight_image(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches="tight", pad_inches=lib_widgets.PAD_INCHES)
    tight = Image.open(buffer)
    assert abs(cropped.width - tight.width) <= 1 and abs(cropped.height - tight.height) <= 1
    assert cropped.width < 5 * fig.dpi - 20, "nothing was cropped"


def test_an_update_that_adds_axes_is_told_to_make_them_in_build():
    theta = widgets.FloatSlider(value=1.0, min=0, max=3)
    with pytest.raises(RuntimeError, match=r"from 1 to 2 axes.*in build"):
        interactive_figure(
            lambda fig: {"ax": fig.add_subplot()},
            lambda artists, theta: artists["ax"].figure.add_subplot(),
            title=TITLE,
            alt=ALT,
            theta=theta,
        )


def test_a_build_that_returns_no_dict_is_told_what_to_return():
    with pytest.raises(TypeError, match="dict of the artists"):
        interactive_figure(
            lambda fig: fig.add_subplot().plot([0, 1]),
            update_line,
            title=TITLE,
            alt=ALT,
            theta=widgets.FloatSlider(value=1.0, min=0, max=3),
        )


def test_frames_that_depend_on_earlier_values_are_refused(monkeypatch):
    monkeypatch.setenv(lib_widgets.STATIC_VIEW_VARIABLE, "1")

    def draw_title_once(fig, theta):
        if not fig.axes[0].get_title():
            fig.axes[0].set_title(f"theta = {theta}")  # the title keeps the first value drawn
        fig.axes[0].plot([0, 1], [0, theta])

    figure = figure_of(draw_title_once, theta=widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.5))
    with pytest.raises(RuntimeError, match="initial values, drawn again"):
        figure._repr_mimebundle_()


def test_interactive_figure_needs_a_slider():
    with pytest.raises(ValueError, match="slider"):
        figure_of(lambda fig: None)


def test_a_widget_that_is_not_a_slider_is_rejected_by_name():
    with pytest.raises(TypeError, match="'flag' is a Checkbox"):
        figure_of(lambda fig, flag: None, flag=widgets.Checkbox())


def scale_gaps(grid, log=False):
    """Gaps between the grid's neighbouring values in the slider's own scale, to 9 digits."""
    points = np.log10(grid.values) if log else np.asarray(grid.values, dtype=float)
    return np.round(np.diff(points), 9).tolist()


def test_an_exact_grid_keeps_both_ends_the_initial_value_and_even_gaps():
    float_grid = SliderGrid("theta", widgets.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.1, description="θ"))
    assert float_grid.values == [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
    assert float_grid.labels[float_grid.start] == "1.00" and float_grid.description == "θ"
    # 20 steps from 0 to 1 with the initial value at step 10: every 5th step, not 9 uneven values
    lam = SliderGrid("lam", widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05))
    assert lam.values == [0.0, 0.25, 0.5, 0.75, 1.0]
    log_grid = SliderGrid("beta", widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.05))
    assert log_grid.values[0] == pytest.approx(0.1) and log_grid.values[-1] == pytest.approx(10.0)
    assert len(log_grid.values) == lib_widgets.MAX_VALUES and set(scale_gaps(log_grid, log=True)) == {0.25}
    assert log_grid.values[log_grid.start] == 1.0


def test_without_an_exact_grid_the_steps_are_even_from_the_initial_value_and_the_ends_stay():
    """The initial value 100 sits at step 9 of 99: no stride divides both, so every k-th step from 100."""
    grid = SliderGrid("n", widgets.IntSlider(value=100, min=10, max=1000, step=10))
    assert grid.values[0] == 10 and grid.values[-1] == 1000 and grid.values[grid.start] == 100
    assert len(grid.values) <= lib_widgets.MAX_VALUES
    gaps = scale_gaps(grid)
    inner = gaps[1:-1]
    assert len(set(inner)) == 1 and max(gaps[0], gaps[-1]) <= inner[0], gaps
    log_grid = SliderGrid("tau", widgets.FloatLogSlider(value=0.5, base=10, min=-2, max=1, step=0.05))
    assert log_grid.values[0] == pytest.approx(0.01) and log_grid.values[-1] == pytest.approx(10.0)
    assert log_grid.values[log_grid.start] == 0.5 and len(log_grid.values) <= lib_widgets.MAX_VALUES
    # the initial value 0.5 is 10^-0.301, 0.001 off its step: to 2 digits the inner log gaps agree
    gaps = np.round(scale_gaps(log_grid, log=True), 2).tolist()
    assert len(set(gaps[1:-1])) == 1 and max(gaps[0], gaps[-1]) <= gaps[1], gaps


def test_a_selection_keeps_every_option_even_beside_a_numeric_slider():
    choice = SliderGrid("i", widgets.SelectionSlider(options=[("0.005", 0), ("0.5", 1), ("2.0", 2)], value=1))
    assert (choice.labels, choice.values, choice.start) == (["0.005", "0.5", "2.0"], [0, 1, 2], 1)
    noise = SliderGrid("noise", widgets.SelectionSlider(options=[0.0, 0.05, 0.1, 0.2, 0.4, 0.8], value=0.1))
    depth = SliderGrid("n", widgets.IntSlider(value=4, min=0, max=40))
    keys = frame_keys([noise, depth])
    assert (
        noise.values == [0.0, 0.05, 0.1, 0.2, 0.4, 0.8] and len(keys) == 6 * len(depth.values) <= lib_widgets.MAX_FRAMES
    )
    assert depth.values[0] == 0 and depth.values[-1] == 40 and 4 in depth.values


def test_a_selection_with_more_options_than_frames_is_refused_by_name():
    too_many = widgets.SelectionSlider(options=list(range(lib_widgets.MAX_FRAMES + 1)))
    with pytest.raises(ValueError, match=f"'alpha' has {lib_widgets.MAX_FRAMES + 1} options"):
        figure_of(lambda fig, alpha: None, alpha=too_many)


def test_a_selection_with_an_unhashable_option_is_refused_by_name():
    with pytest.raises(TypeError, match="'weights' has an option value that is not hashable"):
        figure_of(
            lambda fig, weights: None, weights=widgets.SelectionSlider(options=[("flat", [1, 1]), ("steep", [1, 3])])
        )


def test_frames_cover_the_product_when_it_fits_and_one_slider_at_a_time_otherwise():
    small = [
        SliderGrid("a", widgets.IntSlider(value=2, min=0, max=4)),
        SliderGrid("b", widgets.IntSlider(value=0, min=0, max=4)),
    ]
    assert len(frame_keys(small)) == 5 * 5
    pair = [SliderGrid(name, widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01)) for name in "ab"]
    keys = frame_keys(pair)
    assert len(keys) <= lib_widgets.MAX_FRAMES and len(keys) == len(pair[0].values) * len(pair[1].values)
    assert all(len(grid.values) >= lib_widgets.MIN_VALUES and 0.5 in grid.values for grid in pair)
    assert all(grid.values[0] == 0.0 and grid.values[-1] == 1.0 for grid in pair)
    triple = [SliderGrid(name, widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.125)) for name in "abc"]
    keys = frame_keys(triple)
    start = tuple(grid.start for grid in triple)
    assert len(keys) == 1 + 3 * (lib_widgets.MAX_VALUES - 1)
    assert all(sum(k != s for k, s in zip(key, start)) <= 1 for key in keys)
    five = [SliderGrid(name, widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01)) for name in "abcde"]
    assert len(frame_keys(five)) <= lib_widgets.MAX_FRAMES
    assert all(grid.values == [0.0, 0.25, 0.5, 0.75, 1.0] for grid in five)
    selections = [SliderGrid(name, widgets.SelectionSlider(options=list(range(6)), value=2)) for name in "ab"]
    keys = frame_keys(selections)
    assert len(keys) == 1 + 2 * 5 and all(len(grid.values) == 6 for grid in selections)


def test_live_sliders_sit_at_most_three_to_a_row_and_keep_their_width():
    sliders = {name: widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05) for name in "abcde"}
    figure = figure_of(lambda fig, **values: None, **sliders)
    rows = figure.widget.children[:-1]
    assert [row.children for row in rows] == [tuple(sliders.values())[:3], tuple(sliders.values())[3:]]
    assert all(slider.layout.min_width == lib_widgets.LIVE_SLIDER_WIDTH for slider in sliders.values())


def test_static_view_draws_every_frame_with_its_values_and_shows_the_initial_one(monkeypatch):
    monkeypatch.setenv(lib_widgets.STATIC_VIEW_VARIABLE, "1")
    calls = []

    def draw(fig, theta, n):
        calls.append((theta, n))
        fig.clear()
        fig.add_subplot().plot([0, 1], [0, theta * n])

    figure = figure_of(
        draw,
        figsize=(5, 2),
        theta=widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.5, description="θ"),
        n=widgets.SelectionSlider(options=[("one", 1), ("ten", 10)], value=10, description="n"),
    )
    calls.clear()  # the live widget's first draw
    bundle = figure._repr_mimebundle_()
    assert WIDGET_VIEW in bundle
    html = bundle["text/html"]
    images = re.findall(
        r'<img data-key="([\d,]+)" alt="([^"]*)" style="([^"]*)" src="data:image/png;base64,([^"]+)"', html
    )
    assert sorted(calls[:-1]) == [(theta, n) for theta in (0.0, 0.5, 1.0, 1.5, 2.0) for n in (1, 10)]
    assert calls[-1] == (1.0, 10), "the initial values are drawn again last, to check the frames depend on them alone"
    assert len(images) == 10
    visible = [(key, alt) for key, alt, style, _ in images if "display:none" not in style]
    assert visible == [("2,1", f"{ALT} Drawn for θ = 1.00, n = ten.")]
    frame = Image.open(io.BytesIO(base64.b64decode(images[0][3])))
    assert frame.info["dpi"] == pytest.approx((lib_widgets.DPI, lib_widgets.DPI), abs=0.01)
    assert html.count('type="range"') == 2 and "<script>" in html
    assert lib_widgets.ONE_AT_A_TIME_NOTE not in html, "every combination has a frame: no slider resets another"


def test_static_sliders_are_named_after_their_figure_and_announce_the_value_shown(monkeypatch):
    monkeypatch.setenv(lib_widgets.STATIC_VIEW_VARIABLE, "1")
    figure = figure_of(
        lambda fig, beta: fig.clear() or fig.add_subplot().plot([0, beta]),
        beta=widgets.FloatLogSlider(value=0.1, base=10, min=-2, max=0, step=1, description="β"),
    )
    html = figure._repr_mimebundle_()["text/html"]
    assert f'<div role="group" aria-label="{TITLE}"' in html, "the sliders are a group named after their figure"
    slider = re.search(r'<input type="range"[^>]*>', html)[0]
    assert f'aria-label="β ({TITLE})"' in slider and 'value="1"' in slider
    assert 'aria-valuetext="0.1"' in slider, "a screen reader would say the position 1, not the value 0.1"
    assert 'input.setAttribute("aria-valuetext", labels[j][input.value])' in html, "moves update what it announces"


def test_a_view_that_moves_one_slider_at_a_time_says_so(monkeypatch):
    monkeypatch.setenv(lib_widgets.STATIC_VIEW_VARIABLE, "1")
    sliders = {name: widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.125) for name in "abc"}
    figure = figure_of(lambda fig, a, b, c: fig.clear() or fig.add_subplot().plot([a, b, c]), figsize=(2, 1), **sliders)
    html = figure._repr_mimebundle_()["text/html"]
    assert html.count("<img") == 1 + 3 * (lib_widgets.MAX_VALUES - 1) and lib_widgets.ONE_AT_A_TIME_NOTE in html


def test_a_figure_without_a_title_or_an_alt_text_is_refused():
    theta = widgets.FloatSlider(value=1.0, min=0.0, max=2.0)
    with pytest.raises(TypeError, match="alt"):
        interactive_figure(build_line, update_line, title=TITLE, theta=theta)
    with pytest.raises(ValueError, match="alt text"):
        interactive_figure(build_line, update_line, title=TITLE, alt=" ", theta=theta)


def test_the_site_build_moves_only_the_hidden_frames_out_of_the_page(monkeypatch):
    monkeypatch.setenv(lib_widgets.STATIC_VIEW_VARIABLE, "1")
    figure = figure_of(
        lambda fig, theta: fig.clear() or fig.add_subplot().plot([0, theta]),
        figsize=(3, 2),
        theta=widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=1.0),
    )
    html = figure._repr_mimebundle_()["text/html"]
    saved = []

    def save(png):
        saved.append(png)
        return f"frames/{len(saved)}.png"

    page = defer_hidden_frames(f"<p>before</p>{html}<p>after</p>", save)
    assert len(saved) == 2 and all(png.startswith(b"\x89PNG") for png in saved)
    assert page.count('src="data:image/png;base64,') == 1 and 'data-src="frames/1.png"' in page
    shown = re.search(r'<img data-key="1"[^>]*>', page)[0]
    assert "display:none" not in shown and "data:image/png" in shown, "the initial frame stays in the page"
    assert page.startswith("<p>before</p>") and page.endswith("<p>after</p>")


def test_frames_hold_text_outside_the_axes_and_small_legends_grow_to_the_page_minimum(monkeypatch):
    monkeypatch.setenv(lib_widgets.STATIC_VIEW_VARIABLE, "1")
    figures = []

    def draw(fig, theta):
        fig.clear()
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, theta], label="a line")
        ax.legend(fontsize=5)
        fig.text(0.5, -0.3, "a label below the figure", ha="center")  # cut off without a tight bounding box
        figures.append(fig)

    width_inches = 12  # wider than the site's column, so shown scaled down
    figure = figure_of(
        draw, figsize=(width_inches, 2), theta=widgets.FloatSlider(value=1.0, min=0.0, max=1.0, step=1.0)
    )
    html = figure._repr_mimebundle_()["text/html"]
    frames = [Image.open(io.BytesIO(base64.b64decode(data))) for data in re.findall(r'base64,([^"]+)"', html)]
    assert len(frames) == 2 and all(frame.height > 2.3 * lib_widgets.DPI for frame in frames)
    for fig, frame in zip(figures[1:], frames):
        shown_pixels_per_inch = lib_widgets.DPI * min(1.0, COLUMN_PX / frame.width)
        legend_size = fig.axes[0].get_legend().get_texts()[0].get_fontsize()
        assert legend_size / 72 * shown_pixels_per_inch >= MIN_TEXT_PX - 0.5


def test_without_the_variable_only_the_live_view_is_shown_and_no_frame_is_drawn(monkeypatch):
    monkeypatch.delenv(lib_widgets.STATIC_VIEW_VARIABLE, raising=False)
    calls = []
    figure = figure_of(
        lambda fig, theta: calls.append(theta), theta=widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.5)
    )
    calls.clear()
    bundle = figure._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "text/html" not in bundle and calls == []


def test_a_figure_drawn_up_to_its_edges_is_cropped_from_one_draw(monkeypatch):
    """Tick labels within the margin of the edge are still inside the figure: no tight-box redraw."""
    fig = line_figure().draw({"theta": 1.0})
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.16, top=0.9)  # the title ends 0.07 inch below the top
    monkeypatch.setattr(Figure, "savefig", lambda *args, **kwargs: pytest.fail("fell back to the tight bounding box"))
    image = lib_widgets._tight_image(fig)
    assert image.width <= 5 * fig.dpi and image.height <= 3 * fig.dpi


def test_the_static_view_shows_the_frame_of_the_initial_values_when_its_grids_shrink(monkeypatch):
    """Two 9-value sliders make 81 frames; the grids shrink to 5 values each, which moves the index of the
    initial value: the frame shown first must be the one its sliders read."""
    monkeypatch.setenv(lib_widgets.STATIC_VIEW_VARIABLE, "1")
    sliders = {name: widgets.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.25) for name in "ab"}
    figure = figure_of(lambda fig, a, b: fig.axes[0].set_title(f"{a:.2f} {b:.2f}"), figsize=(2, 1), **sliders)
    page = figure._repr_mimebundle_()["text/html"]
    shown = re.findall(r'<img data-key="([\d,]+)" alt="[^"]*" style="max-width', page)
    values = re.findall(r'<input type="range"[^>]* value="(\d+)"', page)
    labels = re.findall(r"<output>([^<]*)</output>", page)
    assert shown == [",".join(values)] and labels == ["0.00", "0.00"], (shown, values, labels)
