"""Time one run of a peer library on this machine; print one line of JSON.

Runs in the peers' own environment (see benchmarks/peer_runs.py), so it imports nothing from
this project:

    .peer-venv/bin/python benchmarks/peer_timing.py rejax_td3_pendulum_20k_64x64

Each run is configured like the run of ours it is paired with: same environment, steps, network
widths, activation and batch size. Compilation (`jit(...).lower(...).compile()`) and the run are
timed separately, as benchmarks/worker.py times ours.
"""
import json
import sys
import time

import jax
import jax.numpy as jnp
from rejax import get_algo

# name: (rejax algorithm, its configuration)
PEER_RUNS = {
    "rejax_td3_pendulum_20k_64x64": ("td3", dict(
        env="Pendulum-v1", total_timesteps=20_000, eval_freq=1_000, fill_buffer=1_000, buffer_size=20_000,
        batch_size=256, learning_rate=1e-3, actor_kwargs={"activation": "relu"},
        critic_kwargs={"activation": "relu"})),
    "rejax_sac_pendulum_10k_64x64": ("sac", dict(
        env="Pendulum-v1", total_timesteps=10_000, eval_freq=1_000, fill_buffer=1_000, buffer_size=10_000,
        batch_size=256, learning_rate=1e-3, agent_kwargs={"activation": "relu"})),
    "rejax_ppo_cartpole_500k_64x64": ("ppo", dict(
        env="CartPole-v1", total_timesteps=500_000, eval_freq=50_000, num_envs=4, num_steps=128, num_epochs=4,
        num_minibatches=4, learning_rate=2.5e-4, agent_kwargs={"activation": "tanh"})),
}


def time_peer(name):
    algorithm, config = PEER_RUNS[name]
    algo = get_algo(algorithm).create(**config)
    key = jax.random.PRNGKey(0)
    start = time.perf_counter()
    compiled = jax.jit(algo.train).lower(key).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    _, (_, returns) = jax.block_until_ready(compiled(key))
    run_s = time.perf_counter() - start
    return {"peer": name, "compile_s": round(compile_s, 2), "run_s": round(run_s, 2),
            "final_return": round(float(jnp.mean(returns[-1])), 1)}


if __name__ == "__main__":
    print(json.dumps(time_peer(sys.argv[1])))
