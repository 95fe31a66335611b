"""Derivative estimation (chapter 23): naive, score-function and reparameterization estimators.

The book's running example is

    J(theta) = E_{x ~ p(x; theta)}[f(x, theta)],   p(x; theta) = N(theta, 1),   f(x, theta) = x^2 theta,

whose exact derivative is dJ/dtheta = 1 + 3 theta^2. Every estimator here is written for a
generic integrand `f(x, theta)` over the Gaussian location family N(theta, 1) and takes the
standard-normal noise `eps` it uses as an argument, so the randomness is always explicit.
An optional `weights` vector replaces the plain sample average (1/N) sum_i by sum_i w_i; the
experiment uses it to mask a fixed-size noise array down to its first N samples, so one
compiled function serves every N.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lib.core.config import check_positive_int, check_range
from lib.parts.distributions import gaussian_log_prob

MAX_SAMPLES = 1000  # the book's N; the experiment draws this many and keeps the first N


class Estimates(NamedTuple):
    """One value (or array) per estimator: naive, score function (SF), reparameterization (RT)."""

    naive: jax.Array
    score_function: jax.Array
    reparameterization: jax.Array


class EstimatorMoments(NamedTuple):
    """Exact mean and variance of each estimator, from the Gaussian moments."""

    mean: Estimates
    variance: Estimates


def book_integrand(x, theta):
    """The book's f(x, theta) = x^2 theta."""
    return x**2 * theta


def objective(theta):
    """J(theta) = theta E[x^2] = theta (1 + theta^2) for x ~ N(theta, 1)."""
    return theta * (1.0 + theta**2)


def true_gradient(theta):
    """dJ/dtheta = 1 + 3 theta^2, the ground truth every estimator is compared with."""
    return 1.0 + 3.0 * theta**2


def gaussian_log_density(x, theta):
    """log p(x; theta) for p = N(theta, 1); its theta-derivative is the score x - theta."""
    return gaussian_log_prob(jnp.expand_dims(theta, -1), jnp.zeros(1), jnp.expand_dims(x, -1))


def _average(values, weights):
    """(1/N) sum_i values_i, or sum_i w_i values_i when weights are given."""
    return jnp.mean(values) if weights is None else jnp.sum(weights * values)


def naive_gradient(f, theta, eps, weights=None):
    """Differentiate the Monte Carlo average (1/N) sum_i f(x_i, theta) with the x_i held fixed.

    This is the book's tempting-but-wrong estimator: it keeps only the partial derivative
    df/dtheta and forgets that x_i = theta + eps_i moved with theta. For f = x^2 theta it
    returns (1/N) sum_i x_i^2, whose mean is 1 + theta^2, not 1 + 3 theta^2.
    """
    x = jax.lax.stop_gradient(theta + eps)
    return jax.grad(lambda t: _average(f(x, t), weights))(theta)


def score_function_gradient(f, theta, eps, weights=None, log_density=gaussian_log_density):
    """Score-function (likelihood-ratio) estimator, the change of measure with q = p(.; theta).

    Averages f(x_i, theta) d/dtheta log p(x_i; theta) + df/dtheta (x_i, theta) with
    x_i = theta + eps_i drawn from p but not differentiated through. jax.grad of the surrogate
    f(x, theta) + stop_gradient(f(x, theta)) log p(x; theta) produces exactly that sum.
    """
    x = jax.lax.stop_gradient(theta + eps)

    def surrogate(t):
        fx = f(x, t)
        return _average(fx + jax.lax.stop_gradient(fx) * log_density(x, t), weights)

    return jax.grad(surrogate)(theta)


def reparameterization_gradient(f, theta, eps, weights=None):
    """Reparameterization (pathwise) estimator, the change of variables x = g(eps, theta) = theta + eps.

    The noise eps ~ N(0, 1) no longer depends on theta, so the Monte Carlo average of
    f(theta + eps_i, theta) can be differentiated directly; the chain rule adds df/dx dx/dtheta.
    """
    return jax.grad(lambda t: _average(f(t + eps, t), weights))(theta)


def first_n_weights(n_samples, max_samples):
    """Weights 1/N on the first N of max_samples entries and 0 after them (N may be traced)."""
    keep = jnp.arange(max_samples) < n_samples
    return keep / n_samples


def _one_trial(key, theta, weights):
    """All three estimators on the same noise eps ~ N(0, 1) (common random numbers)."""
    eps = jax.random.normal(key, weights.shape)
    return Estimates(
        naive=naive_gradient(book_integrand, theta, eps, weights),
        score_function=score_function_gradient(book_integrand, theta, eps, weights),
        reparameterization=reparameterization_gradient(book_integrand, theta, eps, weights),
    )


