"""Sliders that redraw a figure: live in Jupyter, precomputed on the static site.

`interactive_figure(draw, theta=FloatSlider(...), ...)` returns one object with two views of the
same sliders and `draw(fig, **values)`:

- in a running kernel, the ipywidgets view: sliders above a figure, redrawn on every move;
- for the static site, a `text/html` view: the figure drawn once for each point of a grid over the
  sliders' ranges (small PNGs), under plain range inputs whose few lines of JavaScript show the
  image of the current values. It needs no kernel and no network. The site's build prefers this
  view (`nb_mime_priority_overrides` in `_config.yml`); Jupyter prefers the live one.

The grid keeps at most `MAX_VALUES` values of each slider, always with its initial value. If the
full product of the grids has more than `MAX_FRAMES` points, the grids shrink (down to `MIN_VALUES`
each); if that is not enough (three sliders or more), the page holds each slider's grid with the
others at their initial values (at most `MAX_FRAMES` figures again: 9 values a slider for three
sliders, 5 for five), and moving one slider there returns the others to their initial values.

Drawing the frames takes seconds, so only a kernel started with the environment variable
`STATIC_VIEW_VARIABLE` set to 1 draws them: `python -m tools.execute`, which stores the outputs the
site is built from, sets it; a reader's Jupyter and the nbval tests get the live view alone.

Keep the work inside `draw` to jitted `lib` calls whose array arguments change but whose shapes do
not, so a move reuses the compiled code.
"""
import base64
import html
import io
import itertools
import json
import math
import os

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

STATIC_VIEW_VARIABLE = "LIB_STATIC_SLIDER_VIEW"   # "1": also store the static view (see above)
MAX_VALUES = 9    # values of one slider on the static page
MIN_VALUES = 4    # fewer than this per slider and the grid becomes one slider at a time
MAX_FRAMES = 25   # figures per cell: each costs a draw (~0.5 s) and 10-25 kB of notebook
DPI = 60          # the static page's figures: a 10-inch figure is 600 pixels wide
COLORS = 128      # palette of the stored PNGs: a third of the size of full colour, alike to the eye

# Swaps the image of the current values; a combination without an image resets the other sliders.
_SCRIPT = """(function (root) {
  const inputs = Array.from(root.querySelectorAll("input[type=range]"));
  const start = inputs.map((input) => input.value);
  const key = () => inputs.map((input) => input.value).join(",");
  const image = (k) => root.querySelector('img[data-key="' + k + '"]');
  inputs.forEach((moved) => moved.addEventListener("input", () => {
    if (!image(key())) inputs.forEach((other, j) => { if (other !== moved) other.value = start[j]; });
    inputs.forEach((input) => { input.nextElementSibling.textContent = JSON.parse(input.dataset.labels)[input.value]; });
    root.querySelectorAll("img[data-key]").forEach((img) => { img.style.display = img.dataset.key === key() ? "" : "none"; });
  }));
})(document.currentScript.parentElement);"""


class SliderGrid:
    """The values of one slider on the static page: labels, values, and the initial value's position."""

    def __init__(self, name, slider):
        self.name, self.description = name, slider.description or name
        if hasattr(slider, "_options_values"):  # SelectionSlider, Dropdown, ...
            labels, values, start = list(slider._options_labels), list(slider._options_values), slider.index
        elif isinstance(slider, (widgets.IntSlider, widgets.FloatSlider, widgets.FloatLogSlider)):
            labels, values, start = _numeric_grid(slider)
        else:
            raise TypeError(f"interactive_figure: slider {name!r} is a {type(slider).__name__}; use an "
                            "IntSlider, FloatSlider, FloatLogSlider or a selection widget (SelectionSlider, Dropdown)")
        self._labels, self._values, self._start = labels, values, start
        self.resize(MAX_VALUES)

    @property
    def full_size(self):
        return len(self._values)

    def resize(self, count):
        """Keep `count` evenly spread values of the full grid, the initial one among them."""
        picks = np.unique(np.round(np.linspace(0, self.full_size - 1, min(count, self.full_size))).astype(int))
        picks[np.argmin(np.abs(picks - self._start))] = self._start
        self.positions = [int(p) for p in picks]
        self.start = self.positions.index(self._start)

    @property
    def labels(self):
        return [self._labels[p] for p in self.positions]

    @property
    def values(self):
        return [self._values[p] for p in self.positions]


