"""Every training run the benchmark measures (`benchmarks/timing.py` times them).

A run is a function returning (fn, args, summarize, notes): `jax.jit(fn)` is compiled for `args`
and timed apart from the run (a run that trains several seeds or settings is a `lib.core.sweep.plan`: its
program and inputs, spread over every device as the chapters run them); `summarize(output)` turns the result into the numbers the report
shows; `notes` states the network sizes, batch, seeds and evaluation, so that a reader can tell
what a timing can be compared with. Each chapter's runs live in its module
`benchmarks/runs_chNN.py`, as a dict `RUNS` from a name to such a function; a module whose runs
train toward a target also defines `headline(results) -> {"env_steps", "target", "seeds_solved",
"final_return"}`, the report's summary columns. This module holds the one run that belongs to no
chapter (the off-policy loop with no learner), and `benchmarks/peers.py` the runs of ours
configured like a peer's.
"""

import importlib
import pkgutil
import sys

import jax.numpy as jnp
import numpy as np

import benchmarks
from benchmarks.timing import seeds_note


def off_policy_loop_random_agent():
    """The floor under chapters 21 and 22: 20k Pendulum steps x 8 seeds of the off-policy loop, no learner."""
    from lib.problems import envs
    from lib.loops.offpolicy import OffPolicyAgent, OffPolicyConfig, make_off_policy_train, random_action
    from lib.core.sweep import plan

    env = envs.make("Pendulum-v1")
    agent = OffPolicyAgent(
        init=lambda key: jnp.array(0.0),
        act=lambda state, obs, key: (random_action(env, key), state),
        greedy=lambda state, obs: jnp.zeros(1),
        update=lambda state, batch, key: (state + jnp.mean(batch.reward), jnp.array(0.0)),
    )
    config = OffPolicyConfig(total_steps=20_000, warmup_steps=1_000, batch_size=256, eval_every=1_000)
    planned = plan(make_off_policy_train(env, agent, config), num_seeds=8)

    def summarize(output):
        _, log = planned.finish(output)
        return {"final_eval_return_mean": round(float(np.mean(log.eval_returns[:, -1])), 1)}

    notes = f"no networks: env stepping, replay, evaluation only; {seeds_note(8)}"
    return planned.program, planned.inputs, summarize, notes


RUNS = {"offpolicy_loop_random_agent_pendulum_20k_x8": off_policy_loop_random_agent}


def _run_modules():
    """This module, every chapter's benchmarks/runs_chNN.py, and benchmarks/peers.py (our side of each peer pair)."""
    chapters = [
        importlib.import_module(f"benchmarks.{info.name}")
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("runs_")
    ]
    return [sys.modules[__name__], *chapters, importlib.import_module("benchmarks.peers")]


def all_runs():
    """{run name: factory} of every run; a name defined twice is an error, not a silent overwrite."""
    runs = {}
    for module in _run_modules():
        repeated = sorted(runs.keys() & module.RUNS.keys())
        if repeated:
            raise ValueError(f"{module.__name__} defines runs {repeated} that another module already defines")
        runs.update(module.RUNS)
    return runs


def all_headlines():
    """{run name: headline function} for the runs whose module defines `headline`."""
    return {name: module.headline for module in _run_modules() if hasattr(module, "headline") for name in module.RUNS}
