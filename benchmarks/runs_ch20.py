"""Chapter 20's benchmarked runs: fitted Q-iteration with explicit and amortized maximization."""

import jax
import jax.numpy as jnp
import numpy as np

LQR_SHARES = (0.01, 0.05, 0.25, 1.0)
PENDULUM_SHARES = (0.01, 0.05, 0.1, 0.25, 1.0)


def lqr_explicit_and_amortized():
    """Algorithms 20.1 and 20.2 on the double-integrator LQR (float32), on one B, against the Riccati gain."""
    from lib.algorithms import fqi
    from lib.problems import lqr
    from lib.core.sweep import plan

    system = lqr.double_integrator(dt=0.1, gamma=0.95, control_cost=0.1)
    gain = np.asarray(lqr.solve_riccati(system).K)[0]
    features = fqi.QuadraticFeatures(2, 1)
    config = fqi.FQIConfig(
        gamma=system.gamma,
        max_iterations=400,
        tolerance=1e-10,
        ridge=1e-6,
        maximize=fqi.MaximizeConfig("sgd", num_ascent_steps=30, learning_rate=3.0),
    )

    def amortized(key, num_opt):  # |B_opt| is the setting: every share is one program, on the same B (one key)
        base = fqi.base_points(system, key, 1000)
        result = fqi.amortized_fitted_q_iteration(base, features, config, num_opt, 0, max_opt=1000, max_window=0)
        return result.theta, result

    explicit_plan = plan(fqi.make_fqi_train(system, config, features, 1000), 1, name="Algorithm 20.1")
    amortized_plan = plan(amortized, 1, settings=[round(s * 1000) for s in LQR_SHARES], name="Algorithm 20.2")

    def run(explicit_inputs, amortized_inputs):
        return explicit_plan.program(*explicit_inputs), amortized_plan.program(*amortized_inputs)

    def summarize(output):
        explicit_theta, explicit = explicit_plan.finish(output[0])
        amortized_theta, amortized = amortized_plan.finish(output[1])
        thetas = np.concatenate([explicit_theta, amortized_theta[:, 0]])
        gains = np.stack([np.asarray(fqi.greedy_gain(features, theta)) for theta in thetas])
        errors = np.max(np.abs(gains[:, 0] - gain) / np.abs(gain), axis=1)
        out = {
            "explicit": {
                "iterations": int(explicit.iterations[0]),
                "solver_calls": int(explicit.solver_calls[0]),
                "gain_rel_error": float(f"{errors[0]:.1e}"),
            }
        }
        for i, share in enumerate(LQR_SHARES):
            out[f"amortized_share_{share}"] = {
                "iterations": int(amortized.iterations[i, 0]),
                "solver_calls": int(amortized.solver_calls[i, 0]),
                "gain_rel_error": float(f"{errors[i + 1]:.1e}"),
            }
        out["target_gain_within_1e-4_all_runs"] = bool(np.all(errors < 1e-4))
        return out

    notes = (
        "|B| = 1000, quadratic features (7), maximize = 30 sgd steps, float32; "
        f"explicit + amortized (linear policy, K = 1) for shares {LQR_SHARES}, through lib.core.sweep"
    )
    return run, (explicit_plan.inputs, amortized_plan.inputs), summarize, notes


def pendulum_explicit_and_amortized():
    """Algorithm 20.2 on Pendulum-v1 over shares of solved points and 3 draws of B; policy returns."""
    from lib.problems import envs
    from lib.algorithms import fqi
    from lib.parts.evaluation import episode_returns
    from lib.core.sweep import plan

    env = envs.make("Pendulum-v1")
    features = fqi.PendulumFeatures(num_angle=11, num_velocity=9, action_degree=2)
    size, draws = 2000, 3
    adam = fqi.MaximizeConfig("adam", low=-2.0, high=2.0, num_ascent_steps=30, learning_rate=0.2)
    config = fqi.FQIConfig(gamma=0.95, max_iterations=150, tolerance=1e-6, ridge=1e-3, policy_ridge=1e-6, maximize=adam)
    evaluation_key = jax.random.PRNGKey(1)

    def train_and_evaluate(key, num_opt):  # a draw of B per seed; |B_opt| is the setting, one program for all
        base = fqi.base_points(env, key, size)
        result = fqi.amortized_fitted_q_iteration(base, features, config, num_opt, 0, max_opt=size, max_window=0)
        greedy = episode_returns(env, fqi.pendulum_greedy_policy(features, result.theta, adam), evaluation_key, 50)
        policy = episode_returns(env, fqi.pendulum_amortized_policy(features, result.w, adam), evaluation_key, 50)
        return (result.solver_calls, jnp.mean(greedy), jnp.mean(policy)), result

    planned = plan(
        train_and_evaluate, draws, settings=[round(s * size) for s in PENDULUM_SHARES], name="Algorithm 20.2"
    )

    def summarize(output):
        (calls, greedy, policy), _ = planned.finish(output)  # each (share, draw)
        zero = float(jnp.mean(episode_returns(env, lambda obs: jnp.zeros(1), evaluation_key, 50)))
        out = {
            f"share_{share}": {
                "solver_calls": int(calls[i, 0]),
                "greedy_return_per_draw": [round(float(g), 1) for g in greedy[i]],
                "policy_return_per_draw": [round(float(p), 1) for p in policy[i]],
            }
            for i, share in enumerate(PENDULUM_SHARES)
        }
        out["zero_torque_return"] = round(zero, 1)
        out["all_solved_greedy_beats_-250_every_draw"] = bool(np.all(greedy[-1] > -250))
        return out

    notes = (
        f"|B| = {size} x {draws} draws, 11x9 RBF x quadratic in torque ({features.size} features), "
        f"gamma 0.95, N = 150, maximize = 30 Adam steps; shares {PENDULUM_SHARES} through lib.core.sweep; "
        "50 episodes per policy (mean return)"
    )
    return planned.program, planned.inputs, summarize, notes


RUNS = {
    "ch20_fqi_lqr_explicit_vs_amortized": lqr_explicit_and_amortized,
    "ch20_fqi_pendulum_amortized_shares": pendulum_explicit_and_amortized,
}
