"""Sliders that redraw a figure: the chapters' interactive explorations.

`interactive_figure(draw, theta=FloatSlider(...), ...)` shows the sliders above a plot and
calls `draw(fig, **values)` on every move. Keep the work inside `draw` to jitted `lib` calls
whose array arguments change but whose shapes do not, so a move reuses the compiled code.
"""
import ipywidgets as widgets
import matplotlib.pyplot as plt


def interactive_figure(draw, figsize=(8, 4), **sliders):
    """Return a widget: the given sliders above a figure that `draw(fig, **values)` fills."""
    if not sliders:
        raise ValueError("interactive_figure needs at least one slider keyword argument")

    def redraw(**values):
        fig = plt.figure(figsize=figsize)
        draw(fig, **values)
        plt.show()

    figure_output = widgets.interactive_output(redraw, sliders)
    return widgets.VBox([widgets.HBox(list(sliders.values())), figure_output])
