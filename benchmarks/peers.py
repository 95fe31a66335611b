"""The pure-JAX peers, each paired with a run of ours configured like it, for the report's side-by-side table.

A pair is compared only at matched configuration: the same environment, network widths and
activation, batch size, environment steps and evaluation budget (one evaluation of
EVAL_EPISODES episodes at the end of training, nothing in between). `python -m benchmarks --peers`
measures each pair in the same minutes: ours and the peer's in turn, each in a fresh process,
`--repeats` times, and the report keeps the medians. The peers live in their own environment:

    python3 -m venv .peer-venv
    .peer-venv/bin/pip install rejax==0.1.3 "gymnax<1" jax==0.10.2 jaxlib==0.10.2
    python -m benchmarks --peers                        # about 15 minutes
    .peer-venv/bin/python -m benchmarks.peers rejax_td3_pendulum_20k   # one peer run: one line of JSON

PureJaxRL's `purejaxrl/ppo.py` is not installable: `python -m benchmarks --peers --external
ppo_cartpole_purejaxrl SCRIPT` times a script kept outside this repository that prints, as its
last line, JSON with `compile_s`, `run_s` and `final_return`. The report's PureJaxRL rows ran its
`make_train` (commit 146b485, the published CartPole configuration, debug printing off) followed
by a greedy evaluation of EVAL_EPISODES episodes, in the peers' environment, timed by
`benchmarks.timing.compile_and_run`.

Of this project the peers' side imports only that timing function, so that a peer is timed
exactly as our runs are; rejax and lib are imported where they are used, since each environment
has only one of them.
"""

import json
import sys
from typing import Callable, NamedTuple, Optional

import jax
import numpy as np

from benchmarks.timing import compile_and_run

EVAL_EPISODES = 10  # greedy episodes of the one evaluation, at the end of training, on both sides
PENDULUM_STEPS = {"td3": 20_000, "sac": 10_000}


def _pendulum_evaluated_at_end(algorithm):
    """Our TD3 or tanh SAC on Pendulum-v1 as the peer runs it: 64x64 ReLU, batch 256, one evaluation at the end."""
    from lib.algorithms import deterministic, soft
    from lib.problems import envs
    from lib.loops.offpolicy import OffPolicyConfig, make_off_policy_train

    env = envs.make("Pendulum-v1")
    steps = PENDULUM_STEPS[algorithm]
    agent = (
        deterministic.make_td3_agent(env, deterministic.TD3Config())
        if algorithm == "td3"
        else soft.make_sac_tanh_agent(env, soft.SACConfig())
    )
    loop = OffPolicyConfig(
        total_steps=steps,
        warmup_steps=1_000,
        batch_size=256,
        buffer_capacity=steps,
        eval_every=steps,
        eval_episodes=EVAL_EPISODES,
    )

    def summarize(output):
        return {"final_eval_return": round(float(np.asarray(output[1].eval_returns)[-1]), 1)}

    notes = (
        f"{algorithm.upper()}{' (tanh, tuned temperature)' if algorithm == 'sac' else ''}, library defaults: "
        f"64x64 ReLU networks; batch 256, {steps} env steps (1000 random warm-up), 1 seed; "
        f"one greedy evaluation of {EVAL_EPISODES} episodes, at the end"
    )
    return make_off_policy_train(env, agent, loop), (jax.random.PRNGKey(0),), summarize, notes


RUNS = {
    "td3_pendulum_20k_evaluated_at_end": lambda: _pendulum_evaluated_at_end("td3"),
    "sac_tanh_pendulum_10k_evaluated_at_end": lambda: _pendulum_evaluated_at_end("sac"),
}


def _rejax_at_end(total_steps, **config):
    """A rejax configuration that evaluates once, at the end; the rest is `config`."""
    return dict(total_timesteps=total_steps, eval_freq=total_steps, skip_initial_evaluation=True, **config)


