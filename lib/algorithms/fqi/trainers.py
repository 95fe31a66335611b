"""Both loops as trainers of `lib.core.sweep`: built from (env, config, features, |B|), run from a key that
draws the base points B, returning (state, log) with the loop's result, `diverged_at` included, as the log."""

from lib.core.config import check_positive_int
from lib.algorithms.fqi.amortized import amortized_fitted_q_iteration
from lib.algorithms.fqi.explicit import fitted_q_iteration
from lib.algorithms.fqi.pendulum import pendulum_base_points
from lib.problems.lqr import LQR, lqr_base_points


def base_points(env, key, num_points):
    """B: `num_points` transitions of env drawn from the key (an LQR of lib.problems.lqr, or Pendulum-v1)."""
    if isinstance(env, LQR):
        return lqr_base_points(env, key, num_points)
    if getattr(env, "name", None) == "Pendulum-v1":
        return pendulum_base_points(key, num_points)
    raise ValueError(
        f"env: fitted Q-iteration draws its base points from an LQR (lib.problems.lqr) or Pendulum-v1, got {env!r:.80}"
    )


def make_fqi_train(env, config, features, num_points):
    """`fitted_q_iteration` (Algorithm 20.1) as a trainer: train(key) -> (theta_n, FQIResult) on B = base_points(env, key, num_points)."""
    check_positive_int("num_points", num_points)

    def train(key):
        result = fitted_q_iteration(base_points(env, key, num_points), features, config)
        return result.theta, result

    return train


def make_amortized_fqi_train(env, config, features, num_points, num_opt, window=0, max_window=None):
    """`amortized_fitted_q_iteration` (Algorithm 20.2) as a trainer: train(key) -> ((theta_n, w_n), AmortizedFQIResult) on a fresh B, with
    |B_opt| = num_opt and the window K = window (max_window: the largest K the program holds; default K)."""
    check_positive_int("num_points", num_points)
    max_window = window if max_window is None else max_window

    def train(key):
        result = amortized_fitted_q_iteration(
            base_points(env, key, num_points), features, config, num_opt, window, max_window=max_window
        )
        return (result.theta, result.w), result

    return train
