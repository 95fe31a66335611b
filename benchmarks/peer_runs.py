"""Time the pure-JAX peers and our paired runs on this machine, alternately; add them to the report.

The issues quote peers' timings from other 2-core machines. This measures the peers here, in the
same minutes as our runs, so that the comparison holds the hardware fixed:

    python3 -m venv .peer-venv
    .peer-venv/bin/pip install rejax==0.1.3 "gymnax<1" jax==0.10.2 jaxlib==0.10.2
    python -m benchmarks.peer_runs                      # about 10 minutes
    python -m benchmarks.peer_runs --external purejaxrl_ppo PATH ch26_ppo_cartpole_purejaxrl_config_500k

`--external LABEL SCRIPT OUR_RUN` times any script that prints, as its last line, JSON with
`compile_s`, `run_s` and `final_return` (for a peer whose code is not installable, kept outside
this repository). The report's `purejaxrl_ppo` rows ran PureJaxRL's `purejaxrl/ppo.py` (commit
146b485: its `make_train` with the published CartPole configuration, debug printing off) in the
peers' environment, timed by `benchmarks.worker.compile_and_run` like the runs here. Each pair is
measured `--repeats` times, ours and the peer's in turn, each in a fresh process; the report keeps
the medians.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import time

from benchmarks.__main__ import HERE, measure, write_report

ROOT = HERE.parent

# peer run in benchmarks/peer_timing.py: (our run it is paired with, what the peer's run is)
PAIRS = {
    "rejax_td3_pendulum_20k_64x64": ("ch21_td3_pendulum_20k_64x64",
                                    "rejax 0.1.3 TD3, gymnax Pendulum-v1, 20k steps, 64x64 ReLU, batch 256"),
    "rejax_sac_pendulum_10k_64x64": ("ch22_sac_tanh_pendulum_10k_x1",
                                    "rejax 0.1.3 SAC (tanh, tuned temperature), 10k steps, 64x64 ReLU, batch 256"),
    "rejax_ppo_cartpole_500k_64x64": ("ch26_ppo_cartpole_purejaxrl_config_500k",
                                     "rejax 0.1.3 PPO, gymnax CartPole-v1, 500k steps, 4 envs x 128 steps, 64x64 tanh"),
}


def _last_json_line(command):
    completed = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def median_pair(ours, peer, repeats, measure_ours, measure_peer):
    """Medians of compile and run time over `repeats` alternating measurements of ours and the peer's."""
    rows = {"ours": [], "peer": []}
    for _ in range(repeats):
        rows["ours"].append(measure_ours(ours))
        rows["peer"].append(measure_peer(peer))
    medians = {side: {key: round(statistics.median(row[key] for row in measured), 2) for key in ("compile_s", "run_s")}
               for side, measured in rows.items()}
    return {"ours": ours, "peer": peer, "repeats": repeats,
            "ours_compile_s": medians["ours"]["compile_s"], "ours_run_s": medians["ours"]["run_s"],
            "peer_compile_s": medians["peer"]["compile_s"], "peer_run_s": medians["peer"]["run_s"],
            "peer_final_return": [row.get("final_return") for row in rows["peer"]],
            "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(ROOT / ".peer-venv" / "bin" / "python"),
                        help="the interpreter that has rejax installed")
    parser.add_argument("--only", nargs="*", default=None,
                        help="peer run names from benchmarks/peer_timing.py (none: only the --external scripts)")
    parser.add_argument("--external", nargs=3, action="append", default=[], metavar=("LABEL", "SCRIPT", "OUR_RUN"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(HERE))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if not pathlib.Path(args.python).exists():
        parser.error(f"--python {args.python} does not exist: create the peers' environment first (see the docstring)")
    jobs = [(peer, ours, description, [args.python, "-m", "benchmarks.peer_timing", peer])
            for peer, (ours, description) in PAIRS.items() if args.only is None or peer in args.only]
    jobs += [(label, ours, f"{label} ({pathlib.Path(script).name}, kept outside this repository)",
              [args.python, script]) for label, script, ours in args.external]
    measured = []
    for peer, ours, description, command in jobs:
        print(f"{ours} against {peer}", flush=True)
        row = median_pair(ours, peer, args.repeats, lambda name: measure("run", name),
                          lambda _: _last_json_line(command))
        measured.append({**row, "peer_description": description})
    output = pathlib.Path(args.output)
    report = json.loads((output / "report.json").read_text())
    fresh = {(row["peer"], row["ours"]) for row in measured}
    report["peers"] = [row for row in report.get("peers", []) if (row["peer"], row["ours"]) not in fresh] + measured
    write_report(report, output)


if __name__ == "__main__":
    main()
