"""Fitted Q-iteration with an optimizer inside the target: explicit (Algorithm 20.1) and amortized
(Algorithm 20.2).

The Q-function is linear in features, q(s, a; theta) = phi(s, a)^T theta, so `fit` is a ridge
least-squares solve whose design matrix, built once from the base points B, never changes: each
iteration only recomputes the targets y = r + gamma max_a' q(s', a'; theta_n). A features object has

    state(s) -> psi(s)           the part that depends on the state alone (computed once per point)
    joint(psi, a) -> phi(s, a)   the full feature vector, built once per base point for the fit
    value(theta, psi, a) -> q    phi(s, a)^T theta, the function that maximize evaluates many times
    action_size                  m, the dimension of a

`maximize` (gradient ascent with optax, or a dense grid as the reference) is vmapped over the next
states of all base points. The amortized version also fits a policy d(s; w) = clip(psi(s)^T w, low, high)
to the maximizers found on the subset B_opt, and uses it for the other base points. Both loops are
one `lax.while_loop` that stops as in the boxes: the change delta falls below the tolerance, or N
iterations have run. Histories are recorded in fixed-size arrays so that the error against an exact
answer can be measured per iteration afterwards.

The LQR's base points and quadratic features live in `lib.problems.lqr` (`lqr_base_points`, `quadratic_features`);
`quadratic_q_matrix` and `greedy_gain` read a learned theta as the matrices of the ground truth of chapter 20
(`lib.problems.lqr.optimal_q_matrix`, one sign convention: q = -(z^T H z + c)); `pendulum_base_points`,
`PendulumFeatures` and the two Pendulum policies show the same code on a nonlinear task. Both loops track whether theta, w and delta stayed finite (`diverged_at`, -1 if they did) and
raise when called with concrete values; under jit or vmap the caller passes the field to
`lib.core.divergence.raise_if_diverged`.

The modules, each built on the ones before: `maximizer` (the two configs and `maximize`), `explicit`
(Algorithm 20.1 and the fit both loops share), `amortized` (Algorithm 20.2), `quadratic` (the quadratic
features, a theta read as the LQR's matrices and the error measures), `pendulum`, and `trainers` (both
loops as `lib.core.sweep` trainers that draw B from their key). Everything is
imported here, so `lib.algorithms.fqi.X` is the name to use.
"""

from lib.algorithms.fqi.maximizer import (
    METHODS,
    POLICY_UPDATES,
    MaximizeConfig,
    FQIConfig,
    maximize,
    q_value,
    greedy_actions,
    policy_actions,
    check_maximize,
)
from lib.algorithms.fqi.explicit import FQIResult, fitted_q_iteration
from lib.algorithms.fqi.amortized import AmortizedFQIResult, window_mask, amortized_fitted_q_iteration
from lib.algorithms.fqi.quadratic import (
    QuadraticFeatures,
    q_errors,
    action_errors,
    quadratic_q_matrix,
    greedy_gain,
)
from lib.algorithms.fqi.pendulum import (
    PendulumFeatures,
    pendulum_base_points,
    pendulum_state,
    pendulum_greedy_policy,
    pendulum_amortized_policy,
)
from lib.algorithms.fqi.trainers import base_points, make_fqi_train, make_amortized_fqi_train
