"""Sliders that redraw a figure: live in Jupyter, precomputed on the static site.

`interactive_figure(build, update, title=..., alt=..., theta=FloatSlider(...), ...)` returns one object
with two views of the same sliders, each drawn by `build(fig)` once and `update(artists, **values)` on
every move:

- in a running kernel, the ipywidgets view: sliders above a figure, redrawn on every move;
- for the static site, a `text/html` view: the figure drawn once for each point of a grid over the
  sliders' ranges (small PNGs), under plain range inputs whose few lines of JavaScript show the
  image of the current values. It needs no kernel and no network. The site's build prefers this
  view (`nb_mime_priority_overrides` in `_config.yml`); Jupyter prefers the live one.

Which values the static page holds:

- a selection slider (SelectionSlider, Dropdown): every option, so list exactly the values the text
  discusses (at most `MAX_FRAMES` of them);
- a numeric slider (IntSlider, FloatSlider, FloatLogSlider): at most `MAX_VALUES` values, always both
  ends and the initial value, evenly spaced in the slider's own scale (its steps; powers for a log
  slider): every step if there are at most 8 from `min` to `max`; else the coarsest exact grid from
  `min` to `max` through the initial value if one has at least `MIN_VALUES` values; else every k-th
  step counted from the initial value, plus both ends (only the end gaps shorter).

If the product of the grids has more than `MAX_FRAMES` points, the numeric grids shrink (down to
`MIN_VALUES` each); if that is not enough, the page holds each slider's grid with the others at their
initial values, and moving one slider there returns the others to their initial values (the page says so).

The frames are drawn at `DPI` with a tight bounding box (nothing clipped), their text made legible on
the page by `lib.notebook.plotting.legible`. Sliders sit at most `SLIDERS_PER_ROW` to a row, each track at least
`MIN_TRACK_PX` wide, in both views.

What a screen reader hears: each frame's alt text is `alt` (what the figure shows: its axes, its
curves, the one thing to see) followed by the values it is drawn for; each slider is named by its
description and the figure's `title` (two figures may both have a "beta"), and announces the value
shown in its readout (`aria-valuetext`), not its position on the grid. The site's build may move the
hidden frames to files (`defer_hidden_frames`); the page's script loads them when a slider of their
figure is first moved.

Drawing the frames takes seconds, so only a kernel started with the environment variable
`STATIC_VIEW_VARIABLE` set to 1 draws them: `python -m tools.execute`, which stores the outputs the
site is built from, sets it; a reader's Jupyter and the nbval tests get the live view alone.

Each view keeps one figure (outside pyplot). `build(fig)` is called on it once: it makes the axes and
the artists that move, and returns them by name (a dict). `update(artists, **values)` is called with
that dict for every set of values and changes the artists (`set_data`, `set_text`, titles, limits).
A new Axes costs tens of milliseconds, mostly its ticks, so updating is what keeps a redraw near
0.1 s; an update that adds axes is an error. Keep the work inside `update` to jitted `lib` calls
whose array arguments change but whose shapes do not, so a move reuses the compiled code. The figure must depend on the slider values alone (the
static view checks it: the initial values drawn again after every other frame must give the same
image), and the live view keeps the last `LIVE_FRAMES` images, so sliders moved back to values seen
before show their image at once.
"""

import base64
import collections.abc
import functools
import html
import io
import itertools
import json
import math
import os
import re

import ipywidgets as widgets
import numpy as np
from IPython.display import Image as PNGImage, display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from lib.notebook.plotting import legible

STATIC_VIEW_VARIABLE = "LIB_STATIC_SLIDER_VIEW"  # "1": also store the static view (see above)
MAX_VALUES = 9  # values of one numeric slider on the static page
MIN_VALUES = 4  # fewer than this per slider and the grid becomes one slider at a time
MAX_FRAMES = 25  # figures per cell: each costs a draw (~0.5 s) and 20-60 kB of page
DPI = 100  # the static page's figures, as sharp as the notebook's own inline figures
COLORS = 64  # palette of the stored PNGs: a quarter of the size of full colour, alike to the eye
SLIDERS_PER_ROW = 3
MIN_TRACK_PX = 150  # a slider's track, wide enough to aim with a mouse
LIVE_SLIDER_WIDTH = "320px"  # ipywidgets' 80 px label and 40 px readout leave a 170 px track
LIVE_FRAMES = 32  # live images kept per cell (20-100 kB each), shown again without a redraw
PAD_INCHES = 0.1  # white margin around what a figure draws, as matplotlib's tight bounding box keeps

