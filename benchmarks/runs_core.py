"""The shared machinery on its own, as a floor for the chapters' runs."""
import jax
import jax.numpy as jnp
import numpy as np


def off_policy_loop_random_agent():
    """Chapter 21/22 machinery alone: 20k Pendulum steps x 8 seeds with a no-op learner."""
    from lib import envs
    from lib.offpolicy import OffPolicyAgent, OffPolicyConfig, make_off_policy_train, random_action

    env = envs.make("Pendulum-v1")
    agent = OffPolicyAgent(init=lambda key: jnp.array(0.0),
                           act=lambda state, obs, key: (random_action(env, key), state),
                           greedy=lambda state, obs: jnp.zeros(1),
                           update=lambda state, batch, key: (state + jnp.mean(batch.reward), jnp.array(0.0)))
    config = OffPolicyConfig(total_steps=20_000, warmup_steps=1_000, batch_size=256, eval_every=1_000)
    train = jax.vmap(make_off_policy_train(env, agent, config))
    keys = jax.random.split(jax.random.PRNGKey(0), 8)

    def summarize(output):
        _, log = output
        return {"final_eval_return_mean": round(float(np.mean(log.eval_returns[:, -1])), 1)}

    return train, (keys,), summarize, "no networks: env stepping, replay, evaluation only; 8 seeds vmapped"


RUNS = {"offpolicy_loop_random_agent_pendulum_20k_x8": off_policy_loop_random_agent}
