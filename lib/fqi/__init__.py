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

The LQR's base points and quadratic features live in `lib.lqr` (`lqr_base_points`, `quadratic_features`);
`quadratic_q_matrix`, `greedy_gain` and `optimal_q_matrix` read the ground truth of chapter 20 in the features'
coordinates; `pendulum_base_points`, `PendulumFeatures` and the two Pendulum policies show the same code on a
nonlinear task. Both loops track whether theta, w and delta stayed finite (`diverged_at`, -1 if they did) and
raise when called with concrete values; under jit or vmap the caller passes the field to
`lib.divergence.raise_if_diverged`.

The modules, each built on the ones before: `maximizer` (the two configs and `maximize`), `explicit`
(Algorithm 20.1 and the fit both loops share), `amortized` (Algorithm 20.2), `lqr_truth` (the quadratic
features, the LQR's answer in their coordinates and the error measures) and `pendulum`. Everything is
imported here, so `lib.fqi.X` is the name to use.
"""

from lib.fqi.maximizer import (
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
from lib.fqi.explicit import FQIResult, fitted_q_iteration
from lib.fqi.amortized import AmortizedFQIResult, window_mask, amortized_fitted_q_iteration
from lib.fqi.lqr_truth import (
    QuadraticFeatures,
    q_errors,
    action_errors,
    quadratic_q_matrix,
    greedy_gain,
    optimal_q_matrix,
)
from lib.fqi.pendulum import (
    PendulumFeatures,
    pendulum_base_points,
    pendulum_state,
    pendulum_greedy_policy,
    pendulum_amortized_policy,
)
