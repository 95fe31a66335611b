"""Chapter 21's benchmarked runs: DDPG and TD3 on Pendulum-v1, 20,000 environment steps.

Targets: a mean evaluation return of -200 or better within 20,000 steps on at least 7 of 8 seeds
(the x8 runs); the single-seed runs give one run's wall-clock. The peer comparisons
use their own matched runs (benchmarks/peers.py), which evaluate once at the end.
"""

import jax
import numpy as np

from benchmarks.timing import seeds_note

STEPS = 20_000
SNAPSHOT_EVERY = 2_000


def _pendulum_run(algorithm, hidden, batch_size, num_seeds):
    from lib.algorithms import deterministic as det
    from lib.problems import envs
    from lib.parts import nets
    from lib.loops.offpolicy import OffPolicyConfig, make_off_policy_train
    from lib.core.sweep import plan

    env = envs.make("Pendulum-v1")
    sizes = dict(policy_hidden=hidden, q_hidden=hidden)
    if algorithm == "td3":
        agent, q_fn = det.make_td3_agent(env, det.TD3Config(**sizes)), nets.first_q_apply
    else:
        agent, q_fn = det.make_ddpg_agent(env, det.DDPGConfig(**sizes)), nets.q_apply
    if num_seeds > 1:  # keep (policy, q) every 2000 updates for the overestimation measurement
        agent = det.with_snapshots(agent, SNAPSHOT_EVERY, (STEPS - 1_000) // SNAPSHOT_EVERY)
    loop = OffPolicyConfig(
        total_steps=STEPS,
        warmup_steps=1_000,
        batch_size=batch_size,
        buffer_capacity=STEPS,
        eval_every=1_000,
        eval_episodes=10,
    )
    planned = plan(make_off_policy_train(env, agent, loop), num_seeds)

    def summarize(output):
        output = planned.finish(output)
        returns = np.asarray(output[1].eval_returns).reshape(num_seeds, -1)
        reached = returns.max(axis=1) >= -200  # some evaluation within 20k steps at -200 or better
        final = returns[:, -1] >= -200
        summary = {
            "final_eval_return_mean": round(float(returns[:, -1].mean()), 1),
            "final_eval_return_per_seed": [round(float(r)) for r in returns[:, -1]],
            "seeds_reaching_-200_within_20k": int(reached.sum()),
            "seeds_at_-200_at_20k": int(final.sum()),
            "seeds": num_seeds,
        }
        if num_seeds == 8:
            summary["target_7_of_8_met"] = bool(reached.sum() >= 7)
        if num_seeds > 1:  # critic's q(s0, d(s0)) minus the Monte Carlo discounted return, 16 start states
            q, mc = det.snapshot_value_estimates(env, output[0], q_fn, jax.random.PRNGKey(7), 0.99)
            gap = np.asarray(q - mc)
            summary["q_minus_mc_return_by_snapshot_mean_over_seeds"] = [round(float(g), 1) for g in gap.mean(0)]
            summary["snapshot_env_steps"] = [1_000 + SNAPSHOT_EVERY * (k + 1) for k in range(gap.shape[1])]
            summary["q_minus_mc_return_last_3_snapshots_mean"] = round(float(gap[:, -3:].mean()), 1)
        return summary

    notes = (
        f"{algorithm.upper()}, actor and critic {'x'.join(map(str, hidden))} ReLU, batch {batch_size}, "
        f"{STEPS} env steps (1000 random warm-up), {seeds_note(num_seeds)}, "
        f"greedy evaluation of 10 episodes every 1000 steps included"
    )
    return planned.program, planned.inputs, summarize, notes


def headline(results):
    """The report's summary columns: every run here is 20k steps against the -200 target."""
    return {
        "env_steps": STEPS,
        "target": "-200 by 20k",
        "seeds_solved": f"{results['seeds_reaching_-200_within_20k']}/{results['seeds']}",
        "final_return": results["final_eval_return_mean"],
    }


RUNS = {
    "ch21_td3_pendulum_20k_x8": lambda: _pendulum_run("td3", (64, 64), 256, 8),
    "ch21_ddpg_pendulum_20k_x8": lambda: _pendulum_run("ddpg", (64, 64), 256, 8),
    "ch21_td3_pendulum_20k_64x64": lambda: _pendulum_run("td3", (64, 64), 256, 1),
    "ch21_ddpg_pendulum_20k_64x64": lambda: _pendulum_run("ddpg", (64, 64), 256, 1),
    "ch21_td3_pendulum_20k_32x32_b128": lambda: _pendulum_run("td3", (32, 32), 128, 1),
}
