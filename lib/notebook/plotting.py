"""Plot helpers shared by the chapters: learning curves with bands over seeds, and text the site shows legibly."""

import numpy as np
from matplotlib.text import Text

COLUMN_PX = 772  # the site's text column in a 1,400 px window: a wider figure is shown scaled down to it
MIN_TEXT_PX = 9  # the smallest text a reader should have to read on the page


def legible(fig, dpi=None):
    """Raise every text of `fig` to `MIN_TEXT_PX` as the site shows it, and return `fig`.

    The site shows a figure saved at `dpi` (the figure's own by default) at its size, or scaled down to
    `COLUMN_PX` if it is wider, which shrinks its text with it. Call it when the figure is complete,
    before `plt.show()`: a chapter's static figures and every frame of `lib.notebook.widgets` go through it.
    """
    shown_dpi = min(dpi or fig.dpi, COLUMN_PX / fig.get_figwidth())
    smallest = MIN_TEXT_PX * 72 / shown_dpi
    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < smallest:
            text.set_fontsize(smallest)
    return fig


def plot_learning_curve(ax, steps, returns, label, color=None, bounds=None):
    """Mean over seeds with a band of +-1 standard deviation; `returns` has shape [seeds, evaluations].

    `bounds=(low, high)`, the range a return can take, clips the band to it: mean +- std can leave
    the feasible range (a CartPole return never exceeds 500), and a band there shows impossible values.
    """
    returns = np.asarray(returns)
    mean, std = returns.mean(axis=0), returns.std(axis=0)
    low, high = mean - std, mean + std
    if bounds is not None:
        if not bounds[0] < bounds[1]:
            raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
    (line,) = ax.plot(steps, mean, label=f"{label} (mean of {returns.shape[0]} seeds, band: ±1 std)", color=color)
    ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.grid(alpha=0.3)
    return line
