"""The LQR in the features' coordinates: `QuadraticFeatures`, the class of its q*; a learned theta read
as the matrices of `lib.problems.lqr` (`quadratic_q_matrix`, compared with `lib.problems.lqr.optimal_q_matrix`, and
`greedy_gain`); and the errors of a run measured against an exact answer (`q_errors`, `action_errors`)."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from lib.problems import lqr
from lib.core.config import check_positive_int
from lib.algorithms.fqi.maximizer import q_value


# ----------------------------------------------------------------------------------- features
@dataclass(frozen=True)
class QuadraticFeatures:
    """phi(x, u) = [1, z_i z_j for i <= j] with z = (x, u): every quadratic in (x, u) without linear
    terms, which is the class of the LQR's q*. psi(x) = x, so the policy d(x; w) = w^T x is linear."""

    state_size: int
    action_size: int

    def __post_init__(self):
        check_positive_int("state_size", self.state_size)
        check_positive_int("action_size", self.action_size)

    @property
    def size(self):
        d = self.state_size + self.action_size
        return 1 + d * (d + 1) // 2

    def state(self, s):
        return s

    def value(self, theta, psi, a):
        return self.joint(psi, a) @ theta

    def joint(self, psi, a):
        return lqr.quadratic_features(psi, a)


# ------------------------------------------------------------------------------- measurements
def q_errors(features, thetas, states, actions, reference):
    """Root-mean-square of q(s, a; theta_n) - reference over the points (states, actions), for every
    row theta_n of `thetas`: ||q_n - q*|| measured on a fixed evaluation set."""
    psis = jax.vmap(features.state)(states)
    values = jax.vmap(lambda theta: jax.vmap(lambda psi, a: q_value(features, theta, psi, a))(psis, actions))(thetas)
    return jnp.sqrt(jnp.mean((values - reference[None]) ** 2, axis=1))


def action_errors(actions, reference):
    """Root-mean-square distance ||a - a_ref|| over the last two axes (points, m), per leading index."""
    return jnp.sqrt(jnp.mean(jnp.sum((actions - reference) ** 2, axis=-1), axis=-1))


# --------------------------------------------------------------------- theta as LQR matrices
def quadratic_q_matrix(features, theta):
    """(H, c) with q(x, u; theta) = -(z^T H z + c), z = (x, u), for QuadraticFeatures: the sign
    convention of `lib.problems.lqr`, where the optimal_q_matrix H* is positive semidefinite."""
    d = features.state_size + features.action_size
    rows, cols = jnp.triu_indices(d)
    upper = jnp.zeros((d, d), theta.dtype).at[rows, cols].set(theta[1:])
    return -0.5 * (upper + upper.T), -theta[0]


def greedy_gain(features, theta):
    """K_n with argmax_u q(x, u; theta_n) = -K_n x, from the blocks of H: K_n = H_uu^{-1} H_ux (q concave in u)."""
    H, _ = quadratic_q_matrix(features, theta)
    n = features.state_size
    return jnp.linalg.solve(H[n:, n:], H[n:, :n])
