"""Run a policy on any gymnasium environment, to check lib's agents outside the JAX copies."""

import gymnasium
import numpy as np


def rollout_gymnasium(env, act, episodes, seed):
    """Undiscounted returns of `episodes` episodes of `act` on the gymnasium.Env `env`.

    act(obs: np.ndarray) -> action: an array for a Box action space, an int for Discrete
    (JAX arrays are converted). Episode i is reset with seed + i and runs until gymnasium says
    terminated or truncated (the TimeLimit that gymnasium.make adds).
    """
    discrete = isinstance(env.action_space, gymnasium.spaces.Discrete)
    returns = np.zeros(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            action = act(obs)
            action = int(action) if discrete else np.asarray(action, env.action_space.dtype)
            obs, reward, terminated, truncated, _ = env.step(action)
            returns[episode] += float(reward)
            done = terminated or truncated
    return returns
