"""Rerun a chapter's training experiment at any number of seeds, on every device there is.

    python -m tools.rerun --list
    python -m tools.rerun 21-pendulum --seeds 64                       # a laptop: one CPU device per core
    python -m tools.rerun 26-cartpole --seeds 256 --runs-per-device 32 --output runs.json   # a GPU node
    srun python -m tools.rerun 26-cartpole --seeds 1024 --runs-per-device 32 --distributed    # a SLURM cluster

Each experiment is the chapter's own configuration, trained through `lib.core.sweep` (so on every device of
every process, after `jax.distributed.initialize()` on a cluster). The command prints each of the
chapter's claims with its margin (the mean, its standard error, and how many standard errors lie
between the mean and the threshold) and writes every run's numbers as JSON. With the default
`--runs-per-device 1` each run is bitwise the run the chapter makes with the same seed; a larger value
vmaps runs together, faster on accelerators, equal up to rounding.
"""

import argparse
import json
import time
from typing import Callable, NamedTuple

import jax
import numpy as np

from lib.problems import envs
from lib.notebook.checks import mean_and_standard_error
from lib.core.sweep import sweep


class Claim(NamedTuple):
    label: str
    values: str  # the name of the per-run array the claim is about
    above: bool  # the mean exceeds the threshold (else: lies below it)
    threshold: float


class Experiment(NamedTuple):
    chapter: str
    description: str
    run: Callable  # (num_seeds, runs_per_device) -> {name: per-seed values}
    claims: tuple


def pendulum_ddpg_td3(num_seeds, runs_per_device):
    from lib.algorithms import deterministic as det
    from lib.loops.offpolicy import OffPolicyConfig, make_off_policy_train

    env = envs.make("Pendulum-v1")
    loop = OffPolicyConfig(
        total_steps=10_000, warmup_steps=1_000, batch_size=64, buffer_capacity=10_000, eval_every=1_000, eval_episodes=5
    )
    small = dict(gamma=0.99, policy_hidden=(32, 32), q_hidden=(32, 32), tau=0.02)
    trains = {
        "DDPG": make_off_policy_train(env, det.make_ddpg_agent(env, det.DDPGConfig(**small)), loop),
        "TD3": make_off_policy_train(env, det.make_td3_agent(env, det.TD3Config(**small)), loop),
    }
    runs = sweep(trains, num_seeds, runs_per_device=runs_per_device)
    return {f"{name} final greedy return": log.eval_returns[:, -1] for name, (_, log) in runs.items()}


def cartpole_npg_trpo_ppo(num_seeds, runs_per_device):
    from lib.algorithms import trust_region as tr

    config = tr.PolicyOptimizationConfig(total_steps=40_960, kl_bound=0.01, clip_epsilon=0.2)
    train = tr.make_train(envs.make("CartPole-v1"), config, switchable=True)
    _, logs = sweep(
        train,
        num_seeds,
        seed=26,
        runs_per_device=runs_per_device,
        settings=[tr.make_knobs(config, algorithm=name) for name in tr.ALGORITHMS],
    )
    return {
        f"{name.upper()} return over the last 10 iterations": logs.episode_returns[i, :, -10:].mean(axis=1)
        for i, name in enumerate(tr.ALGORITHMS)
    }


def pendulum_svg(num_seeds, runs_per_device):
    from lib.algorithms import svg

    depths = (0, 1, 5, None)
    config = svg.SVGConfig(horizon=40, batch_size=8, num_iterations=200, checkpoint_every=25, depths=depths)
    final_params, _ = sweep(
        svg.make_svg_train(envs.PENDULUM, config), num_seeds, seed=2, runs_per_device=runs_per_device
    )
    evaluate = jax.jit(jax.vmap(jax.vmap(svg.pendulum_returns, in_axes=(0, None)), in_axes=(0, None)))
    returns = np.asarray(evaluate(final_params, jax.random.key(3)).mean(axis=-1))  # (seeds, depths)
    final = {n: returns[:, i] for i, n in enumerate(depths)}
    return {
        "SVG(inf) final return": final[None],
        "SVG(0) final return": final[0],
        "SVG(5) minus SVG(0)": final[5] - final[0],
    }


