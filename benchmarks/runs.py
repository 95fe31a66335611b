"""Every training run the benchmark measures, gathered from the modules benchmarks/runs_*.py.

A chapter adds its runs in its own module `benchmarks/runs_chNN.py`, as a dict `RUNS` from a
name to a function returning (fn, args, summarize, notes): `jax.jit(fn)` is compiled for `args`
and timed separately from the run; `summarize(output)` turns the result into the numbers the
report shows (including whether the issue's targets are met); `notes` states the network size
and anything else a reader needs to compare the timing with other libraries. A module whose runs
train toward a target also defines `headline(results) -> {"env_steps", "target", "seeds_solved",
"final_return"}`, the report's summary columns.
"""
import importlib
import pkgutil

import jax

import benchmarks


def over_seeds(fn, num_seeds, in_axes=0):
    """`fn(key, ...)` as a function of a batch of keys, its outputs stacked over seeds.

    Several seeds are vmapped; a single seed runs unbatched and gets its leading axis afterwards,
    as a user training one seed would run it (a vmapped axis of width 1 adds seconds of compilation).
    """
    if num_seeds > 1:
        return jax.vmap(fn, in_axes=in_axes)
    return lambda keys, *rest: jax.tree_util.tree_map(lambda x: x[None], fn(keys[0], *rest))


def seeds_note(num_seeds):
    return "1 seed, not vmapped" if num_seeds == 1 else f"{num_seeds} seeds vmapped"


def _run_modules():
    return [importlib.import_module(f"benchmarks.{info.name}")
            for info in pkgutil.iter_modules(benchmarks.__path__) if info.name.startswith("runs_")]


def all_runs():
    """{run name: factory} from every benchmarks/runs_*.py module."""
    return {name: factory for module in _run_modules() for name, factory in module.RUNS.items()}


def all_headlines():
    """{run name: headline function} for the runs whose module defines `headline`."""
    return {name: module.headline for module in _run_modules() if hasattr(module, "headline")
            for name in module.RUNS}