# Swaps the image of the current values; a combination without an image resets the other sliders.
# Frames the site's build moved to files (data-src) load when the figure is first used.
_SCRIPT = """(function (root) {
  const inputs = Array.from(root.querySelectorAll("input[type=range]"));
  const start = inputs.map((input) => input.value);
  const labels = inputs.map((input) => JSON.parse(input.dataset.labels));
  const key = () => inputs.map((input) => input.value).join(",");
  const image = (k) => root.querySelector('img[data-key="' + k + '"]');
  inputs.forEach((moved) => moved.addEventListener("input", () => {
    root.querySelectorAll("img[data-src]").forEach((img) => { img.src = img.dataset.src; img.removeAttribute("data-src"); });
    if (!image(key())) inputs.forEach((other, j) => { if (other !== moved) other.value = start[j]; });
    inputs.forEach((input, j) => {
      input.nextElementSibling.textContent = labels[j][input.value];
      input.setAttribute("aria-valuetext", labels[j][input.value]);
    });
    root.querySelectorAll("img[data-key]").forEach((img) => { img.style.display = img.dataset.key === key() ? "" : "none"; });
  }));
})(document.currentScript.parentElement);"""


class SliderGrid:
    """The values of one slider on the static page: labels, values, and the initial value's position."""

    def __init__(self, name, slider):
        self.name, self.description = name, slider.description or name
        self.selection = hasattr(slider, "_options_values")  # SelectionSlider, Dropdown, ...
        if self.selection:
            labels, values, start = list(slider._options_labels), list(slider._options_values), slider.index
            if len(values) > MAX_FRAMES:
                raise ValueError(
                    f"interactive_figure: slider {name!r} has {len(values)} options; the static page "
                    f"draws every option, so give it at most {MAX_FRAMES}"
                )
            if not all(isinstance(value, collections.abc.Hashable) for value in values):
                raise TypeError(
                    f"interactive_figure: slider {name!r} has an option value that is not hashable; "
                    "the live view keeps its images by value, so use numbers, strings or tuples"
                )
        elif isinstance(slider, (widgets.IntSlider, widgets.FloatSlider, widgets.FloatLogSlider)):
            labels, values, start = _numeric_grid(slider)
        else:
            raise TypeError(
                f"interactive_figure: slider {name!r} is a {type(slider).__name__}; use an "
                "IntSlider, FloatSlider, FloatLogSlider or a selection widget (SelectionSlider, Dropdown)"
            )
        self._labels, self._values, self._start = labels, values, start
        self.resize(MAX_VALUES)

    @property
    def full_size(self):
        return len(self._values)

    def resize(self, count):
        """Keep at most `count` values (every option of a selection): both ends and the initial one, evenly spaced."""
        last = self.full_size - 1
        self.positions = list(range(last + 1)) if self.selection else even_positions(last, self._start, count)
        self.start = self.positions.index(self._start)

    @property
    def labels(self):
        return [self._labels[p] for p in self.positions]

    @property
    def values(self):
        return [self._values[p] for p in self.positions]