def _numeric_grid(slider):
    """Every value the slider can take (min + k step), with its exact initial value in its place."""
    log = isinstance(slider, widgets.FloatLogSlider)
    position = math.log(slider.value, slider.base) if log else slider.value
    count = int(round((slider.max - slider.min) / slider.step)) + 1
    start = int(round((position - slider.min) / slider.step))
    steps = [slider.min + k * slider.step for k in range(count)]
    if isinstance(slider, widgets.IntSlider):
        values = [int(v) for v in steps]
    else:
        values = [float(slider.base ** v if log else round(v, 12)) for v in steps]
    values[start] = slider.value
    fmt = slider.readout_format
    return [format(v, fmt) for v in values], values, start


def frame_keys(grids):
    """Index tuples of the figures to store (resizing `grids`): the product if it fits, else one slider at a time."""
    sizes = [min(grid.full_size, MAX_VALUES) for grid in grids]
    while math.prod(sizes) > MAX_FRAMES and max(sizes) > MIN_VALUES:
        sizes[int(np.argmax(sizes))] -= 1
    fits = math.prod(sizes) <= MAX_FRAMES
    for grid, size in zip(grids, sizes):
        grid.resize(size if fits else 1 + (MAX_FRAMES - 1) // len(grids))
    if fits:
        return list(itertools.product(*(range(len(grid.positions)) for grid in grids)))
    start = tuple(grid.start for grid in grids)
    keys = {start[:i] + (k,) + start[i + 1:] for i, grid in enumerate(grids) for k in range(len(grid.positions))}
    return sorted(keys)


def _png(draw, figsize, values):
    """`draw` on a fresh figure (outside pyplot, so nothing is displayed), as a base64 PNG."""
    fig = Figure(figsize=figsize)
    draw(fig, **values)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    palette = Image.open(buffer).convert("RGB").quantize(colors=COLORS)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class InteractiveFigure:
    """Sliders and a figure: the live widget in Jupyter (`widget`), precomputed frames elsewhere."""

    def __init__(self, draw, figsize, sliders):
        self.draw, self.figsize = draw, figsize
        self.grids = [SliderGrid(name, slider) for name, slider in sliders.items()]

        def redraw(**values):
            fig = plt.figure(figsize=figsize)
            draw(fig, **values)
            plt.show()

        figure_output = widgets.interactive_output(redraw, sliders)
        self.widget = widgets.VBox([widgets.HBox(list(sliders.values())), figure_output])

    def static_html(self):
        """The frames and range inputs: an HTML fragment that works without a kernel."""
        keys = frame_keys(self.grids)
        start = tuple(grid.start for grid in self.grids)
        controls = "".join(
            f'<label style="margin-right:1.5em">{html.escape(grid.description)} '
            f'<input type="range" min="0" max="{len(grid.positions) - 1}" step="1" value="{grid.start}" '
            f'data-labels="{html.escape(json.dumps(grid.labels))}" style="vertical-align:middle">'
            f"<output>{html.escape(grid.labels[grid.start])}</output></label>" for grid in self.grids)
        images = []
        for key in keys:
            values = {grid.name: grid.values[k] for grid, k in zip(self.grids, key)}
            alt = ", ".join(f"{grid.description} = {grid.labels[k]}" for grid, k in zip(self.grids, key))
            hidden = "" if key == start else "display:none;"
            images.append(f'<img data-key="{",".join(map(str, key))}" alt="{html.escape(alt)}" '
                          f'style="{hidden}max-width:100%" src="data:image/png;base64,{_png(self.draw, self.figsize, values)}">')
        return (f'<div class="interactive-figure"><div>{controls}</div>{"".join(images)}'
                f"<script>{_SCRIPT}</script></div>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        if os.environ.get(STATIC_VIEW_VARIABLE) == "1":
            bundle["text/html"] = self.static_html()
        return bundle


def interactive_figure(draw, figsize=(8, 4), **sliders):
    """Sliders above a figure that `draw(fig, **values)` fills: live in Jupyter, precomputed on the site."""
    if not sliders:
        raise ValueError("interactive_figure needs at least one slider keyword argument")
    return InteractiveFigure(draw, figsize, sliders)
