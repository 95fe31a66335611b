"""Many trainings in one call: a grid of settings x seeds, spread over every device of every process.

    runs = sweep(train, num_seeds=8)                                   # leaves: (seed, ...)
    runs = sweep(train, num_seeds=8, settings=[knobs_a, knobs_b])      # leaves: (setting, seed, ...)
    runs = sweep({"DDPG": ddpg_train, "TD3": td3_train}, num_seeds=8)  # a dict of the above, by name
    planned = plan(train, num_seeds=8)                                 # placed, not run: for timing
    runs = planned.finish(planned.program(*planned.inputs))            # the same as sweep(train, 8)

A trainer is a pure `train(key)` or `train(key, setting) -> (state, log)`, built by the library from
`(env, config)`; its log has a `diverged_at` field (-1 while every number stayed finite). Settings are
pytrees of the traced values that vary (learning rates, temperatures, clips, an estimator's index):
settings of one trainer share one compiled program. What changes shapes (network widths, batch
sizes, another algorithm's state) is another trainer: pass a dict, one program per entry.

The grid is flattened in order (setting-major), padded with copies of its first run to a multiple of
the device count, and split over a one-axis mesh of `jax.devices()` with `jax.shard_map`: on a laptop
those are its cores (`lib` gives JAX one CPU device per core), on a node its GPUs, and after
`jax.distributed.initialize()` every device of every host. Every process gets the whole grid back,
on the host, in grid order.

Layout never leaks into results. The key of run (setting i, seed j) is the j-th of
`split(PRNGKey(seed), num_seeds)` whatever i: settings are compared on common random numbers, and
no key depends on the device a run lands on. Each device runs its share one run at a time
(`lax.map`), so a run's result is bitwise the one `jax.jit(train)(key, setting)` gives alone, with 1,
2 or 64 devices. `runs_per_device` > 1 vmaps that many runs together on each device instead: what
makes accelerators fast, but a vmapped program is another XLA program, so results change in their
last bits (and training can amplify those).
"""

import functools
from typing import Callable, Mapping, NamedTuple

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lib.core.config import check_positive_int
from lib.core.divergence import raise_if_diverged

AXIS = "runs"


def seed_keys(seed, num_seeds):
    """The keys of seeds 0..num_seeds-1, the same for every setting of a sweep."""
    check_positive_int("num_seeds", num_seeds)
    return np.asarray(jax.random.split(jax.random.PRNGKey(seed), num_seeds))


def sweep(train, num_seeds, settings=None, *, seed=0, runs_per_device=1):
    """Run `train` (or each trainer of a dict of them) for `num_seeds` seeds x every setting of `settings`.

    `settings`: None (train takes a key alone), a non-empty sequence of pytrees of arrays with the same
    structure and shapes (train takes key and setting), or, with a dict of trainers, a dict giving the
    settings of some of them by name. Returns (state, log) with leading axes (seed,) or (setting, seed),
    as NumPy arrays on the host; a dict of those for a dict of trainers. Raises RuntimeError naming the
    trainer, setting, seed and step of every run whose log's `diverged_at` is set.
    """
    check_positive_int("runs_per_device", runs_per_device)
    keys = seed_keys(seed, num_seeds)
    if isinstance(train, Mapping):
        settings = {} if settings is None else settings
        unknown = set(settings) - set(train)
        if unknown:
            raise ValueError(f"settings names trainers that are not swept: {sorted(unknown)}")
        return {name: _sweep_one(name, one, keys, settings.get(name), runs_per_device) for name, one in train.items()}
    return _sweep_one("training", train, keys, settings, runs_per_device)


def _sweep_one(name, train, keys, settings, runs_per_device):
    planned = _plan(name, train, keys, settings, runs_per_device)
    return planned.finish(planned.program(*planned.inputs))


class Plan(NamedTuple):
    """One trainer's sweep placed on the devices, not yet run: what `sweep` runs, for a caller that times the
    compilation apart (`program.lower(*inputs).compile()`) or runs it more than once."""

    name: str
    program: Callable  # jitted: program(*inputs) trains every run of the grid
    inputs: tuple  # the grid's keys and settings, padded and sharded over the mesh
    grid: "_Grid"
    leading: tuple  # (num_seeds,) or (num_settings, num_seeds)

    def finish(self, outputs):
        """(state, log) of `program(*inputs)` on the host, with leading axes `leading`; raises on divergence."""
        state, log = jax.tree_util.tree_map(lambda x: x.reshape(self.leading + x.shape[1:]), self.grid.results(outputs))
        axes = ("seed",) if len(self.leading) == 1 else ("setting", "seed")
        raise_if_diverged(log.diverged_at, self.name, axes=axes)
        return state, log


