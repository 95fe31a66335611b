"""Where a policy's action lives: the action box of a bounded action, the squash of any real u into it
(the tanh head of SAC, and DDPG's and TD3's deterministic policies), and the squashed mean used for
evaluation. The distributions of the policies (log-densities, samples, entropies, KLs) are in
`lib.parts.distributions`.
"""

import jax.numpy as jnp
import numpy as np

from lib.core.config import concrete


def box_center_and_half_width(low, high):
    """(center, half-width) of the action box [low, high]; ValueError if concrete bounds are not low < high."""
    low_values, high_values = concrete(low), concrete(high)
    if low_values is not None and high_values is not None and not np.all(low_values < high_values):
        raise ValueError(
            f"the action bounds must satisfy low < high, got low={low_values.tolist()}, high={high_values.tolist()}"
        )
    return 0.5 * (high + low), 0.5 * (high - low)


def squash_to_box(u, low, high):
    """center + half_width * tanh(u): any real u mapped into the open box (low, high)."""
    center, half_width = box_center_and_half_width(low, high)
    return center + half_width * jnp.tanh(u)


def tanh_gaussian_mode(mean, low=-1.0, high=1.0):
    """The deterministic action used for evaluation: the squashed mean."""
    return squash_to_box(mean, low, high)
