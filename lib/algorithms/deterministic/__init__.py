"""Chapter 21: deterministic policies d(s; w) trained through a critic q(s, a; theta).

- `nfqca` (Algorithm 21.1): fitted Q-iteration on a fixed batch B whose maximization over actions is
  amortized into a policy, fit by ascending q(s, d(s; w); theta). `make_nfqca_train` runs it on
  a problem with a known answer (lib.problems.lqr's quadratic critic features, linear policy and Riccati gain K).
- `ou_step`, `ou_paths`, `ou_stationary_variance`: Ornstein-Uhlenbeck exploration noise,
  dN = theta (mu - N) dt + sigma dW, discretized by Euler-Maruyama.
- `ddpg_update` (Algorithm 21.2) and `make_ddpg_agent`: DDPG as an `OffPolicyAgent` for
  `lib.loops.offpolicy.make_off_policy_train` (replay, acting and evaluation live there).
- `td3_target`, `td3_update` (Algorithm 21.3) and `make_td3_agent`: twin critics (`lib.parts.nets`), clipped
  target noise, delayed policy and target updates.
- `with_snapshots`, `value_estimates`: the overestimation experiment, the critic's q(s0, d(s0))
  against the Monte Carlo discounted return of the same greedy policy from the same s0.

Actions of the learned policies are squashed into the environment's box,
d(s; w) = center + scale * tanh(mlp(s; w)) (`lib.parts.policies.squash_to_box`); every noise scale in the
configs (OU sigma, TD3's sigma, c and sigma_explore) is in units of `scale`, the half-width of the box.
"""

from lib.algorithms.deterministic.ddpg_td3 import (
    ActorCriticOptimizers,
    DDPGConfig,
    DDPGState,
    TD3Config,
    TD3State,
    actor_critic_optimizers,
    ddpg_update,
    make_ddpg_agent,
    make_td3_agent,
    policy_action,
    td3_policy_loss,
    td3_target,
    td3_update,
)
from lib.algorithms.deterministic.nfqca import NFQCAConfig, NFQCALog, NFQCAResult, NFQCAState, make_nfqca_train, nfqca
from lib.algorithms.deterministic.noise import ou_paths, ou_stationary_variance, ou_step
from lib.algorithms.deterministic.overestimation import (
    Snapshotting,
    snapshot_value_estimates,
    value_estimates,
    with_snapshots,
    without_time_limit,
)
