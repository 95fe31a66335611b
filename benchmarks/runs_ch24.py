"""Chapter 24's benchmarked runs: the GAE actor-critic (Algorithm 24.3) on CartPole-v1, and all estimators.

Target: the GAE actor-critic reaches a mean return of 475 or more over its last iterations on
CartPole-v1, on every seed. Comparisons with peers run only at matched configuration (benchmarks/peers.py).
"""

import jax
import numpy as np

from benchmarks.timing import seeds_note

TARGET = 475.0
LAST = 10  # iterations averaged for the final return


def _steps(config, log):
    """Environment steps simulated (B copies x 500 steps per iteration) and steps in the kept episodes."""
    simulated = config.num_iterations * config.num_episodes * 500
    used = float(np.mean(np.sum(np.asarray(log.episode_lengths), axis=-1))) * config.num_episodes
    return simulated, round(used)


def _gae_run(num_seeds):
    from lib.problems import envs
    from lib.algorithms import policy_gradient as pg
    from lib.loops.onpolicy import greedy_returns
    from lib.core.sweep import plan

    env = envs.make("CartPole-v1")
    config = pg.PolicyGradientConfig(estimator="gae")
    # The estimator's index is the setting; x1 is the first of the x8 seeds (same key, same result).
    planned = plan(pg.make_train(env, config), num_seeds, settings=[0], name="policy gradient (gae)")

    def summarize(output):
        state, log = jax.tree_util.tree_map(lambda x: x[0], planned.finish(output))  # the one setting
        final = np.asarray(log.episode_returns)[:, -LAST:].mean(axis=1)
        greedy = jax.jit(jax.vmap(lambda p, k: greedy_returns(env, p, k, 32)))(
            state.policy, jax.random.split(jax.random.PRNGKey(1), num_seeds)
        )
        simulated, used = _steps(config, log)
        return {
            "final_return_per_seed": [round(float(r), 1) for r in final],
            "greedy_return_per_seed": [round(float(r), 1) for r in np.asarray(greedy).mean(axis=1)],
            "seeds_reaching_475": int(np.sum(final >= TARGET)),
            "target_475_met": bool(np.all(final >= TARGET)),
            "steps_simulated_per_seed": simulated,
            "steps_in_episodes_per_seed": used,
        }

    notes = (
        f"Algorithm 24.3, {seeds_note(num_seeds)}; policy and value MLPs 4-64-64-out (tanh); "
        f"{config.num_iterations} iterations x {config.num_episodes} complete episodes (500-step window each); "
        f"gamma {config.gamma}, lambda {config.lam}, "
        f"Adam {config.policy_learning_rate}/{config.value_learning_rate} annealed to 0, "
        f"K={config.value_epochs}, J={config.policy_epochs}, {config.num_minibatches} mini-batches; "
        f"final return = mean of the last {LAST} iterations' episodes (stochastic policy)"
    )
    return planned.program, planned.inputs, summarize, notes


def gae_cartpole_x1():
    """One seed: the single-run timing of the GAE actor-critic."""
    return _gae_run(1)


def gae_cartpole_x8():
    """Eight seeds in parallel: does every seed reach 475?"""
    return _gae_run(8)


def all_estimators_cartpole_x4():
    """Every estimator of the chapter, 4 seeds each, compiled together into one program."""
    from lib.problems import envs
    from lib.algorithms import policy_gradient as pg
    from lib.core.sweep import plan

    env = envs.make("CartPole-v1")
    step_sizes = {
        "whole_return": (1e-2, 1e-2),
        "reward_to_go": (1e-2, 1e-2),
        "baseline": (1e-2, 1e-2),
        "value_minibatch": (2e-3, 3e-3),
        "gae": (2e-3, 3e-3),
        "td0": (1e-3, 3e-3),
    }
    # The notebook's step sizes, except 24.2 and 24.3: its 5e-3 is for 40 short iterations and
    # collapses some seeds over 150; these use the GAE run's (library default) 2e-3 / 3e-3.
    configs = [
        pg.PolicyGradientConfig(estimator=name, policy_learning_rate=w, value_learning_rate=theta)
        for name, (w, theta) in step_sizes.items()
    ]
    # One program: the estimator's index is the setting, traced, not a constant per call.
    planned = plan(pg.make_train(env, configs), 4, settings=range(len(configs)), name="policy gradient")

    def summarize(output):
        returns = planned.finish(output)[1].episode_returns  # (estimator, seed, iteration)
        results = {"env_steps": configs[0].num_iterations * configs[0].num_episodes * 500, "seeds": 4}
        for config, r in zip(configs, returns):
            final = np.asarray(r)[:, -LAST:].mean(axis=1)
            results[config.estimator] = {
                "final_return_mean": round(float(np.mean(final)), 1),
                "final_return_min_seed": round(float(np.min(final)), 1),
                "seeds_reaching_475": int(np.sum(final >= TARGET)),
            }
        return results

    notes = (
        "whole_return, reward_to_go, baseline (24.1), value_minibatch (24.2), gae (24.3), td0 (24.4, one "
        "update per step); Adam annealed, 1e-2 for the REINFORCE variants and 24.1, 2e-3/3e-3 for 24.2-24.3, "
        f"1e-3/3e-3 for 24.4; {seeds_note(4)} each; 150 iterations x 16 episodes; "
        "MLPs 4-64-64-out"
    )
    return planned.program, planned.inputs, summarize, notes


def headline(results):
    """The report's summary columns: a seed is solved when its last iterations average 475 or more.

    For the run of every estimator the columns are those of the GAE actor-critic (Algorithm 24.3).
    """
    if "gae" in results:
        gae = results["gae"]
        return {
            "env_steps": results["env_steps"],
            "target": "GAE: 475 (last 10 iter.)",
            "seeds_solved": f"{gae['seeds_reaching_475']}/{results['seeds']}",
            "final_return": gae["final_return_mean"],
        }
    final = results["final_return_per_seed"]
    return {
        "env_steps": results["steps_simulated_per_seed"],
        "target": "475 (last 10 iter.)",
        "seeds_solved": f"{results['seeds_reaching_475']}/{len(final)}",
        "final_return": round(float(np.mean(final)), 1),
    }


RUNS = {
    "ch24_gae_cartpole_x1": gae_cartpole_x1,
    "ch24_gae_cartpole_x8": gae_cartpole_x8,
    "ch24_all_estimators_cartpole_x4": all_estimators_cartpole_x4,
}
