"""Time every chapter and every training run, and our runs beside the peers'; write report.md and report.json.

    python -m benchmarks                        # every run and chapter (about 40 minutes)
    python -m benchmarks --runs-only            # training runs only
    python -m benchmarks --only ch23_gradient_experiment --merge   # re-measure some rows, keep the rest
    python -m benchmarks --peers                # our runs beside the peers' (benchmarks/peers.py)
    python -m benchmarks --seeds                # 1, 8 and 32 seeds, ours beside the peer's (benchmarks/seeds.py)
    python -m benchmarks --render               # rewrite report.md from report.json
    python -m benchmarks --measure run NAME     # one measurement in this process, printed as JSON

Speed is measured here and reported, never asserted in a test. Each measurement runs in a fresh
process (peak memory is its own; compile and run are timed apart), and each row records when it
finished and the share of the CPUs that other processes used meanwhile, so that a reader can tell an
idle machine from a shared one. The targets the report checks: every chapter's Run all within
RUN_ALL_TARGET_S seconds in a fresh kernel, and a live slider's redraw within
SLIDER_TARGET_S (median, worst) seconds. Slider rows (`chapter`, `slider`, `median_s`, `worst_s`,
`measured_at`) are measured in a browser apart from this script and kept in report.json's
`sliders`, as the peer rows are kept in `peers`.
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.peers import PAIRS
from benchmarks.runs import all_headlines, all_runs
from benchmarks.seeds import ALGORITHMS, SEED_COUNTS
from benchmarks.timing import busy_cpu_seconds, compile_and_run

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_PYTHON = ROOT / ".peer-venv" / "bin" / "python"
RUN_ALL_TARGET_S = 40
SLIDER_TARGET_S = (0.3, 0.6)
SHARED_ABOVE = 0.1  # others' share of the CPUs above which a row is marked as measured on a shared machine


def _peak_memory_mb(who):
    return round(resource.getrusage(who).ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux


def measure_run(name):
    import jax

    fn, args, summarize, notes = all_runs()[name]()
    output, compile_s, run_s = compile_and_run(fn, *args)
    return {
        "name": name,
        "compile_s": round(compile_s, 2),
        "run_s": round(run_s, 2),
        "peak_memory_mb": _peak_memory_mb(resource.RUSAGE_SELF),
        "notes": notes,
        "device": str(jax.devices()[0].platform),
        "results": summarize(output),
    }


def measure_chapter(stem):
    """Run all of a chapter in a fresh kernel, as a reader's Jupyter runs it (no static slider frames): the
    first time with an empty compilation cache, then again in another fresh kernel that finds it filled."""
    from tools.execute import chapter_sources, run_chapter

    walls = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache  # lib keeps its compilation cache there; the kernels inherit it
        for _ in range(2):
            start = time.perf_counter()
            run_chapter(chapter_sources([stem])[0], static_view=False)
            walls.append(round(time.perf_counter() - start, 1))
    return {
        "chapter": stem,
        "wall_s": walls[0],
        "second_wall_s": walls[1],
        "kernel_peak_memory_mb": _peak_memory_mb(resource.RUSAGE_CHILDREN),
    }


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_in_fresh_process(command, compilation_cache=False):
    """The JSON last line `command` prints, with when it finished and the CPU share other processes took meanwhile.

    JAX's persistent compilation cache is off in it unless asked for, so a compile time is a compilation.
    """
    busy, ours, start = busy_cpu_seconds(), _children_cpu_seconds(), time.perf_counter()
    cache = {} if compilation_cache else {"JAX_ENABLE_COMPILATION_CACHE": "false"}
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **cache})
    if completed.returncode:
        raise RuntimeError(
            f"{' '.join(command)} failed with status {completed.returncode}:\n{completed.stderr[-3000:]}"
        )
    wall = time.perf_counter() - start
    others = (busy_cpu_seconds() - busy) - (_children_cpu_seconds() - ours)
    row = json.loads(completed.stdout.strip().splitlines()[-1])
    return {
        **row,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "others_cpu_share": round(max(0.0, others) / (wall * os.cpu_count()), 2),
    }


def measure(kind, name):
    """A run (no compilation cache) or a chapter's two Run alls (the second from the cache the first filled)."""
    return measure_in_fresh_process(
        [sys.executable, "-m", "benchmarks", "--measure", kind, name], compilation_cache=kind == "chapter"
    )


