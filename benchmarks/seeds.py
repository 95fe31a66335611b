"""Seeds at scale: 1, 8 and 32 seeds of TD3, SAC and PPO, ours through `lib.core.sweep` beside rejax's vmapped runs.

    python -m benchmarks --seeds                          # every row into the report (about 40 minutes on 2 cores)
    python -m benchmarks.seeds ours td3 8                 # one measurement in this process: one line of JSON
    .peer-venv/bin/python -m benchmarks.seeds peer td3 8  # the peer's side, in the peers' environment

Both sides train the configuration of the matched pairs of `benchmarks/peers.py` (network, batch,
steps, one evaluation at the end). Ours: the grid of seeds placed over every device by `lib.core.sweep`
(one CPU device per core), its program compiled ahead of time and then run. The peer's: rejax's
`train` vmapped over the seeds (one seed unbatched), as rejax's documentation runs seeds.
"""

import json
import sys
import time

import jax
import numpy as np

from benchmarks.peers import EVAL_EPISODES, RUNS, peer_algo
from benchmarks.timing import compile_and_run

SEED_COUNTS = (1, 8, 32)
ALGORITHMS = {
    "td3": ("td3_pendulum_20k_evaluated_at_end", "rejax_td3_pendulum_20k"),
    "sac": ("sac_tanh_pendulum_10k_evaluated_at_end", "rejax_sac_pendulum_10k"),
    "ppo": (None, "rejax_ppo_cartpole_500k"),
}


def _our_train(algorithm):
    """train(key) -> (final greedy return, log) at the pair's configuration (ch26's PureJaxRL one for PPO)."""
    if algorithm == "ppo":
        from lib.problems import envs
        from lib.algorithms import trust_region as tr
        from lib.loops.onpolicy import greedy_returns

        env = envs.make("CartPole-v1")
        config = tr.PolicyOptimizationConfig(
            algorithm="ppo", total_steps=500_000, num_envs=4, rollout_length=128, learning_rate=2.5e-4
        )
        train = tr.make_train(env, config)

        def run(key):
            params, log = train(key)
            return greedy_returns(env, params.policy, key, EVAL_EPISODES).mean(), log
    else:
        train, _, _, _ = RUNS[ALGORITHMS[algorithm][0]]()

        def run(key):
            _, log = train(key)
            return log.eval_returns[-1], log

    return run


def ours(algorithm, num_seeds):
    from lib.core.sweep import plan

    planned = plan(_our_train(algorithm), num_seeds)
    start = time.perf_counter()
    compiled = planned.program.lower(*planned.inputs).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    final, _ = planned.finish(jax.block_until_ready(compiled(*planned.inputs)))
    run_s = time.perf_counter() - start
    return {
        "side": "ours",
        "algorithm": algorithm,
        "seeds": num_seeds,
        "devices": jax.device_count(),
        "compile_s": round(compile_s, 2),
        "run_s": round(run_s, 2),
        "final_return_mean": round(float(np.mean(final)), 1),
    }


def peer(algorithm, num_seeds):
    algo = peer_algo(ALGORITHMS[algorithm][1])
    keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
    train = jax.vmap(algo.train) if num_seeds > 1 else lambda keys: algo.train(keys[0])
    (_, (_, returns)), compile_s, run_s = compile_and_run(train, keys)
    return {
        "side": "peer",
        "algorithm": algorithm,
        "seeds": num_seeds,
        "devices": 1,
        "compile_s": round(compile_s, 2),
        "run_s": round(run_s, 2),
        "final_return_mean": round(float(np.mean(np.asarray(returns)[..., -1, :])), 1),
    }


if __name__ == "__main__":
    side, algorithm, num_seeds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps((ours if side == "ours" else peer)(algorithm, num_seeds)))
