"""Plot helpers shared by the chapters."""
import numpy as np


def plot_learning_curve(ax, steps, returns, label, color=None):
    """Mean over seeds with a band of +-1 standard deviation; `returns` has shape [seeds, evaluations]."""
    returns = np.asarray(returns)
    mean, std = returns.mean(axis=0), returns.std(axis=0)
    line, = ax.plot(steps, mean, label=f"{label} (mean of {returns.shape[0]} seeds, band: ±1 std)", color=color)
    ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.grid(alpha=0.3)
    return line
