"""The claims a chapter prints, in a form that holds on every CPU.

A chapter's compared outputs (nbval re-runs them on the reader's machine) are of two kinds:

- exact results, printed at the precision the mathematics guarantees (`below` for residuals);
- random results (training, Monte Carlo), printed as a claim with its margin: `check_mean_above`
  and its siblings test a mean over seeds or trials against a threshold with a margin of z
  standard errors, and print the claim, not the run's digits, so a fresh run on another processor
  prints the same line whenever the claim holds there too. The run's own numbers (`mean_with_error`)
  belong in the few cells tagged `nbval-ignore-output`.

Every check raises AssertionError when its claim is false, so a chapter that stops being true
stops running.
"""

import math

import numpy as np


def check(label, ok):
    """Print "PASS label", or raise AssertionError naming the claim that failed."""
    if not bool(ok):
        raise AssertionError(f"FAILED: {label}")
    print(f"PASS {label}")


def below(value, bound):
    """'below 1e-09' for a residual or error at rounding level (raises if it is not below `bound`)."""
    if not abs(float(value)) < bound:
        raise AssertionError(f"{float(value):.3g} is not below {bound:.0e}")
    return f"below {bound:.0e}"


def mean_and_standard_error(values):
    """(mean, standard error of the mean) of a 1-d sample of at least two values."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size < 2:
        raise ValueError(f"values must hold at least 2 numbers for a standard error, got {values.size}")
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite (did a training run diverge?)")
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


def mean_with_error(values, digits=0):
    """'-153 ± 12 (mean ± SE, 8 seeds)': a run's own figure, for a cell whose output is not compared."""
    mean, error = mean_and_standard_error(values)
    return f"{mean:.{digits}f} ± {error:.{digits}f} (mean ± SE over {np.size(values)})"


def check_mean_above(label, values, threshold, z=2.0):
    """Claim: the mean of `values` exceeds `threshold` by more than z standard errors."""
    mean, error = mean_and_standard_error(values)
    check(
        f"{label}: mean over {np.size(values)} above {threshold:g} by more than {z:g} standard errors",
        mean - z * error > threshold,
    )


def check_mean_below(label, values, threshold, z=2.0):
    """Claim: the mean of `values` lies below `threshold` by more than z standard errors."""
    mean, error = mean_and_standard_error(values)
    check(
        f"{label}: mean over {np.size(values)} below {threshold:g} by more than {z:g} standard errors",
        mean + z * error < threshold,
    )


def check_mean_within(label, values, exact, z=4.0):
    """Claim: the mean of `values` is within z standard errors of the exact value (an unbiasedness test)."""
    mean, error = mean_and_standard_error(values)
    check(
        f"{label}: mean over {np.size(values)} within {z:g} standard errors of the exact {exact:.4g}",
        abs(mean - exact) <= z * error,
    )
