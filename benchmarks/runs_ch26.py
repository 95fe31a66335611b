"""Chapter 26's benchmarked runs: PPO, TRPO and NPG on CartPole-v1, PPO on Pendulum-v1.

Target: a greedy return of 500 on CartPole-v1 on every seed. `ch26_ppo_cartpole_purejaxrl_config_500k`
runs PureJaxRL's hyperparameters (4 envs x 128 steps, 4 epochs x 4 minibatches, lr 2.5e-4, 64x64 tanh) through our code, so that
the same work is timed on the same machine as our default configuration. The `2epochs` runs halve
the gradient work of the default (64x64 networks kept) and still solve every seed.
"""

import numpy as np

from benchmarks.timing import seeds_note


def _train_then_evaluate(env, config, num_seeds):
    """The sweep of key -> (10 greedy returns, training log), placed on the devices: every seed trained, then evaluated."""
    from lib.algorithms import trust_region as tr
    from lib.loops.onpolicy import greedy_returns
    from lib.core.sweep import plan

    train = tr.make_train(env, config)

    def run(key):
        params, log = train(key)
        return greedy_returns(env, params.policy, key, 10), log

    return plan(run, num_seeds, name=f"{config.algorithm} training")


def _cartpole_runs(algorithm, num_seeds, total_steps, **overrides):
    from lib.problems import envs
    from lib.algorithms import trust_region as tr

    env = envs.make("CartPole-v1")
    config = tr.PolicyOptimizationConfig(algorithm=algorithm, total_steps=total_steps, **overrides)
    planned = _train_then_evaluate(env, config, num_seeds)

    def summarize(output):
        greedy, log = planned.finish(output)
        returns = np.asarray(log.episode_returns)
        last = returns[:, -10:].mean(axis=1)
        reached = returns >= 500.0
        first = [int(np.asarray(log.steps[0])[np.argmax(r)]) if r.any() else None for r in reached]
        return {
            "env_steps": total_steps,
            "seeds": num_seeds,
            "last10_return_mean": round(float(last.mean()), 1),
            "greedy_return_per_seed": [round(float(g), 1) for g in np.asarray(greedy).mean(axis=1)],
            "seeds_reaching_500": int(reached.any(axis=1).sum()),
            "first_step_at_500_per_seed": first,
            "target_500_met": bool(np.all(np.asarray(greedy).mean(axis=1) >= 500.0)),
            "mean_kl_per_update": round(float(np.asarray(log.kl).mean()), 4),
        }

    notes = (
        f"{algorithm.upper()}, {total_steps} steps, {seeds_note(num_seeds)}, {config.num_envs} envs x "
        f"{config.rollout_length} steps per update, {config.epochs} epochs x {config.num_minibatches} minibatches, "
        f"lr {config.learning_rate}, policy/value MLP {config.policy_hidden}/{config.value_hidden} tanh; "
        f"greedy eval 10 episodes per seed"
    )
    return planned.program, planned.inputs, summarize, notes


def ppo_cartpole_one_seed():
    return _cartpole_runs("ppo", 1, 500_000)


def ppo_cartpole_two_epochs():
    """Half the gradient work of the default (2 epochs, 64 x 64 networks kept): a faster configuration that still solves."""
    return _cartpole_runs("ppo", 1, 500_000, epochs=2)


def ppo_cartpole_two_epochs_eight_seeds():
    return _cartpole_runs("ppo", 8, 500_000, epochs=2)


def ppo_cartpole_eight_seeds():
    return _cartpole_runs("ppo", 8, 500_000)


def ppo_cartpole_purejaxrl_config():
    return _cartpole_runs("ppo", 1, 500_000, num_envs=4, rollout_length=128, learning_rate=2.5e-4)


def trpo_cartpole():
    return _cartpole_runs("trpo", 4, 200_000)


def npg_cartpole():
    return _cartpole_runs("npg", 4, 200_000)


def ppo_pendulum():
    from lib.problems import envs
    from lib.algorithms import trust_region as tr

    env = envs.make("Pendulum-v1")
    config = tr.PolicyOptimizationConfig(
        total_steps=1_000_000, reward_scale=0.1, gamma=0.95, learning_rate=1e-3, entropy_coef=0.0, epochs=10
    )
    num_seeds = 4
    planned = _train_then_evaluate(env, config, num_seeds)

    def summarize(output):
        greedy, log = planned.finish(output)
        greedy = np.asarray(greedy).mean(axis=1)
        return {
            "env_steps": config.total_steps,
            "seeds": len(greedy),
            "last10_return_mean": round(float(np.asarray(log.episode_returns)[:, -10:].mean()), 1),
            "greedy_return_per_seed": [round(float(g), 1) for g in greedy],
            "seeds_above_minus_200": int((greedy > -200).sum()),
        }

    return (
        planned.program,
        planned.inputs,
        summarize,
        (
            f"PPO Gaussian policy, 1M steps, {seeds_note(num_seeds)}, 32 envs x 32 steps, "
            "MLP (64, 64) tanh, rewards x 0.1, gamma 0.95, 10 epochs"
        ),
    )


def headline(results):
    """The report's summary columns: a seed is solved when its greedy policy scores 500 (Pendulum: above -200)."""
    greedy = results["greedy_return_per_seed"]
    pendulum = "seeds_above_minus_200" in results
    solved = sum(g > -200 if pendulum else g >= 500 for g in greedy)
    return {
        "env_steps": results["env_steps"],
        "target": "greedy above -200" if pendulum else "greedy 500",
        "seeds_solved": f"{solved}/{len(greedy)}",
        "final_return": results["last10_return_mean"],
    }


RUNS = {
    "ch26_ppo_cartpole_500k_x1": ppo_cartpole_one_seed,
    "ch26_ppo_cartpole_500k_x1_2epochs": ppo_cartpole_two_epochs,
    "ch26_ppo_cartpole_500k_x8_2epochs": ppo_cartpole_two_epochs_eight_seeds,
    "ch26_ppo_cartpole_500k_x8": ppo_cartpole_eight_seeds,
    "ch26_ppo_cartpole_purejaxrl_config_500k": ppo_cartpole_purejaxrl_config,
    "ch26_trpo_cartpole_200k_x4": trpo_cartpole,
    "ch26_npg_cartpole_200k_x4": npg_cartpole,
    "ch26_ppo_pendulum_1m_x4": ppo_pendulum,
}