def even_positions(last, start, count):
    """At most `count` of the steps 0..last (never fewer than 0, `start` and `last`), evenly spaced.

    The coarsest exact grid (a stride dividing both `last` and `start`) if it keeps `MIN_VALUES`;
    otherwise every k-th step from `start` both ways, plus both ends, with the smallest k that fits.
    """
    if last < count:
        return list(range(last + 1))
    common = math.gcd(last, start)
    exact = [stride for stride in range(1, common + 1) if common % stride == 0 and last // stride < count]
    if exact and last // exact[0] + 1 >= MIN_VALUES:
        return list(range(0, last + 1, exact[0]))
    for stride in range(2, last + 1):
        positions = sorted({0, last, *range(start % stride, last + 1, stride)})
        if len(positions) <= count:
            return positions
    return sorted({0, start, last})


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
        values = [float(slider.base**v if log else round(v, 12)) for v in steps]
    values[start] = slider.value
    fmt = slider.readout_format
    return [format(v, fmt) for v in values], values, start


def frame_keys(grids):
    """Index tuples of the figures to store (resizing `grids`): the product if it fits, else one slider at a time."""
    for grid in grids:
        grid.resize(MAX_VALUES)
    while math.prod(len(grid.positions) for grid in grids) > MAX_FRAMES:
        shrinkable = [grid for grid in grids if not grid.selection and len(grid.positions) > MIN_VALUES]
        if not shrinkable:
            break
        largest = max(shrinkable, key=lambda grid: len(grid.positions))
        largest.resize(len(largest.positions) - 1)
    if math.prod(len(grid.positions) for grid in grids) <= MAX_FRAMES:
        return list(itertools.product(*(range(len(grid.positions)) for grid in grids)))
    for grid in grids:
        grid.resize(1 + (MAX_FRAMES - 1) // len(grids))
    start = tuple(grid.start for grid in grids)
    keys = {start[:i] + (k,) + start[i + 1 :] for i, grid in enumerate(grids) for k in range(len(grid.positions))}
    return sorted(keys)


class RedrawnFigure:
    """One figure, outside pyplot, built once by `build(fig)` and moved by `update(artists, **values)`."""

    def __init__(self, build, update, figsize, dpi=None):
        self._update = update
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)  # one canvas: its renderer keeps text sizes measured before
        self.artists = build(self.figure)
        if not isinstance(self.artists, dict):
            raise TypeError(
                f"interactive_figure: build must return a dict of the artists update moves, by name, "
                f"not {type(self.artists).__name__}"
            )

    def draw(self, values):
        """The figure with its artists updated for `values`."""
        axes_before = len(self.figure.axes)
        self._update(self.artists, **values)
        if len(self.figure.axes) != axes_before:
            raise RuntimeError(
                f"interactive_figure: update went from {axes_before} to {len(self.figure.axes)} axes; "
                "make every axes in build and let update change the artists build returned"
            )
        return self.figure


def _tight_image(fig):
    """`fig` drawn at its own dpi and cropped to what it draws (as Jupyter's inline figures are), in RGB.

    One draw of the canvas, cropped with up to `PAD_INCHES` around what it draws (less at the figure's
    edges); only where something is drawn outside the figure does matplotlib's tight bounding box
    (more draws, on a larger canvas) take over.
    """
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = fig.get_size_inches()
    if drawn.x0 < 0 or drawn.y0 < 0 or drawn.x1 > width or drawn.y1 > height:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches="tight", pad_inches=PAD_INCHES)
        return Image.open(buffer).convert("RGB")
    box = drawn.padded(PAD_INCHES)
    dpi, rows = fig.dpi, np.asarray(fig.canvas.buffer_rgba())
    top, bottom = max(0, int((height - box.y1) * dpi)), int(math.ceil((height - max(0, box.y0)) * dpi))
    left, right = max(0, int(box.x0 * dpi)), int(math.ceil(min(width, box.x1) * dpi))
    return Image.fromarray(rows[top:bottom, left:right, :3])


def _live_png(figure, values):
    """`figure` drawn for `values` as PNG bytes, compressed lightly: the kernel sends them straight to the page."""
    buffer = io.BytesIO()
    _tight_image(figure.draw(values)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _frame_png(figure, values):
    """`figure` drawn for `values` with its small text enlarged, as a small base64 PNG for the static page."""
    palette = _tight_image(legible(figure.draw(values), DPI)).quantize(colors=COLORS)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True, dpi=(DPI, DPI))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _slider_rows(sliders):
    """The live sliders, at most `SLIDERS_PER_ROW` to a row, none squeezed below `LIVE_SLIDER_WIDTH`."""
    for slider in sliders:
        slider.layout.min_width = LIVE_SLIDER_WIDTH
    return [
        widgets.HBox(sliders[i : i + SLIDERS_PER_ROW], layout=widgets.Layout(flex_flow="row wrap"))
        for i in range(0, len(sliders), SLIDERS_PER_ROW)
    ]


# The static controls: a grid of at most SLIDERS_PER_ROW columns (each over 30% of the width, and
# never wider than the column: at 320 px one 20rem column stuck out), each a label, a track of at least
# MIN_TRACK_PX and a readout, spaced so a focus ring hides no digit.
_CONTROLS_STYLE = (
    "display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,max(20rem,30%)),1fr));"
    "gap:0.25rem 1.5rem;margin-bottom:0.5rem"
)
_LABEL_STYLE = "display:flex;flex-wrap:wrap;align-items:center;gap:0.25em 0.75em"  # the readout wraps below at 320 px
_INPUT_STYLE = f"flex:1 1 {MIN_TRACK_PX}px;min-width:{MIN_TRACK_PX}px"
# Said under the controls: in a notebook not yet run (or untrusted) this view's script is stripped
# and its inputs do nothing, so the reader learns how to bring the sliders alive.
STATIC_NOTE = "Precomputed figures. In Jupyter, run this cell and the sliders recompute the figure live."
# Said as well where the page holds one slider's values at a time, so a reset is no surprise.
ONE_AT_A_TIME_NOTE = "Here the sliders move one at a time: moving one returns the others to their initial values."


