"""The published peer figures the issues quote, matched to our runs by name prefix."""

PEERS = {
    "ch21_td3": "fastest JAX TD3 peers: about 4 s + 3 s compile (20k steps, 64x64, 2 cores)",
    "ch21_ddpg": "CleanRL's JAX DDPG: about 32 s (20k steps)",
    "ch22_sac": "fastest JAX SAC peer: about 5 s + 4 s compile (10k steps, 64x64, 2 cores)",
    "ch24_": "PureJaxRL PPO: about 2 s + 3.5 s compile (500k steps, 2 cores)",
    "ch26_ppo_cartpole": "PureJaxRL PPO: about 2 s + 3.5 s compile (500k steps, 2 cores)",
}


def peer_figure(run_name):
    """The quoted peer figure for a run, or an empty string."""
    return next((text for prefix, text in PEERS.items() if run_name.startswith(prefix)), "")