def median_pair(name, repeats, measure_ours, measure_peer):
    """Medians over `repeats` alternating measurements of pair `name`: ours, then the peer's, in turn."""
    pair = PAIRS[name]
    rows = {"ours": [], "peer": []}
    for _ in range(repeats):
        rows["ours"].append(measure_ours(pair.ours))
        rows["peer"].append(measure_peer(pair.peer))
    medians = {
        f"{side}_{key}": round(statistics.median(row[key] for row in measured), 2)
        for side, measured in rows.items()
        for key in ("compile_s", "run_s")
    }
    measured = rows["ours"] + rows["peer"]
    return {
        "pair": name,
        "ours": pair.ours,
        "peer": pair.peer,
        "configuration": pair.configuration,
        "repeats": repeats,
        **medians,
        "ours_final_return": [pair.our_return(row["results"]) for row in rows["ours"]],
        "peer_final_return": [row["final_return"] for row in rows["peer"]],
        "measured_at": measured[0]["measured_at"],
        "others_cpu_share": max(row["others_cpu_share"] for row in measured),
    }


def measure_peers(names, external, repeats, python):
    """One median_pair row for each pair named (all that need no --external script when none) and each external one."""
    scripts = dict(external)
    names = (
        [name for name in names if name not in scripts]
        if names is not None
        else [name for name, pair in PAIRS.items() if pair.external is None]
    )
    rows = []
    for name in [*names, *scripts]:
        command = [python, scripts[name]] if name in scripts else [python, "-m", "benchmarks.peers", PAIRS[name].peer]
        print(f"pair {name}", flush=True)
        rows.append(
            median_pair(name, repeats, lambda run: measure("run", run), lambda _: measure_in_fresh_process(command))
        )
    return rows


def measure_seeds(python):
    """For each algorithm and seed count of benchmarks/seeds.py: ours, then the peer's, each in a fresh process."""
    rows = []
    for algorithm in ALGORITHMS:
        for num_seeds in SEED_COUNTS:
            print(f"seeds {algorithm} x {num_seeds}", flush=True)
            for side, interpreter in (("ours", sys.executable), ("peer", python)):
                rows.append(
                    measure_in_fresh_process([interpreter, "-m", "benchmarks.seeds", side, algorithm, str(num_seeds)])
                )
    return rows


def _when(row):
    """When a row was measured and whether the machine was shared; rows from before these were recorded say so."""
    if "measured_at" not in row:
        return "not recorded (see above)"
    share = row["others_cpu_share"]
    return f"{row['measured_at']}, others {share:.0%} of the CPUs{' (shared)' if share > SHARED_ABOVE else ''}"