class InteractiveFigure:
    """Sliders and a figure: the live widget in Jupyter (`widget`), precomputed frames elsewhere."""

    def __init__(self, build, update, figsize, title, alt, sliders):
        self.build, self.update, self.figsize, self.title, self.alt = build, update, figsize, title, alt
        self.grids = [SliderGrid(name, slider) for name, slider in sliders.items()]
        live_figure, names = RedrawnFigure(build, update, figsize), list(sliders)

        @functools.lru_cache(maxsize=LIVE_FRAMES)
        def live_png(values):
            return _live_png(live_figure, dict(zip(names, values)))

        def redraw(**values):
            display(PNGImage(live_png(tuple(values.values()))))

        figure_output = widgets.interactive_output(redraw, sliders)
        self.widget = widgets.VBox([*_slider_rows(list(sliders.values())), figure_output])

    def values_at(self, key):
        """The slider values of a grid index tuple, by slider name."""
        return {grid.name: grid.values[k] for grid, k in zip(self.grids, key)}

    def frames(self):
        """Base64 PNGs of the static page by grid index tuple, checked to depend on the values alone."""
        figure, keys = RedrawnFigure(self.build, self.update, self.figsize, dpi=DPI), frame_keys(self.grids)
        start = tuple(grid.start for grid in self.grids)  # after frame_keys: shrinking a grid moves its start
        frames = {key: _frame_png(figure, self.values_at(key)) for key in keys}
        if len(frames) > 1 and _frame_png(figure, self.values_at(start)) != frames[start]:
            raise RuntimeError(
                "interactive_figure: the initial values, drawn again after the other frames, gave a "
                "different image; update must set everything that depends on the values on every call"
            )
        return frames

    def static_html(self):
        """The frames and range inputs: an HTML fragment that works without a kernel."""
        frames = self.frames()
        start = tuple(grid.start for grid in self.grids)  # after frames(): shrinking a grid moves its start
        controls = "".join(
            f'<label style="{_LABEL_STYLE}"><span>{html.escape(grid.description)}</span>'
            f'<input type="range" min="0" max="{len(grid.positions) - 1}" step="1" value="{grid.start}" '
            f'aria-label="{html.escape(f"{grid.description} ({self.title})")}" '
            f'aria-valuetext="{html.escape(grid.labels[grid.start])}" '
            f'data-labels="{html.escape(json.dumps(grid.labels))}" style="{_INPUT_STYLE}">'
            f"<output>{html.escape(grid.labels[grid.start])}</output></label>"
            for grid in self.grids
        )
        note = STATIC_NOTE
        if len(frames) < math.prod(len(grid.positions) for grid in self.grids):
            note += " " + ONE_AT_A_TIME_NOTE
        images = []
        for key, png in frames.items():
            values = ", ".join(f"{grid.description} = {grid.labels[k]}" for grid, k in zip(self.grids, key))
            hidden = "" if key == start else "display:none;"
            alt = html.escape(f"{self.alt} Drawn for {values}.")
            images.append(
                f'<img data-key="{",".join(map(str, key))}" alt="{alt}" '
                f'style="{hidden}max-width:100%" src="data:image/png;base64,{png}">'
            )
        return (
            f'<div class="interactive-figure"><div role="group" aria-label="{html.escape(self.title)}" '
            f'style="{_CONTROLS_STYLE}">{controls}</div>'
            f'<p style="font-size:0.85em;margin:0 0 0.5rem">{note}</p>{"".join(images)}'
            f"<script>{_SCRIPT}</script></div>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        if os.environ.get(STATIC_VIEW_VARIABLE) == "1":
            bundle["text/html"] = self.static_html()
        return bundle


def interactive_figure(build, update, figsize=(8, 4), *, title, alt, **sliders):
    """Sliders above a figure: live in Jupyter, precomputed on the site.

    `build(fig)` makes the figure's axes and artists once per view and returns the ones that move, in a
    dict by name; `update(artists, **values)` moves them to the sliders' values.

    `title` names the figure in each slider's accessible name ("beta (soft values on the chain)");
    `alt` says what every frame shows, for a reader who cannot see it: the axes, the curves, and the
    one thing to see as the sliders move. Each frame's alt text adds the values it is drawn for.
    """
    if not sliders:
        raise ValueError("interactive_figure needs at least one slider keyword argument")
    if not (title.strip() and alt.strip()):
        raise ValueError("interactive_figure needs a title and an alt text that say what the figure shows")
    return InteractiveFigure(build, update, figsize, title, alt, sliders)


# A hidden frame of the static view, as `static_html` writes it (the initial frame is the one not hidden).
_HIDDEN_FRAME = re.compile(
    r'(<img data-key="[\d,]+" alt="[^"]*" style="display:none;[^"]*") '
    r'src="data:image/png;base64,([^"]+)"'
)


def defer_hidden_frames(page, save):
    """`page` (HTML) with each hidden frame's image moved out: `save(png_bytes)` stores it and returns its URL.

    The frame keeps the URL in `data-src`, which the view's script turns into `src` when a slider of
    its figure is first moved: a page loads only the frames shown, and an `<img>` with a relative URL
    loads from `file://` as well (where `fetch` does not).
    """
    return _HIDDEN_FRAME.sub(lambda match: f'{match[1]} data-src="{save(base64.b64decode(match[2]))}"', page)
