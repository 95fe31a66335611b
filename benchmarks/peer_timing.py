"""Time one run of a peer library on this machine; print one line of JSON.

Runs in the peers' own environment (see benchmarks/peer_runs.py), from the repository root; of
this project it imports only the timing function of benchmarks/worker.py, so the peers are timed
exactly as our runs are:

    .peer-venv/bin/python -m benchmarks.peer_timing rejax_td3_pendulum_20k_64x64

Each run is configured like the run of ours it is paired with: same environment, steps, network
widths, activation and batch size.
"""
import json
import sys

import jax
import jax.numpy as jnp
from rejax import get_algo

from benchmarks.worker import compile_and_run

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
    (_, (_, returns)), compile_s, run_s = compile_and_run(algo.train, jax.random.PRNGKey(0))
    return {"peer": name, "compile_s": round(compile_s, 2), "run_s": round(run_s, 2),
            "final_return": round(float(jnp.mean(returns[-1])), 1)}


if __name__ == "__main__":
    print(json.dumps(time_peer(sys.argv[1])))