def _summary_table(runs):
    """Each training run's steps, seeds solved and return beside its times."""
    headlines = all_headlines()
    lines = [
        "| run | steps per seed | seeds solved | target | final return | compile (s) | run (s) | measured |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(runs, key=lambda row: row["name"]):
        if row["name"] in headlines:
            head = headlines[row["name"]](row["results"])
            lines.append(
                f"| {row['name']} | {head['env_steps']:,} | {head['seeds_solved']} | {head['target']} | "
                f"{head['final_return']} | {row['compile_s']} | {row['run_s']} | {_when(row)} |"
            )
    return lines


def _peer_table(peers):
    """Our runs and the peers' at matched configuration, measured in turn (medians)."""
    if not peers:
        return []
    lines = [
        "## Our runs beside the peers', at matched configuration",
        "",
        "Measured by `python -m benchmarks --peers` (benchmarks/peers.py): both sides run the configuration "
        "stated, with one evaluation at the end; each pair ran in turn, ours then the peer's, each run in a "
        "fresh process, in the same minutes; the medians of the repeats are shown. A ratio below 1 means ours "
        "took less time in all.",
        "",
        "| pair | configuration | ours: compile + run (s) | peer: compile + run (s) | our total / peer's | "
        "our final return | peer's final return | measured |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in peers:
        ratio = (row["ours_compile_s"] + row["ours_run_s"]) / (row["peer_compile_s"] + row["peer_run_s"])
        external = PAIRS[row["pair"]].external
        configuration = row["configuration"] + (f"; the peer's code: {external}" if external else "")
        lines.append(
            f"| {row['pair']} | {configuration} | {row['ours_compile_s']} + {row['ours_run_s']} | "
            f"{row['peer_compile_s']} + {row['peer_run_s']} | {ratio:.2f} | {row['ours_final_return']} | "
            f"{row['peer_final_return']} | {_when(row)}, median of {row['repeats']} |"
        )
    return lines + [""]


def _seeds_table(seeds):
    """Seconds for 1, 8 and 32 seeds, ours through the sweep and the peer's vmapped, with the two ratios the
    sweep issue targets: our total over the peer's, and our run time over our one-seed run time."""
    if not seeds:
        return []
    by = {(row["side"], row["algorithm"], row["seeds"]): row for row in seeds}
    lines = [
        "## Seeds at scale: ours through the sweep beside rejax's vmapped runs",
        "",
        "Measured by `python -m benchmarks --seeds` (benchmarks/seeds.py): the configurations of the pairs "
        "above, 1, 8 and 32 seeds, ours (the grid of seeds over one CPU device per core, each device training "
        "its runs one at a time) then the peer's (`jax.vmap` over the seeds), each in a fresh process with no "
        "compilation cache, in the same minutes.",
        "",
        "| algorithm | seeds | ours: devices, compile + run (s) | peer: compile + run (s) | our total / peer's | "
        "our run / our 1-seed run | our mean final return | peer's | measured |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (side, algorithm, num_seeds), ours in by.items():
        peer, one = by.get(("peer", algorithm, num_seeds)), by.get(("ours", algorithm, 1))
        if side != "ours" or peer is None or one is None:
            continue
        ratio = (ours["compile_s"] + ours["run_s"]) / (peer["compile_s"] + peer["run_s"])
        lines.append(
            f"| {algorithm.upper()} | {num_seeds} | {ours['devices']}, {ours['compile_s']} + {ours['run_s']} | "
            f"{peer['compile_s']} + {peer['run_s']} | {ratio:.2f} | {ours['run_s'] / one['run_s']:.1f} | "
            f"{ours['final_return_mean']} | {peer['final_return_mean']} | {_when(ours)} |"
        )
    return lines + [""]


def _chapter_table(chapters):
    lines = [
        "## Run all: each chapter in a fresh kernel",
        "",
        f"Target: every chapter within {RUN_ALL_TARGET_S} s on an idle 2-core machine, run as a reader's "
        "Jupyter runs it (`python -m tools.execute` also draws the site's static slider frames, which takes "
        "longer and is not counted here).",
        "",
        "The first Run all starts with an empty compilation cache; the second, in another fresh kernel, loads "
        "the programs the first compiled from JAX's persistent cache (lib keeps it in a per-user folder).",
        "",
        f"| chapter | first Run all (s) | within {RUN_ALL_TARGET_S} s | second Run all (s) | "
        "kernel peak memory (MB) | measured |",
        "|---|---|---|---|---|---|",
    ]
    for row in chapters:
        within = "yes" if row["wall_s"] <= RUN_ALL_TARGET_S else "no"
        lines.append(
            f"| {row['chapter']} | {row['wall_s']} | {within} | {row.get('second_wall_s', 'not measured')} | "
            f"{row['kernel_peak_memory_mb']} | {_when(row)} |"
        )
    return lines + [""]


def _slider_table(sliders):
    if not sliders:
        return []
    median_target, worst_target = SLIDER_TARGET_S
    lines = [
        "## Slider redraw in JupyterLab",
        "",
        f"From input event to new figure, after the first draw. Target: median within {median_target} s and "
        f"worst within {worst_target} s on an idle 2-core machine.",
        "",
        "| chapter | slider | median (s) | worst (s) | within target | measured |",
        "|---|---|---|---|---|---|",
    ]
    for row in sliders:
        within = "yes" if row["median_s"] <= median_target and row["worst_s"] <= worst_target else "no"
        lines.append(
            f"| {row['chapter']} | {row['slider']} | {row['median_s']} | {row['worst_s']} | {within} | "
            f"{row['measured_at']} |"
        )
    return lines + [""]


def _detail_table(runs):
    lines = [
        "## Every run in detail",
        "",
        "| run | compile (s) | run (s) | peak memory (MB) | device | measured | notes | results |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(runs, key=lambda row: row["name"]):
        lines.append(
            f"| {row['name']} | {row['compile_s']} | {row['run_s']} | {row['peak_memory_mb']} | "
            f"{row['device']} | {_when(row)} | {row['notes']} | `{json.dumps(row['results'])}` |"
        )
    return lines


def markdown(report):
    lines = [
        "# Benchmark report",
        "",
        f"Machine: {report['machine']}",
        "",
        report.get("conditions", ""),
        "",
        "Written by `python -m benchmarks`: every number below was measured, none typed in. Each row says "
        "when its measurement finished and what share of the CPUs other processes used meanwhile; a row marked "
        "shared ran beside other jobs, so its times are upper bounds.",
        "",
        "## Training runs against their targets",
        "",
        *_summary_table(report["runs"]),
        "",
        *_peer_table(report.get("peers", [])),
        *_seeds_table(report.get("seeds", [])),
        *_chapter_table(report["chapters"]),
        *_slider_table(report.get("sliders", [])),
        *_detail_table(report["runs"]),
    ]
    return "\n".join(lines) + "\n"


def _merged(old, new, key):
    """The rows of `old` with those of `new` replacing rows of the same `key`, new ones appended."""
    fresh = {row[key]: row for row in new}
    kept = [fresh.pop(row[key], row) for row in old]
    return kept + list(fresh.values())


def write_report(report, output):
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (output / "report.md").write_text(markdown(report))


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="run names, chapter stems or (with --peers) pairs")
    parser.add_argument("--runs-only", action="store_true")
    parser.add_argument("--output", default=str(HERE), help="folder for report.md and report.json")
    parser.add_argument("--merge", action="store_true", help="keep the rows of the existing report not measured now")
    parser.add_argument("--render", action="store_true", help="only rewrite report.md from report.json")
    parser.add_argument("--conditions", default=None, help="a paragraph on the measurements (replaces the stored one)")
    parser.add_argument("--peers", action="store_true", help="measure the pairs of benchmarks/peers.py")
    parser.add_argument("--seeds", action="store_true", help="measure 1, 8 and 32 seeds beside the peer's")
    parser.add_argument(
        "--external",
        nargs=2,
        action="append",
        default=[],
        metavar=("PAIR", "SCRIPT"),
        help="with --peers: time the peer's side of PAIR by SCRIPT, kept outside this repository",
    )
    parser.add_argument("--repeats", type=int, default=3, help="with --peers: measurements of each side")
    parser.add_argument("--python", default=str(PEER_PYTHON), help="with --peers: the interpreter that has rejax")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "NAME"), help="run or chapter: measure it here")
    return parser


def _peer_rows(args, parser, old_rows):
    """`old_rows` with the pairs measured now replacing theirs."""
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if not pathlib.Path(args.python).exists():
        parser.error(
            f"--python {args.python} does not exist: create the peers' environment first (benchmarks/peers.py says how)"
        )
    scripts = {name for name, _ in args.external}
    unknown = [name for name in [*(args.only or []), *scripts] if name not in PAIRS]
    if unknown:
        parser.error(f"unknown pairs {unknown}; the pairs are {sorted(PAIRS)}")
    needing_script = [
        name for name in args.only or [] if name in PAIRS and PAIRS[name].external and name not in scripts
    ]
    if needing_script:
        parser.error(f"pairs {needing_script} need their peer's script: pass --external PAIR SCRIPT")
    return _merged(old_rows, measure_peers(args.only, args.external, args.repeats, args.python), "pair")


def _measured_rows(args):
    """The runs and chapters named by --only (all when None), each measured in a fresh process."""
    wanted = lambda name: args.only is None or name in args.only
    runs = []
    for name in filter(wanted, all_runs()):
        print(f"run {name}", flush=True)
        runs.append(measure("run", name))
    chapters = []
    if not args.runs_only:
        from tools.execute import chapter_sources

        for stem in filter(wanted, (source.stem for source in chapter_sources())):
            print(f"chapter {stem}", flush=True)
            chapters.append(measure("chapter", stem))
    return runs, chapters


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.measure:
        kind, name = args.measure
        print(json.dumps(measure_run(name) if kind == "run" else measure_chapter(name)))
        return
    output = pathlib.Path(args.output)
    old = json.loads((output / "report.json").read_text()) if (output / "report.json").exists() else {}
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    report = {
        "machine": old.get("machine", machine) if args.render else machine,
        "conditions": old.get("conditions", ""),
        "runs": old.get("runs", []),
        "chapters": old.get("chapters", []),
        "sliders": old.get("sliders", []),
        "peers": [row for row in old.get("peers", []) if row.get("pair") in PAIRS],  # pairs still defined
        "seeds": old.get("seeds", []),
    }
    if args.conditions is not None:
        report["conditions"] = args.conditions
    if args.peers:
        report["peers"] = _peer_rows(args, parser, report["peers"])
    elif args.seeds:
        if not pathlib.Path(args.python).exists():
            parser.error(
                f"--python {args.python} does not exist: create the peers' environment first "
                "(benchmarks/peers.py says how)"
            )
        report["seeds"] = measure_seeds(args.python)
    elif not args.render:
        runs, chapters = _measured_rows(args)
        report["runs"] = _merged(report["runs"], runs, "name") if args.merge else runs
        report["chapters"] = _merged(report["chapters"], chapters, "chapter") if args.merge else chapters
    write_report(report, output)
    print(markdown(report))


if __name__ == "__main__":
    main()
