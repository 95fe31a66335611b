"""Score-function policy gradients (chapter 24): exact on a finite MDP, estimated from rollouts.

Two halves.

**Finite MDP, softmax policy.** The policy is a matrix of logits `w[s, a]` and
d(a|s; w) = softmax(w[s])_a (any other `policy_fn(params) -> pi[s, a]` works too). Here every
quantity has an exact value: the gradient from the policy gradient theorem, the discounted state
visitation, the expected GAE advantage for a given critic. The Monte Carlo estimators (whole
return, reward to go, baseline, GAE for each lambda) run on sampled episodes, vmapped over many
independent trials, so their bias and variance are measured against those exact values.

Occupancy convention: the book's x_alpha^T = alpha^T (I - gamma P_d)^{-1} is unnormalized (it sums
to 1 / (1 - gamma)); `lib.problems.mdp.discounted_visitation` returns the normalized mu_alpha =
(1 - gamma) x_alpha. The gradient functions below use x_alpha, so that they equal grad J for
J(w) = alpha^T v_d exactly; the sampler draws from mu_alpha.

For the discounted objective J, the score-function estimators weight step t by gamma^t:
grad J = E[sum_t gamma^t grad log d(a_t|s_t; w) psi_t], where psi_t is the return to go G_t, the
return minus a baseline G_t - b(s_t), or a GAE advantage. Dropping gamma^t, as the CartPole
algorithms below do (and as nearly all deep-RL code does), changes which objective is followed.

**CartPole.** Algorithms 24.1 - 24.4 as update functions on small MLPs, and `make_train`, which
returns one pure `train(key)` whose whole run (collect B episodes, update, repeat) is a single
`lax.scan`, so `jax.vmap(train)` trains several seeds at once. Each iteration resets B copies of
the environment and keeps the first episode of each (steps after it are masked), so every
estimator, the Monte Carlo ones included, sees the same complete episodes.

The modules: `mdp_exact` and `mdp_estimators` (the finite MDP), `agent` (CartPole's networks and
state), `boxes` (Algorithms 24.1 - 24.4) and `training` (`make_train`). Everything is imported here,
so `lib.algorithms.policy_gradient.X` is the name to use.
"""

from lib.algorithms.policy_gradient.mdp_exact import (
    softmax_policy,
    exact_return,
    occupancy,
    policy_gradient_theorem,
    gradient_from_action_values,
    gae_expected_advantages,
    sample_discounted_visitation,
)
from lib.algorithms.policy_gradient.mdp_estimators import (
    GradientEstimates,
    score_function_gradient,
    checked_lambdas,
    finite_mdp_estimates,
    EstimatorSummary,
    summarize_estimates,
    gae_advantage_moments,
)
from lib.algorithms.policy_gradient.agent import (
    PolicyGradientConfig,
    ESTIMATORS,
    AgentState,
    PolicyGradientLog,
    init_agent,
    first_episode_mask,
)
from lib.algorithms.policy_gradient.boxes import (
    reinforce_update,
    baseline_update,
    value_minibatch_update,
    gae_update,
    actor_critic_td0_step,
)
from lib.algorithms.policy_gradient.training import collect_episodes, make_train
