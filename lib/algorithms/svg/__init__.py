"""Policy optimization with a model (chapter 25): model-based gradient estimators, BPO and SVG.

A `Model` is a differentiable, reparameterized transition

    s' = mu(s, a) + Sigma xi,   xi ~ N(0, I),   with reward r(s, a),

and a policy is a function `policy(params, obs) -> (d(s; w), sigma(s; w))`, the mean action and
the standard deviation of the Gaussian action noise, a = d(s; w) + sigma(s; w) eps. A
deterministic policy uses the mean alone. A critic is `critic(critic_params, obs, a) -> q`.

Every estimator takes the noise it uses (start states s, action noise eps, dynamics noise xi) as
explicit arguments, so a trajectory is a deterministic, differentiable function of w and its
noise; `jax.grad` of the Monte Carlo objective is the estimator. The objectives are written for one
sample; `per_sample_gradients` vmaps `jax.grad` over a batch.

    estimator                        objective (one sample)              book
    deterministic, reparameterized   dpmb_reparameterized_objective      J^{DPMB-R}
    deterministic, score function    dpmb_score_function_surrogate       J^{DPMB-SF}
    BPO, n deterministic steps       bpo_objective                       section 25.1
    SVG(0), critic only              svg0_objective                      J^{SPMB-R-0}
    SVG(n), n steps + critic         svg_objective                       J^{SPMB-R-n}
    SVG(inf), whole trajectory       svg_infinity_objective, svg_infinity (Algorithm 25.1)

On the LQR (`lqr_model`) with a linear policy u = -K x + sigma eps and a Gaussian start
distribution, each objective's expectation has a closed form (`lib.problems.lqr.n_step_objective`,
`lib.problems.lqr.policy_expected_return`, with the exact critic `lib.problems.lqr.policy_q_matrix`): jax.grad of it is the
exact gradient every estimator is tested against.

The training loops (`svg_infinity`, and SVG(n)'s inside `make_svg_train`) record in their log's `diverged_at` the first iteration
whose parameters or objective stopped being finite; `lib.core.sweep.sweep` raises on it.

Also here: noise inference (`infer_noise`, the inverse of `sample_transition`), and DPG's action at one
state (`fit_dpg`), which SAC's Gaussian policy step (`lib.parts.boltzmann_fit.fit_gaussian_to_boltzmann`) tends to
as the temperature alpha goes to 0 (`skewed_q`, `soft_gaussian_closed_form`).

The modules, each built on the ones before: `models` (models, policies, critics), `estimators`,
`loops` (SVG(inf), SVG(n)), `noise` (noise inference) and `dpg`.
Everything is imported here, so `lib.algorithms.svg.X` is the name to use.
"""

from lib.algorithms.svg.models import (
    Model,
    lqr_model,
    pendulum_observe,
    pendulum_model,
    pendulum_initial_state,
    linear_gaussian_policy,
    linear_gaussian_policy_params,
    pendulum_policy,
    pendulum_policy_init,
    quadratic_critic,
    mlp_critic,
)
from lib.algorithms.svg.estimators import (
    check_unroll_depth,
    dpmb_reparameterized_objective,
    dpmb_score_function_surrogate,
    bpo_objective,
    svg0_objective,
    svg_objective,
    per_sample_gradients,
    gradients_by_depth,
)
from lib.algorithms.svg.loops import (
    Trajectory,
    rollout,
    svg_infinity_objective,
    SVGConfig,
    SVGLog,
    SVGState,
    svg_infinity,
    make_svg_train,
    pendulum_returns,
)
from lib.algorithms.svg.noise import sample_transition, infer_noise
from lib.algorithms.svg.dpg import skewed_q, soft_gaussian_closed_form, fit_dpg
