"""How a run is timed: compiled ahead of time, then run, the two timed apart; and the CPU time every process on
the machine used, from which a measurement says how shared the machine was.

A leaf module: it imports only JAX and the standard library, so that the peers' environment, which has
JAX and rejax but not lib, times a peer with the same function as ours.
"""

import os
import time

import jax


def compile_and_run(fn, *args):
    """(output, compile seconds, run seconds) of `jax.jit(fn)` on `args`, the two timed apart.

    The peers are timed by this same function, in their own environment: it needs only JAX.
    """
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    output = jax.block_until_ready(compiled(*args))
    return output, compile_s, time.perf_counter() - start


def seeds_note(num_seeds):
    """How a row's seeds ran: through lib.core.sweep, one run at a time on each of the devices."""
    devices = jax.device_count()
    seeds = "1 seed" if num_seeds == 1 else f"{num_seeds} seeds"
    return f"{seeds} through lib.core.sweep on {devices} device{'s' if devices > 1 else ''}"


def busy_cpu_seconds():
    """CPU seconds every process on this machine has used since boot (Linux's /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, open("/proc/stat").readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
