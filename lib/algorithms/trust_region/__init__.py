"""Chapter 26: policy optimization with a trust region.

Three layers, each built on the one before.

1. The trust-region loop in Euclidean space. At x_k we build the quadratic model
   m_k(p) = f(x_k) + g_k^T p + 1/2 p^T B_k p (B_k the exact Hessian, by `jax.hessian`), solve
   min m_k(p) subject to ||p|| <= Delta_k (Cauchy point or Steihaug's truncated conjugate gradient),
   and compare the actual reduction with the predicted one,
   rho_k = (f(x_k) - f(x_k + p)) / (m_k(0) - m_k(p)).
   The step is accepted when rho_k >= eta_1; the radius shrinks by alpha_1 when rho_k < eta_1,
   stays when eta_1 <= rho_k < eta_2 and grows by alpha_2 when rho_k >= eta_2. The same loop runs
   with a KL ball 1/2 p^T I(x_k) p <= Delta_k, the book's second subproblem, when x parametrizes a
   distribution (`trust_region_minimize(..., fisher=...)`).

2. The same idea with the KL divergence as the distance between policies: KL between Gaussian or
   categorical policies, its second-order (Fisher) form 1/2 d^T I(theta_k) d, Fisher-vector products
   by automatic differentiation (the Hessian of the mean KL at theta_k, a jvp of a grad), and
   conjugate gradient to solve I(theta_k) x = g without ever forming I(theta_k).

3. Three policy optimizers built from those pieces and trained end to end with one jitted
   `train(key, knobs)` (a `lax.scan` over iterations of rollout + update, vmappable over seeds
   and over a grid of knobs):
   - natural policy gradient (NPG), KL-normalized (Kakade's has a fixed step size): the step
     sqrt(2 delta / x^T I_d x) x, x = I_d^-1 g by conjugate gradient, whose damped Fisher form
     1/2 step^T I_d step equals delta, I_d = I + cg_damping * Id (the undamped form comes out smaller);
   - TRPO: the same direction, shrunk by a backtracking line search until the exact mean KL is
     <= delta and the surrogate objective improves;
   - PPO: no constraint, a clipped probability ratio in a first-order objective optimized with
     Adam over mini-batches for several epochs.
   All three use GAE advantages (`lib.loops.onpolicy.gae_advantages`) and a value network v(s; psi)
   fitted by regression on the lambda-returns.

The book's text for the chapter stops after the trust-region basics; the policy optimizers follow
the published algorithms (Kakade 2001; Schulman et al. 2015, 2017).

The modules follow those parts: `euclidean` (1), `fisher` (2), `optimizers` (3: the policies and the three
updates) and `training` (3: `make_train`). Everything is imported here, so `lib.algorithms.trust_region.X` is the
name to use.
"""

from lib.algorithms.trust_region.euclidean import (
    rosenbrock,
    TrustRegionConfig,
    TrustRegionTrace,
    quadratic_model,
    model_decrease,
    cauchy_point,
    steihaug_cg,
    trust_region_step,
    trust_region_minimize,
)
from lib.algorithms.trust_region.fisher import (
    categorical_kl,
    gaussian_kl,
    categorical_fisher,
    gaussian_fisher,
    fisher_quadratic_form,
    fisher_vector_product,
    conjugate_gradient,
)
from lib.algorithms.trust_region.optimizers import (
    PolicyParams,
    init_policy,
    distribution,
    log_prob,
    policy_kl,
    entropy,
    sample,
    ALGORITHMS,
    PolicyOptimizationConfig,
    Knobs,
    make_knobs,
    Batch,
    collect_batch,
    natural_gradient_step,
    npg_update,
    trpo_update,
    StepProfile,
    natural_step_profile,
    ppo_loss,
    mean_policy_kl,
)
from lib.algorithms.trust_region.training import PolicyOptimizationLog, make_train
