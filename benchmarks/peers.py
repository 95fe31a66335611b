"""The published peer figures the issues quote (other 2-core machines, approximate), matched to our runs by name prefix.

They are not comparable with times measured here: `python -m benchmarks.peer_runs` measures the peers on this machine.
"""

PEERS = {
    "ch21_td3": "fastest JAX TD3, 20k steps, 64x64: 4 s + 3 s compile",
    "ch21_ddpg": "CleanRL JAX DDPG, 20k steps: 32 s",
    "ch22_sac": "fastest JAX SAC, 10k steps, 64x64: 5 s + 4 s compile",
    "ch24_": "PureJaxRL PPO, 500k steps: 2 s + 3.5 s compile",
    "ch26_ppo_cartpole": "PureJaxRL PPO, 500k steps: 2 s + 3.5 s compile",
}


def peer_figure(run_name):
    """The quoted peer figure for a run, or an empty string."""
    return next((text for prefix, text in PEERS.items() if run_name.startswith(prefix)), "")
