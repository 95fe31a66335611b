"""Time every chapter and every training run; write benchmarks/report.md and report.json.

    python -m benchmarks                  # everything (several minutes)
    python -m benchmarks --runs-only      # training runs only
    python -m benchmarks --only ch23_gradient_experiment

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

from benchmarks.runs import all_runs
from tools.execute import chapter_sources

HERE = pathlib.Path(__file__).resolve().parent


def measure(kind, name):
    completed = subprocess.run([sys.executable, "-m", "benchmarks.worker", kind, name],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def markdown(report):
    lines = ["# Benchmark report", "", f"Machine: {report['machine']}", "",
             "## Training runs", "", "| run | compile (s) | run (s) | peak memory (MB) | device | notes | results |",
             "|---|---|---|---|---|---|---|"]
    for row in report["runs"]:
        lines.append(f"| {row['name']} | {row['compile_s']} | {row['run_s']} | {row['peak_memory_mb']} | "
                     f"{row['device']} | {row['notes']} | `{json.dumps(row['results'])}` |")
    lines += ["", "## Chapter execution", "", "| chapter | wall-clock (s) | kernel peak memory (MB) |", "|---|---|---|"]
    for row in report["chapters"]:
        lines.append(f"| {row['chapter']} | {row['wall_s']} | {row['kernel_peak_memory_mb']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="run names or chapter stems to measure")
    parser.add_argument("--runs-only", action="store_true")
    parser.add_argument("--output", default=str(HERE), help="folder for report.md and report.json")
    args = parser.parse_args(argv)
    wanted = lambda name: args.only is None or name in args.only
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"Python {platform.python_version()}",
              "runs": [], "chapters": []}
    for name in all_runs():
        if wanted(name):
            print(f"run {name}", flush=True)
            report["runs"].append(measure("run", name))
    if not args.runs_only:
        for source in chapter_sources():
            if wanted(source.stem):
                print(f"chapter {source.stem}", flush=True)
                report["chapters"].append(measure("chapter", source.stem))
    output = pathlib.Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (output / "report.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
