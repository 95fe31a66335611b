"""Time every chapter and every training run; write benchmarks/report.md and report.json.

    python -m benchmarks                  # everything (several minutes)
    python -m benchmarks --runs-only      # training runs only
    python -m benchmarks --only ch23_gradient_experiment --merge   # re-measure one row, keep the rest
    python -m benchmarks --render         # rewrite report.md from report.json

Not part of the test suite: speed is measured here and reported, never asserted in a test.
Each measurement runs in its own process; compile and run times are reported separately.
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys

from benchmarks.peers import peer_figure
from benchmarks.runs import all_headlines, all_runs
from tools.execute import chapter_sources

HERE = pathlib.Path(__file__).resolve().parent


def measure(kind, name):
    completed = subprocess.run([sys.executable, "-m", "benchmarks.worker", kind, name],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _summary_table(runs, peers):
    """Each training run's steps, seeds solved and return beside its times and the peers' figures."""
    headlines = all_headlines()
    measured_here = {}
    for row in peers:
        measured_here.setdefault(row["ours"], []).append(f"{row['peer']}: {row['peer_compile_s']} + {row['peer_run_s']}")
    lines = ["| run | steps per seed | seeds solved | target | final return | compile (s) | run (s) | "
             "published peer (2 cores) | peer on this machine, compile + run (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(runs, key=lambda row: row["name"]):
        if row["name"] not in headlines:
            continue
        head = headlines[row["name"]](row["results"])
        lines.append(f"| {row['name']} | {head['env_steps']:,} | {head['seeds_solved']} | {head['target']} | "
                     f"{head['final_return']} | {row['compile_s']} | {row['run_s']} | {peer_figure(row['name'])} | "
                     f"{'; '.join(measured_here.get(row['name'], []))} |")
    return lines


def _peer_table(peers):
    """Our runs and the peers' measured in turn on this machine (medians), by `python -m benchmarks.peer_runs`."""
    if not peers:
        return []
    lines = ["## Peers measured on this machine", "",
             "Measured by `python -m benchmarks.peer_runs`: each pair ran in turn, each run in a fresh process; "
             "the medians of the repeats are shown.", "",
             "| our run | compile (s) | run (s) | peer | compile (s) | run (s) | our total / peer's | "
             "peer's final return | measured |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in peers:
        ratio = (row["ours_compile_s"] + row["ours_run_s"]) / (row["peer_compile_s"] + row["peer_run_s"])
        lines.append(f"| {row['ours']} | {row['ours_compile_s']} | {row['ours_run_s']} | {row['peer_description']} | "
                     f"{row['peer_compile_s']} | {row['peer_run_s']} | {ratio:.2f} | {row['peer_final_return']} | "
                     f"{row['measured_at']}, median of {row['repeats']} |")
    return lines + [""]


def markdown(report):
    lines = ["# Benchmark report", "", f"Machine: {report['machine']}", "", report.get("conditions", ""), "",
             "Written by `python -m benchmarks`: every number below was measured, none typed in.", "",
             "## Training runs against their targets", "", *_summary_table(report["runs"], report.get("peers", [])), "",
             *_peer_table(report.get("peers", [])),
             "## Every run in detail", "",
             "| run | compile (s) | run (s) | peak memory (MB) | device | notes | results |",
             "|---|---|---|---|---|---|---|"]
    for row in sorted(report["runs"], key=lambda row: row["name"]):
        lines.append(f"| {row['name']} | {row['compile_s']} | {row['run_s']} | {row['peak_memory_mb']} | "
                     f"{row['device']} | {row['notes']} | `{json.dumps(row['results'])}` |")
    lines += ["", "## Chapter execution", "", "| chapter | wall-clock (s) | kernel peak memory (MB) |", "|---|---|---|"]
    for row in report["chapters"]:
        lines.append(f"| {row['chapter']} | {row['wall_s']} | {row['kernel_peak_memory_mb']} |")
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="run names or chapter stems to measure")
    parser.add_argument("--runs-only", action="store_true")
    parser.add_argument("--output", default=str(HERE), help="folder for report.md and report.json")
    parser.add_argument("--merge", action="store_true", help="keep the rows of the existing report not measured now")
    parser.add_argument("--render", action="store_true", help="only rewrite report.md from report.json")
    parser.add_argument("--conditions", default="", help="a sentence on how the machine was loaded")
    args = parser.parse_args(argv)
    output = pathlib.Path(args.output)
    if args.render:
        write_report(json.loads((output / "report.json").read_text()), output)
        return
    wanted = lambda name: args.only is None or name in args.only
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"Python {platform.python_version()}",
              "conditions": args.conditions, "runs": [], "chapters": []}
    for name in all_runs():
        if wanted(name):
            print(f"run {name}", flush=True)
            report["runs"].append(measure("run", name))
    if not args.runs_only:
        for source in chapter_sources():
            if wanted(source.stem):
                print(f"chapter {source.stem}", flush=True)
                report["chapters"].append(measure("chapter", source.stem))
    old = json.loads((output / "report.json").read_text()) if (output / "report.json").exists() else {}
    report["peers"] = old.get("peers", [])  # measured apart, by benchmarks.peer_runs
    if args.merge and old:
        report["runs"] = _merged(old["runs"], report["runs"], "name")
        report["chapters"] = _merged(old["chapters"], report["chapters"], "chapter")
        report["conditions"] = " ".join(filter(None, [old.get("conditions", ""), args.conditions]))
    write_report(report, output)
    print(markdown(report))


if __name__ == "__main__":
    main()
