"""Training that diverges says so: every training loop tracks, inside its jitted scan, the first step
at which a loss or a parameter stopped being finite, and the caller turns that log field into an error.

A loop keeps `diverged_at` (-1 while everything stayed finite) in its carry, updates it with
`first_divergence(diverged_at, all_finite(tree), step)` and returns it in its log; `raise_if_diverged`
is the one place that turns it into a clear RuntimeError, at the Python boundary.
"""

import jax
import jax.numpy as jnp
import numpy as np


def all_finite(tree):
    """True when every number in `tree` (parameters, optimizer states, losses) is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.array(leaves)) if leaves else jnp.array(True)


def first_divergence(diverged_at, finite, step_index):
    """The step of the first non-finite update: kept once set, else `step_index` when `finite` is False."""
    return jnp.where((diverged_at < 0) & ~finite, step_index, diverged_at)


def raise_if_diverged(diverged_at, name="training", axes=("run",)):
    """Raise RuntimeError if any run diverged; `diverged_at` is a log's field (-1: stayed finite).

    Its leading axes are named by `axes` (("setting", "seed") for a sweep's grid); the error names each
    run that diverged by its indices and the first step at which it did.
    """
    steps = np.asarray(diverged_at)
    steps = steps.reshape(steps.shape[: len(axes)] + (-1,)) if steps.ndim >= len(axes) else steps.reshape(1, -1)
    failures = []
    for index in np.ndindex(*steps.shape[:-1]):
        bad = steps[index][steps[index] >= 0]
        if bad.size:
            failures.append(", ".join(f"{axis} {i}" for axis, i in zip(axes, index)) + f" at step {int(bad.min())}")
    if failures:
        raise RuntimeError(
            f"{name} diverged: a loss or parameter became inf or NaN ({'; '.join(failures[:8])}); "
            "lower the learning rates or check the config"
        )
