"""Evaluation of a policy on a JAX environment: whole episodes, compiled, vmapped over episodes."""

import jax
import jax.numpy as jnp

from lib.core.config import check_positive_int, check_range


def episode_returns(env, policy, key, num_episodes, discount=1.0):
    """Returns of `num_episodes` episodes of `policy(obs) -> action` (discounted if discount < 1).

    Each episode runs for env.max_episode_steps steps with rewards masked after it ends, so the
    loop has a fixed length and compiles once.
    """
    check_positive_int("num_episodes", num_episodes)
    check_range("discount", discount, 0.0, 1.0)

    def one_episode(episode_key):
        state, obs = env.reset(episode_key)

        def step(carry, _):
            state, obs, alive, weight, total = carry
            state, next_obs, reward, terminated, truncated = env.step(state, policy(obs))
            total = total + alive * weight * reward
            alive = alive * (1.0 - jnp.logical_or(terminated, truncated))
            return (state, next_obs, alive, weight * discount, total), None

        init = (state, obs, jnp.array(1.0), jnp.array(1.0), jnp.array(0.0))
        (_, _, _, _, total), _ = jax.lax.scan(step, init, None, env.max_episode_steps)
        return total

    return jax.vmap(one_episode)(jax.random.split(key, num_episodes))
