"""Validation shared by every config in `lib`.

Configs are frozen dataclasses whose `__post_init__` calls these checks, so a bad value fails
at construction with a message naming the field and its allowed range, never later as a NaN.
"""

import math
import numbers

import jax
import numpy as np


def check_range(name, value, low=-math.inf, high=math.inf, *, low_open=False, high_open=False):
    """Raise ValueError unless value is finite and low <= value <= high (strict on an open end).

    A value traced inside jit/vmap has no number to check yet: it passes here, and must have been
    checked where it entered (a config or a public wrapper).
    """
    if isinstance(value, jax.core.Tracer):
        return
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high or not math.isfinite(value):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value}")


def check_positive(name, value):
    """Raise ValueError unless 0 < value < inf."""
    check_range(name, value, 0.0, low_open=True)


def check_positive_int(name, value):
    """Raise ValueError unless value is an int >= 1 (2.0 or 2e4 is refused: a float would reach JAX as a shape)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer (an int, not {type(value).__name__}), got {value!r}")


def concrete(value):
    """value as a NumPy array of numbers, or None while JAX traces it (or rebuilds a pytree with placeholders):
    then there is no value to check yet."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    return array if array.dtype.kind in "biuf" else None