def _trials(key, theta, n_samples, n_trials, max_samples):
    """Jitted core: n_trials independent trials, each on the first n_samples of max_samples draws."""
    weights = first_n_weights(n_samples, max_samples)
    keys = jax.random.split(key, n_trials)
    return jax.vmap(_one_trial, in_axes=(0, None, None))(keys, theta, weights)


# theta and n_samples are traced arrays, so moving either slider reuses this compiled code.
_estimator_trials = jax.jit(_trials, static_argnames=("n_trials", "max_samples"))


def estimator_experiment(key, theta, n_samples, n_trials, max_samples=MAX_SAMPLES):
    """The book's section 23.3 experiment: each estimator's value in each of n_trials trials.

    Each trial draws N = n_samples fresh samples x_i = theta + eps_i and evaluates the naive,
    score-function and reparameterization estimators of dJ/dtheta for f(x, theta) = x^2 theta.
    Returns `Estimates` of arrays of shape (n_trials,). The book uses theta = 1, N = 1000,
    1000 trials. Raises ValueError for a non-finite theta or for n_samples / n_trials that are
    not positive integers (n_samples at most max_samples).
    """
    check_range("theta", float(theta))
    check_positive_int("n_samples", n_samples)
    check_range("n_samples", int(n_samples), 1, max_samples)
    check_positive_int("n_trials", n_trials)
    check_positive_int("max_samples", max_samples)
    return _estimator_trials(
        key,
        jnp.asarray(theta, jnp.float32),
        jnp.asarray(n_samples, jnp.int32),
        n_trials=int(n_trials),
        max_samples=int(max_samples),
    )


def per_sample_moments(theta):
    """Exact mean and variance of one sample (N = 1) of each estimator at theta.

    With x = theta + eps, eps ~ N(0, 1), the per-sample estimators are
      naive: x^2 = theta^2 + 2 theta eps + eps^2               -> mean 1 + theta^2,   var 4 theta^2 + 2
      SF:    x^2 theta (x - theta) + x^2                         -> mean 1 + 3 theta^2, var theta^6 + 18 theta^4 + 39 theta^2 + 2
      RT:    2 theta x + x^2 = 3 theta^2 + 4 theta eps + eps^2   -> mean 1 + 3 theta^2, var 16 theta^2 + 2
    The SF variance follows from the raw moments E[x^k] of N(theta, 1) up to k = 6
    (E[x^4] = theta^4 + 6 theta^2 + 3, E[x^5] = theta^5 + 10 theta^3 + 15 theta,
    E[x^6] = theta^6 + 15 theta^4 + 45 theta^2 + 15). At theta = 1 the variances are 6, 60, 18.
    """
    t2 = theta**2
    mean = Estimates(1.0 + t2, true_gradient(theta), true_gradient(theta))
    variance = Estimates(4.0 * t2 + 2.0, t2**3 + 18.0 * t2**2 + 39.0 * t2 + 2.0, 16.0 * t2 + 2.0)
    return EstimatorMoments(mean, variance)


def exact_moments(theta, n_samples):
    """Exact mean and variance of each estimator averaged over N = n_samples i.i.d. samples.

    The mean does not depend on N; the variance is the per-sample variance divided by N
    (at theta = 1, N = 1000: naive 0.006, score function 0.060, reparameterization 0.018).
    """
    one = per_sample_moments(theta)
    return EstimatorMoments(one.mean, Estimates(*(v / n_samples for v in one.variance)))


def summarize(estimates, theta, n_samples):
    """Rows (name, mean, bias, variance, MSE, exact mean, exact variance) over the trials.

    Bias and MSE are measured against the true gradient 1 + 3 theta^2; the variance is the
    population variance over trials (ddof = 0), so MSE = bias^2 + variance.
    """
    exact = exact_moments(theta, n_samples)
    target = true_gradient(theta)
    rows = []
    for name, values, mean, var in zip(Estimates._fields, estimates, exact.mean, exact.variance):
        values = np.asarray(values, np.float64)
        bias = values.mean() - target
        rows.append((name, values.mean(), bias, values.var(), np.mean((values - target) ** 2), mean, var))
    return rows


def format_summary(rows, decimals=4):
    """A fixed-width text table of `summarize` rows, numbers rounded to `decimals`."""
    header = ("estimator", "mean", "bias", "variance", "MSE", "exact mean", "exact var")
    lines = [f"{header[0]:<20}" + "".join(f"{h:>12}" for h in header[1:])]
    for name, *numbers in rows:
        lines.append(f"{name.replace('_', ' '):<20}" + "".join(f"{float(v):>12.{decimals}f}" for v in numbers))
    return "\n".join(lines)
