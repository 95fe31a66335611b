"""Chapter 25's benchmarked runs: SVG(n) on Pendulum with the true model, n in {0, 1, 5, inf}."""

import jax
import numpy as np

from benchmarks.timing import seeds_note

DEPTHS = (0, 1, 5, None)


def _pendulum_svg(iterations, seeds):
    from lib.problems import envs
    from lib.algorithms import svg
    from lib.core.sweep import plan

    config = svg.SVGConfig(num_iterations=iterations, checkpoint_every=25, depths=DEPTHS)  # the chapter's otherwise
    train = svg.make_svg_train(envs.PENDULUM, config)
    evaluate = jax.vmap(lambda p, k: svg.pendulum_returns(p, k, 20), in_axes=(0, None))  # over depths

    def train_and_evaluate(key):
        final, log = train(key)
        return evaluate(final, jax.random.PRNGKey(123)).mean(axis=-1), log  # a return per depth

    planned = plan(train_and_evaluate, seeds, name="SVG on Pendulum")

    def summarize(output):
        final_returns, _ = planned.finish(output)  # (seeds, depths)
        summary = {}
        for i, n in enumerate(DEPTHS):
            name = f"svg_{'inf' if n is None else n}"
            summary[name] = {
                "final_return_mean": round(float(final_returns[:, i].mean()), 1),
                "final_return_min": round(float(final_returns[:, i].min()), 1),
                "seeds_above_-200": int(np.sum(final_returns[:, i] > -200)),
            }
        return summary

    critic = "-".join(map(str, (4, *config.q_hidden, 1)))
    notes = (
        f"policy 3-16-1 tanh MLP (Adam {config.policy_learning_rate:g}), critic {critic} fitted by "
        f"{config.num_q_steps} Adam steps at {config.q_learning_rate:g} per update (finite n), "
        f"T={config.horizon} model steps, N={config.batch_size} start states, "
        f"{iterations} updates, {seeds_note(seeds)}; finite n share one program (vmapped over n); "
        f"final greedy policy evaluated on 20 Pendulum-v1 episodes"
    )
    return planned.program, planned.inputs, summarize, notes


RUNS = {
    "ch25_svg_pendulum_400_updates_x3": lambda: _pendulum_svg(400, 3),
    "ch25_svg_pendulum_1000_updates_x4": lambda: _pendulum_svg(1000, 4),
}
