"""Soft actor-critic and the smooth Bellman operator (chapter 22).

Finite MDPs (exact answers). With temperature beta > 0 the smooth Bellman operator replaces the
max over actions by a log-sum-exp,

    (L_beta v)(s) = beta log sum_a exp(q(s, a) / beta),   q(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) v(s'),

whose maximizing decision rule is the Boltzmann policy d(a|s) = exp(q(s, a)/beta) / Z(s). L_beta is a
gamma-contraction, and since max_a q <= beta log sum_a exp(q/beta) <= max_a q + beta log|A|, its fixed
point v_beta satisfies v* <= v_beta <= v* + beta log|A| / (1 - gamma).

Continuous actions. `sac_update` is the book's Algorithm 22.1 (twin Q-networks, a value network
with a target copy, a reparameterized Gaussian policy, a fixed temperature alpha); `sac_tanh_update`
is the variant most code uses today (tanh-squashed actions with the change-of-variables correction
of the log-density, target Q-networks instead of a value network, and the temperature tuned toward
a target entropy). Both plug into `lib.loops.offpolicy.make_off_policy_train` through `make_sac_agent`
and `make_sac_tanh_agent`.

The modules: `smooth_bellman` (the finite MDP's exact answers and `check_temperature`), `fitted_q` (soft
fitted Q-iteration), `gaussian_fit` (the Boltzmann densities and the exact KL of a Gaussian fit to them; the fit is
`lib.parts.boltzmann_fit`), `sac_shared`
(`SACConfig` and what both SAC variants use), `sac_box` (Algorithm 22.1) and `sac_tanh` (the common
variant). Everything is imported here, so `lib.algorithms.soft.X` is the name to use; that includes `_policy_head` and
`_tanh_sample`, which the tests call.
"""

from lib.algorithms.soft.smooth_bellman import (
    check_temperature,
    soft_maximum,
    boltzmann_policy,
    soft_bellman_operator,
    soft_value_iteration,
    soft_value_gap_bound,
    policy_entropy,
    entropy_regularized_value,
    SoftSolution,
    solve_soft_mdp,
)
from lib.algorithms.soft.fitted_q import soft_fitted_q_iteration
from lib.algorithms.soft.gaussian_fit import (
    multimodal_q,
    boltzmann_log_normalizer,
    boltzmann_density,
    kl_gaussian_to_boltzmann,
)
from lib.algorithms.soft.sac_shared import (
    SACConfig,
    SACNetworks,
    SACOptimizers,
    sac_optimizers,
    _policy_head,
    sac_value_target,
    sac_policy_loss,
)
from lib.algorithms.soft.sac_box import SACState, gaussian_policy, sac_init, sac_update, make_sac_agent
from lib.algorithms.soft.sac_tanh import SACTanhState, _tanh_sample, sac_tanh_init, sac_tanh_update, make_sac_tanh_agent