# name: (rejax algorithm, its configuration); rejax's TD3 and SAC networks are 64x64 unless told
PEER_RUNS = {
    "rejax_td3_pendulum_20k": (
        "td3",
        _rejax_at_end(
            20_000,
            env="Pendulum-v1",
            fill_buffer=1_000,
            buffer_size=20_000,
            batch_size=256,
            learning_rate=1e-3,
            actor_kwargs={"activation": "relu"},
            critic_kwargs={"activation": "relu"},
        ),
    ),
    "rejax_sac_pendulum_10k": (
        "sac",
        _rejax_at_end(
            10_000,
            env="Pendulum-v1",
            fill_buffer=1_000,
            buffer_size=10_000,
            batch_size=256,
            learning_rate=1e-3,
            agent_kwargs={"activation": "relu"},
        ),
    ),
    "rejax_ppo_cartpole_500k": (
        "ppo",
        _rejax_at_end(
            500_000,
            env="CartPole-v1",
            num_envs=4,
            num_steps=128,
            num_epochs=4,
            num_minibatches=4,
            learning_rate=2.5e-4,
            agent_kwargs={"activation": "tanh"},
        ),
    ),
}


class Pair(NamedTuple):
    ours: str  # our run (a name in benchmarks.runs.all_runs())
    peer: str  # a name in PEER_RUNS, or a label timed by an --external script
    configuration: str  # what both sides run, stated once
    our_return: Callable[[dict], float]  # our run's final return, from its results
    external: Optional[str] = None  # the peer's code when it is not installable


PAIRS = {
    "td3_pendulum": Pair(
        "td3_pendulum_20k_evaluated_at_end",
        "rejax_td3_pendulum_20k",
        "TD3, Pendulum-v1 (rejax 0.1.3 on gymnax's), 20k steps (1k random), 64x64 ReLU actor and twin critics, "
        f"batch 256, lr 1e-3, one evaluation of {EVAL_EPISODES} episodes at the end",
        lambda results: results["final_eval_return"],
    ),
    "sac_pendulum": Pair(
        "sac_tanh_pendulum_10k_evaluated_at_end",
        "rejax_sac_pendulum_10k",
        "SAC (tanh-squashed, tuned temperature), Pendulum-v1 (rejax 0.1.3 on gymnax's), 10k steps (1k random), "
        f"64x64 ReLU, batch 256, lr 1e-3, one evaluation of {EVAL_EPISODES} episodes at the end "
        "(rejax's samples its policy, ours takes the mean)",
        lambda results: results["final_eval_return"],
    ),
    "ppo_cartpole_rejax": Pair(
        "ch26_ppo_cartpole_purejaxrl_config_500k",
        "rejax_ppo_cartpole_500k",
        "PPO, CartPole-v1 (rejax 0.1.3 on gymnax's), 500k steps as 4 envs x 128 steps, 4 epochs x 4 mini-batches, "
        f"lr 2.5e-4, 64x64 tanh, one evaluation of {EVAL_EPISODES} episodes at the end (rejax's samples its policy)",
        lambda results: results["greedy_return_per_seed"][0],
    ),
    "ppo_cartpole_purejaxrl": Pair(
        "ch26_ppo_cartpole_purejaxrl_config_500k",
        "purejaxrl_ppo_cartpole_500k",
        "PPO, CartPole-v1 (PureJaxRL's on gymnax's), 500k steps as 4 envs x 128 steps, 4 epochs x 4 mini-batches, "
        f"lr 2.5e-4, 64x64 tanh, one greedy evaluation of {EVAL_EPISODES} episodes at the end",
        lambda results: results["greedy_return_per_seed"][0],
        external="PureJaxRL purejaxrl/ppo.py at commit 146b485, kept outside this repository",
    ),
}


def peer_algo(name):
    """The rejax algorithm of peer run `name`, evaluating once at the end with EVAL_EPISODES episodes."""
    from rejax import get_algo
    from rejax.evaluate import evaluate

    algorithm, config = PEER_RUNS[name]
    algo = get_algo(algorithm).create(**config)

    def evaluate_at_end(algo, train_state, key):  # rejax's own evaluation, with our episode count
        return evaluate(
            algo.make_act(train_state),
            key,
            algo.env,
            algo.env_params,
            EVAL_EPISODES,
            algo.env_params.max_steps_in_episode,
        )

    return algo.replace(eval_callback=evaluate_at_end)


def time_peer(name):
    """Compile and run seconds of one peer run, and its final return (the mean over the evaluation's episodes)."""
    (_, (_, returns)), compile_s, run_s = compile_and_run(peer_algo(name).train, jax.random.PRNGKey(0))
    return {
        "peer": name,
        "compile_s": round(compile_s, 2),
        "run_s": round(run_s, 2),
        "final_return": round(float(np.mean(returns[-1])), 1),
    }


if __name__ == "__main__":
    print(json.dumps(time_peer(sys.argv[1])))