def plan(train, num_seeds, settings=None, *, seed=0, runs_per_device=1, name="training"):
    """`sweep(train, num_seeds, settings, ...)` for one trainer, placed but not run: a `Plan`."""
    check_positive_int("runs_per_device", runs_per_device)
    return _plan(name, train, seed_keys(seed, num_seeds), settings, runs_per_device)


def _plan(name, train, keys, settings, runs_per_device):
    if not callable(train):
        raise ValueError(f"{name}: train must be a function train(key[, setting]) -> (state, log)")
    if settings is None:
        stacked, num_settings, run = None, 1, _key_only(train)
    else:
        (stacked, num_settings), run = _stack_settings(name, settings), train
    num_seeds = keys.shape[0]
    grid_keys = np.tile(keys, (num_settings, 1))  # run r: setting r // num_seeds, seed r % num_seeds
    grid_settings = jax.tree_util.tree_map(lambda x: np.repeat(x, num_seeds, axis=0), stacked)
    grid = _place_grid(run, grid_keys, grid_settings, runs_per_device)
    leading = (num_seeds,) if settings is None else (num_settings, num_seeds)
    return Plan(name, grid.program, grid.inputs, grid, leading)


def _stack_settings(name, settings):
    """(the settings stacked leaf by leaf, how many there are)."""
    settings = list(settings)
    if not settings:
        raise ValueError(f"{name}: settings must hold at least one setting (or be None)")
    structures = {jax.tree_util.tree_structure(s) for s in settings}
    shapes = {tuple(np.shape(leaf) for leaf in jax.tree_util.tree_leaves(s)) for s in settings}
    if len(structures) > 1 or len(shapes) > 1:
        raise ValueError(
            f"{name}: every setting must have the same structure and shapes (traced values only); "
            "a setting that changes shapes needs a trainer of its own (pass a dict of trainers)"
        )
    return jax.tree_util.tree_map(lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves]), *settings), len(
        settings
    )


class _Grid(NamedTuple):
    """A grid placed on the devices: `program(*inputs)` trains every run; `results` brings them to the host."""

    program: Callable  # jitted; `program.lower(*inputs).compile()` compiles it ahead of time
    inputs: tuple  # (keys, settings), padded and sharded over the mesh
    num_runs: int

    def results(self, outputs):
        """The outputs of every process's runs, on the host, in row order, without the padding."""
        gathered = multihost_utils.process_allgather(outputs, tiled=True)
        return jax.tree_util.tree_map(lambda x: np.asarray(x)[: self.num_runs], gathered)


def _place_grid(run, keys, settings, runs_per_device=1):
    """The `_Grid` of `run(key, setting)` for every row of `keys` and of the leaves of `settings` (or None),
    padded with copies of row 0 to a multiple of the devices x runs_per_device, split over every device."""
    devices = jax.devices()
    num_runs = keys.shape[0]
    chunk = len(devices) * runs_per_device
    padded = -(-num_runs // chunk) * chunk
    pad = lambda x: np.concatenate([x, np.repeat(x[:1], padded - num_runs, axis=0)])  # noqa: E731
    mesh = Mesh(np.array(devices), (AXIS,))
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    place = lambda x: jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])  # noqa: E731
    inputs = jax.tree_util.tree_map(lambda x: place(pad(x)), (keys, settings))
    return _Grid(_compiled_grid(run, mesh, runs_per_device), inputs, num_runs)


@functools.lru_cache(maxsize=32)
def _key_only(train):
    """`train(key)` as a run of the grid, `run(key, setting)`; cached, so the same trainer reuses its program."""
    return lambda key, _: train(key)


@functools.lru_cache(maxsize=32)
def _compiled_grid(run: Callable, mesh: Mesh, runs_per_device: int):
    """One jitted program per (trainer, mesh, runs_per_device): a new grid of the same shapes reuses it."""

    def on_device(keys, settings):
        # One run at a time (batch_size None): each run is the program train alone would be.
        return jax.lax.map(
            lambda row: run(*row), (keys, settings), batch_size=runs_per_device if runs_per_device > 1 else None
        )

    spec = PartitionSpec(AXIS)
    # check_vma off: the runs never communicate, and trainers need not mark which values vary per device.
    return jax.jit(jax.shard_map(on_device, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False))
