"""Measure one thing in a fresh process, so that peak memory belongs to it alone; print JSON.

    python -m benchmarks.worker run NAME       # compile time, run time, peak memory, results
    python -m benchmarks.worker chapter STEM   # wall-clock and peak memory of executing a chapter
"""
import json
import resource
import sys
import time


def peak_memory_mb(who):
    return resource.getrusage(who).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def compile_and_run(fn, *args):
    """(output, compile seconds, run seconds) of `jax.jit(fn)` on `args`, the two timed apart.

    Imports nothing from this project, so that benchmarks/peer_timing.py times the peers the same way.
    """
    import jax

    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    output = jax.block_until_ready(compiled(*args))
    return output, compile_s, time.perf_counter() - start


def measure_run(name):
    import jax

    from benchmarks.runs import all_runs

    fn, args, summarize, notes = all_runs()[name]()
    output, compile_s, run_s = compile_and_run(fn, *args)
    return {"name": name, "compile_s": round(compile_s, 2), "run_s": round(run_s, 2),
            "peak_memory_mb": round(peak_memory_mb(resource.RUSAGE_SELF)), "notes": notes,
            "device": str(jax.devices()[0].platform), "results": summarize(output)}


def measure_chapter(stem):
    from tools.execute import chapter_sources, run_chapter

    start = time.perf_counter()
    run_chapter(chapter_sources([stem])[0])
    return {"chapter": stem, "wall_s": round(time.perf_counter() - start, 1),
            "kernel_peak_memory_mb": round(peak_memory_mb(resource.RUSAGE_CHILDREN))}


if __name__ == "__main__":
    kind, name = sys.argv[1:3]
    print(json.dumps(measure_run(name) if kind == "run" else measure_chapter(name)))
