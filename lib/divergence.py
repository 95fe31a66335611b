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


def raise_if_diverged(diverged_at, name="training"):
    """Raise RuntimeError if any run (seed) diverged; `diverged_at` is a log's field (-1: stayed finite)."""
    steps = np.atleast_1d(np.asarray(diverged_at))
    bad = np.flatnonzero(steps >= 0)
    if bad.size:
        where = ", ".join(f"run {i} at step {int(steps[i])}" for i in bad[:8])
        raise RuntimeError(f"{name} diverged: a loss or parameter became inf or NaN ({where}); "
                           "lower the learning rates or check the config")
