"""JAX reference implementations for the chapters of 'Policy Parametrization Methods'.

One public function per algorithm box of the book; its docstring names the box.

The modules stand in layers, one folder each, lowest first. A module imports only from its own layer or
lower ones (one exception: lqr uses replay's Transition type), and no chapter's algorithm imports another
(tests/test_layers.py):

    core         config, divergence, sweep
    problems     envs, gym_adapter, mdp, lqr: the tasks and their exact answers
    parts        nets, policies, distributions, replay, evaluation, samplers, boltzmann_fit
    loops        offpolicy, onpolicy: the training loops the chapters share
    algorithms   fqi (20), deterministic (21), soft (22), estimators (23), policy_gradient (24), svg (25),
                 trust_region (26)
    notebook     checks, plotting, widgets, exercises, catalog: what the notebooks show and grade

Importing `lib` sets up JAX for the sweep (`lib.core.sweep`) before JAX starts: one CPU device per core
this process may use, so many trainings run on every core of a laptop, and the persistent
compilation cache in a per-user folder, so a chapter run a second time loads its programs instead of
compiling them. Neither changes a result: a sweep's runs are bitwise the same on any number of
devices, and a cached program is the program XLA would compile (its key includes the XLA flags).
"""

import os

import jax

CACHE_FOLDER = os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "policy-parametrization-notebooks", "jax"
)


def _use_every_core():
    """One CPU device per usable core, unless JAX_NUM_CPU_DEVICES says otherwise or JAX already started."""
    if "JAX_NUM_CPU_DEVICES" in os.environ:  # the user's choice; JAX reads it itself
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        jax.config.update("jax_num_cpu_devices", cores)
    except RuntimeError:  # JAX computed something before `lib` was imported
        if jax.default_backend() == "cpu" and jax.device_count() < cores:
            print(
                f"lib: JAX had already started with {jax.device_count()} CPU device(s), so training runs on "
                f"{jax.device_count()} of the {cores} cores (same results, slower); restart and import lib first"
            )


def _use_compilation_cache():
    """Compiled programs persist in CACHE_FOLDER (never in the repository), unless the user set a folder."""
    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax.config.update("jax_compilation_cache_dir", CACHE_FOLDER)


_use_every_core()
_use_compilation_cache()
