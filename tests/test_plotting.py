import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from lib.notebook.plotting import COLUMN_PX, MIN_TEXT_PX, legible, plot_learning_curve


# Three seeds, two evaluations: mean + std = 541 > 500 at the first, mean - std = -4.1 < 0 at the second.
RETURNS = np.array([[500.0, 0.0], [500.0, 0.0], [200.0, 30.0]])


def _band_limits(ax):
    vertices = ax.collections[0].get_paths()[0].vertices
    return vertices[:, 1].min(), vertices[:, 1].max()


def test_band_is_clipped_to_the_feasible_range():
    fig, ax = plt.subplots()
    plot_learning_curve(ax, np.arange(2), RETURNS, "run", bounds=(0.0, 500.0))
    low, high = _band_limits(ax)
    plt.close(fig)
    assert low == pytest.approx(0.0) and high == pytest.approx(500.0)


def test_band_without_bounds_is_mean_plus_minus_std():
    fig, ax = plt.subplots()
    plot_learning_curve(ax, np.arange(2), RETURNS, "run")
    low, high = _band_limits(ax)
    plt.close(fig)
    assert high == pytest.approx(400.0 + np.sqrt(20_000.0)) and low == pytest.approx(10.0 - np.sqrt(200.0))


def test_bounds_must_be_ordered():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="bounds"):
        plot_learning_curve(ax, np.arange(2), np.ones((2, 2)), "run", bounds=(500.0, 0.0))
    plt.close(fig)


@pytest.mark.parametrize("width_inches", [5.0, 12.0])
def test_legible_raises_only_the_text_the_column_would_show_below_the_minimum(width_inches):
    fig, ax = plt.subplots(figsize=(width_inches, 3), dpi=100)
    ax.plot([0, 1], [0, 1], label="a line")
    ax.legend(fontsize=5)
    ax.set_title("a title", fontsize=14)
    legible(fig)
    shown_pixels_per_point = min(100, COLUMN_PX / width_inches) / 72  # a wider figure is shown scaled down
    legend_size, title_size = ax.get_legend().get_texts()[0].get_fontsize(), ax.title.get_fontsize()
    plt.close(fig)
    assert legend_size * shown_pixels_per_point == pytest.approx(MIN_TEXT_PX)
    assert title_size == 14, "text already legible keeps its size"