EXPERIMENTS = {
    "21-pendulum": Experiment(
        "21_deterministic_policies",
        "DDPG and TD3 on Pendulum-v1, 10,000 steps, 32x32",
        pendulum_ddpg_td3,
        (
            Claim("DDPG: greedy return after 10,000 steps", "DDPG final greedy return", True, -200),
            Claim("TD3: greedy return after 10,000 steps", "TD3 final greedy return", True, -200),
        ),
    ),
    "26-cartpole": Experiment(
        "26_trust_regions",
        "NPG, TRPO and PPO on CartPole-v1, 40,960 steps",
        cartpole_npg_trpo_ppo,
        tuple(
            Claim(f"{n} on CartPole", f"{n} return over the last 10 iterations", True, 150)
            for n in ("NPG", "TRPO", "PPO")
        ),
    ),
    "25-pendulum": Experiment(
        "25_model_based_gradients",
        "SVG(0), SVG(1), SVG(5), SVG(inf) on Pendulum, 200 updates",
        pendulum_svg,
        (
            Claim("SVG(inf) final return (swung up)", "SVG(inf) final return", True, -300),
            Claim("SVG(0) final return (not swung up)", "SVG(0) final return", False, -800),
            Claim("SVG(5) minus SVG(0), same seed", "SVG(5) minus SVG(0)", True, 200),
        ),
    ),
}


def claim_line(claim, values):
    """The claim, its mean and standard error, and the margin in standard errors (negative: the claim fails)."""
    mean, error = mean_and_standard_error(values)
    margin = (mean - claim.threshold if claim.above else claim.threshold - mean) / error
    side = "above" if claim.above else "below"
    return (
        f"{claim.label}: mean {mean:.4g} ± {error:.2g} (SE, {np.size(values)} seeds), {side} {claim.threshold:g} "
        f"by {margin:.1f} standard errors",
        margin,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", nargs="?", choices=sorted(EXPERIMENTS))
    parser.add_argument("--seeds", type=int, default=8, help="seeds per setting (at least 2)")
    parser.add_argument("--runs-per-device", type=int, default=1, help="runs vmapped together on each device")
    parser.add_argument("--output", help="where to write the per-run results as JSON")
    parser.add_argument("--list", action="store_true", help="list the experiments")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="join a cluster first: jax.distributed.initialize() (SLURM and similar found automatically)",
    )
    args = parser.parse_args(argv)
    if args.distributed:
        jax.distributed.initialize()
    if args.list or args.experiment is None:
        for name, experiment in EXPERIMENTS.items():
            print(f"{name:14s} chapter {experiment.chapter}: {experiment.description}")
        return 0
    if args.seeds < 2:
        parser.error(f"--seeds must be at least 2 for a standard error, got {args.seeds}")
    experiment = EXPERIMENTS[args.experiment]
    start = time.perf_counter()
    results = experiment.run(args.seeds, args.runs_per_device)
    seconds = time.perf_counter() - start
    print(
        f"{args.experiment}: {args.seeds} seeds on {jax.device_count()} {jax.default_backend()} device(s) "
        f"in {jax.process_count()} process(es), {seconds:.1f} s"
    )
    lines = [claim_line(claim, results[claim.values]) for claim in experiment.claims]
    for line, margin in lines:
        print(("PASS " if margin > 0 else "FAIL ") + line)
    if args.output and jax.process_index() == 0:
        report = {
            "experiment": args.experiment,
            "chapter": experiment.chapter,
            "seeds": args.seeds,
            "runs_per_device": args.runs_per_device,
            "devices": jax.device_count(),
            "seconds": seconds,
            "claims": [line for line, _ in lines],
            "runs": {name: np.asarray(values).tolist() for name, values in results.items()},
        }
        with open(args.output, "w") as out:
            json.dump(report, out, indent=1)
    return 0 if all(margin > 0 for _, margin in lines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
