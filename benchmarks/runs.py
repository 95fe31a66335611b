"""Every training run the benchmark measures, gathered from the modules benchmarks/runs_*.py.

A chapter adds its runs in its own module `benchmarks/runs_chNN.py`, as a dict `RUNS` from a
name to a function returning (fn, args, summarize, notes): `jax.jit(fn)` is compiled for `args`
and timed separately from the run; `summarize(output)` turns the result into the numbers the
report shows (including whether the issue's targets are met); `notes` states the network size
and anything else a reader needs to compare the timing with other libraries.
"""
import importlib
import pkgutil

import benchmarks


def all_runs():
    """{run name: factory} from every benchmarks/runs_*.py module."""
    runs = {}
    for module_info in pkgutil.iter_modules(benchmarks.__path__):
        if module_info.name.startswith("runs_"):
            runs.update(importlib.import_module(f"benchmarks.{module_info.name}").RUNS)
    return runs
