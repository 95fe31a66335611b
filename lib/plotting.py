"""Plot helpers shared by the chapters."""
import numpy as np


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
    line, = ax.plot(steps, mean, label=f"{label} (mean of {returns.shape[0]} seeds, band: ±1 std)", color=color)
    ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.grid(alpha=0.3)
    return line
