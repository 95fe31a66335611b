"""Chapter 22's benchmarked runs: SAC on Pendulum-v1, the common variant and the box.

Target: every one of 8 seeds reaches an evaluation return of -200 or better (mean of 5 greedy
episodes) within 10,000 to 20,000 environment steps. The single-seed 10k-step runs give one run's
wall-clock; the peer comparisons use their own matched runs (benchmarks/peers.py).
"""

import numpy as np

from benchmarks.timing import seeds_note

TARGET_RETURN = -200.0


def _pendulum_sac(variant, num_seeds, total_steps, batch_size):
    from lib.problems import envs
    from lib.algorithms import soft
    from lib.loops.offpolicy import OffPolicyConfig, make_off_policy_train
    from lib.core.sweep import plan

    env = envs.make("Pendulum-v1")
    config = soft.SACConfig(policy_hidden=(64, 64), q_hidden=(64, 64), value_hidden=(64, 64))
    make_agent = soft.make_sac_tanh_agent if variant == "tanh" else soft.make_sac_agent
    loop = OffPolicyConfig(
        total_steps=total_steps,
        warmup_steps=1_000,
        batch_size=batch_size,
        buffer_capacity=total_steps,
        eval_every=1_000,
        eval_episodes=5,
    )
    planned = plan(make_off_policy_train(env, make_agent(env, config), loop), num_seeds)

    def summarize(output):
        _, log = planned.finish(output)
        steps, returns = np.asarray(log.eval_steps[0]), np.asarray(log.eval_returns)
        reached = returns >= TARGET_RETURN
        first = [int(steps[np.argmax(row)]) if row.any() else None for row in reached]
        within = lambda limit: int(sum(f is not None and f <= limit for f in first))
        return {
            "seeds": num_seeds,
            "env_steps": total_steps,
            "seeds_reaching_-200_by_10k": within(10_000),
            "seeds_reaching_-200_by_20k": within(20_000),
            "target_met_8_of_8_by_20k": bool(num_seeds == 8 and within(20_000) == 8),
            "first_step_at_-200_per_seed": first,
            "final_return_mean": round(float(returns[:, -1].mean()), 1),
            "final_return_min": round(float(returns[:, -1].min()), 1),
            "last_5_evals_mean": round(float(returns[:, -5:].mean()), 1),
        }

    kind = (
        "tanh-squashed, tuned temperature (target entropy -1)"
        if variant == "tanh"
        else "Algorithm 22.1: value net, Gaussian, alpha = 0.2"
    )
    notes = (
        f"SAC {kind}; policy/Q{'/V' if variant == 'box' else ''} MLPs 64x64; batch {batch_size}; "
        "1 update per step after 1k random steps; "
        f"{seeds_note(num_seeds)}; eval every 1k steps, 5 greedy episodes"
    )
    return planned.program, planned.inputs, summarize, notes


def headline(results):
    """The report's summary columns; the -200 target counts within 10k steps (the target's lower end)."""
    return {
        "env_steps": results["env_steps"],
        "target": "-200 by 10k",
        "seeds_solved": f"{results['seeds_reaching_-200_by_10k']}/{results['seeds']}",
        "final_return": results["final_return_mean"],
    }


RUNS = {
    "ch22_sac_tanh_pendulum_20k_x8": lambda: _pendulum_sac("tanh", 8, 20_000, 256),
    "ch22_sac_tanh_pendulum_10k_x1": lambda: _pendulum_sac("tanh", 1, 10_000, 256),
    "ch22_sac_tanh_pendulum_10k_x1_batch128": lambda: _pendulum_sac("tanh", 1, 10_000, 128),
    "ch22_sac_box_pendulum_20k_x8": lambda: _pendulum_sac("box", 8, 20_000, 256),
}
