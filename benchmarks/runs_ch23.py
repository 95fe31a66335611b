"""Chapter 23's benchmarked run."""

import jax
import numpy as np


def gradient_experiment():
    """Chapter 23: the book's experiment, 1000 trials of 1000 samples, three estimators."""
    from lib.algorithms import estimators

    def summarize(estimates):
        return {
            name: {"mean": round(float(np.mean(values)), 4), "variance": round(float(np.var(values)), 5)}
            for name, values in estimates._asdict().items()
        }

    def experiment(key):
        return estimators.estimator_experiment(key, 1.0, 1000, 1000)

    return experiment, (jax.random.PRNGKey(0),), summarize, "3 estimators x 1000 trials x 1000 samples"


RUNS = {"ch23_gradient_experiment": gradient_experiment}
