"""Chapter 20's benchmarked runs: fitted Q-iteration with explicit and amortized maximization."""

import jax
import jax.numpy as jnp
import numpy as np

LQR_SHARES = (0.01, 0.05, 0.25, 1.0)
PENDULUM_SHARES = (0.01, 0.05, 0.1, 0.25, 1.0)


def lqr_explicit_and_amortized():
    """Algorithms 20.1 and 20.2 on the double-integrator LQR (float32), against the Riccati gain."""
    from lib import fqi, lqr

    system = lqr.double_integrator(dt=0.1, gamma=0.95, control_cost=0.1)
    gain = np.asarray(lqr.solve_riccati(system).K)[0]
    features = fqi.QuadraticFeatures(2, 1)
    base = lqr.lqr_base_points(system, jax.random.PRNGKey(0), 1000)
    config = fqi.FQIConfig(
        gamma=system.gamma,
        max_iterations=400,
        tolerance=1e-10,
        ridge=1e-6,
        maximize=fqi.MaximizeConfig("sgd", num_ascent_steps=30, learning_rate=3.0),
    )
    num_opt = jnp.asarray([round(s * 1000) for s in LQR_SHARES])

    def run(base, num_opt):
        explicit = fqi.fitted_q_iteration(base, features, config)
        amortized = jax.vmap(
            lambda k: fqi.amortized_fitted_q_iteration(base, features, config, k, 0, max_opt=1000, max_window=0)
        )(num_opt)
        gains = jax.vmap(lambda theta: fqi.greedy_gain(features, theta))(
            jnp.concatenate([explicit.theta[None], amortized.theta])
        )
        return explicit.iterations, explicit.solver_calls, amortized.iterations, amortized.solver_calls, gains

    def summarize(output):
        n, calls, am_n, am_calls, gains = (np.asarray(o) for o in output)
        errors = np.max(np.abs(gains[:, 0] - gain) / np.abs(gain), axis=1)
        out = {
            "explicit": {"iterations": int(n), "solver_calls": int(calls), "gain_rel_error": float(f"{errors[0]:.1e}")}
        }
        for i, share in enumerate(LQR_SHARES):
            out[f"amortized_share_{share}"] = {
                "iterations": int(am_n[i]),
                "solver_calls": int(am_calls[i]),
                "gain_rel_error": float(f"{errors[i + 1]:.1e}"),
            }
        out["target_gain_within_1e-4_all_runs"] = bool(np.all(errors < 1e-4))
        return out

    notes = (
        "|B| = 1000, quadratic features (7), maximize = 30 sgd steps, float32; "
        f"explicit + amortized (linear policy, K = 1) for shares {LQR_SHARES}"
    )
    return run, (base, num_opt), summarize, notes


def pendulum_explicit_and_amortized():
    """Algorithm 20.2 on Pendulum-v1 over shares of solved points and 3 draws of B; policy returns."""
    from lib import envs, fqi
    from lib.evaluation import episode_returns

    env = envs.make("Pendulum-v1")
    features = fqi.PendulumFeatures(num_angle=11, num_velocity=9, action_degree=2)
    size, draws = 2000, 3
    bases = [fqi.pendulum_base_points(jax.random.PRNGKey(seed), size) for seed in range(draws)]
    bases = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *bases)
    adam = fqi.MaximizeConfig("adam", low=-2.0, high=2.0, num_ascent_steps=30, learning_rate=0.2)
    config = fqi.FQIConfig(gamma=0.95, max_iterations=150, tolerance=1e-6, ridge=1e-3, policy_ridge=1e-6, maximize=adam)
    num_opt = jnp.asarray([round(s * size) for s in PENDULUM_SHARES])

    def run(bases, num_opt, key):
        def one_draw(base):
            sweep = jax.vmap(
                lambda k: fqi.amortized_fitted_q_iteration(base, features, config, k, 0, max_opt=size, max_window=0)
            )(num_opt)

            def greedy_return(theta):
                return jnp.mean(episode_returns(env, fqi.pendulum_greedy_policy(features, theta, adam), key, 50))

            def policy_return(w):
                return jnp.mean(episode_returns(env, fqi.pendulum_amortized_policy(features, w, adam), key, 50))

            return sweep.solver_calls, jax.vmap(greedy_return)(sweep.theta), jax.vmap(policy_return)(sweep.w)

        calls, greedy, policy = jax.lax.map(one_draw, bases)  # draws one after the other
        zero = jnp.mean(episode_returns(env, lambda obs: jnp.zeros(1), key, 50))
        return calls, greedy, policy, zero

    def summarize(output):
        calls, greedy, policy, zero = (np.asarray(o) for o in output)
        out = {
            f"share_{share}": {
                "solver_calls": int(calls[0, i]),
                "greedy_return_per_draw": [round(float(g), 1) for g in greedy[:, i]],
                "policy_return_per_draw": [round(float(p), 1) for p in policy[:, i]],
            }
            for i, share in enumerate(PENDULUM_SHARES)
        }
        out["zero_torque_return"] = round(float(zero), 1)
        out["all_solved_greedy_beats_-250_every_draw"] = bool(np.all(greedy[:, -1] > -250))
        return out

    notes = (
        f"|B| = {size} x {draws} draws, 11x9 RBF x quadratic in torque ({features.size} features), "
        f"gamma 0.95, N = 150, maximize = 30 Adam steps; shares {PENDULUM_SHARES} vmapped; "
        "50 episodes per policy (mean return)"
    )
    return run, (bases, num_opt, jax.random.PRNGKey(1)), summarize, notes


RUNS = {
    "ch20_fqi_lqr_explicit_vs_amortized": lqr_explicit_and_amortized,
    "ch20_fqi_pendulum_amortized_shares": pendulum_explicit_and_amortized,
}
