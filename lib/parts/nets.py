"""Small multilayer perceptrons on plain pytrees, Q-networks and twin critics, one optimizer step, and
target-network updates.

Parameters are a list of {"w", "b"} dicts, so optax, jax.tree_util and vmap over seeds work on
them directly. Networks stay small: the chapters' tasks need a few dozen units per layer. Twin
critics (TD3's q^A, q^B; SAC's q^1, q^2) are two such networks stacked on a leading axis of 2.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib.core.config import check_positive_int, check_range, concrete


def check_hidden_widths(config, *names):
    """Each field in `names` of a frozen config is a non-empty tuple (or list) of positive int widths;
    store it as a tuple, so a list from the user still hashes and prints alike."""
    for name in names:
        widths = getattr(config, name)
        if not isinstance(widths, (tuple, list)) or not widths:
            raise ValueError(f"{name} must be a non-empty tuple of layer widths, got {widths!r}")
        for width in widths:
            check_positive_int(name, width)
        object.__setattr__(config, name, tuple(widths))


def mlp_init(key, sizes):
    """Weights for layer sizes [in, hidden..., out], uniform in +-1/sqrt(fan_in) (PyTorch's default).

    All layers come from one uniform draw, cut into pieces and scaled per layer: the same law as one
    draw per weight matrix and bias, but the random-number code is compiled once instead of once
    per array, which takes seconds off every training loop's compilation on the CPU.
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output size, got {list(sizes)}")
    for size in sizes:
        check_positive_int("sizes", size)
    layers = list(zip(sizes[:-1], sizes[1:]))
    uniforms = jax.random.uniform(
        key, (sum((fan_in + 1) * fan_out for fan_in, fan_out in layers),), minval=-1.0, maxval=1.0
    )
    params, start = [], 0
    for fan_in, fan_out in layers:  # each layer's piece: fan_in rows of weights, then the bias row
        piece = uniforms[start : start + (fan_in + 1) * fan_out].reshape(fan_in + 1, fan_out) / math.sqrt(fan_in)
        params.append({"w": piece[:-1], "b": piece[-1]})
        start += (fan_in + 1) * fan_out
    return params


def mlp_apply(params, x, activation=jax.nn.relu):
    """Hidden layers with `activation`, a linear output layer."""
    for layer in params[:-1]:
        x = activation(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def q_apply(params, obs, action):
    """q(s, a; theta) from one MLP on the concatenated (s, a); batched over leading axes."""
    return mlp_apply(params, jnp.concatenate([obs, action], axis=-1))[..., 0]


def twin_mlp_init(key, sizes):
    """Two independent MLPs of the same `sizes`, stacked on a leading axis of 2 (twin critics)."""
    return jax.vmap(lambda k: mlp_init(k, sizes))(jax.random.split(key, 2))


def twin_q_apply(params, obs, action):
    """(q^1, q^2)(s, a) stacked on a leading axis of 2, from twin critics stacked the same way."""
    return jax.vmap(q_apply, in_axes=(0, None, None))(params, obs, action)


def first_q_apply(params, obs, action):
    """q^1 alone of twin critics: the critic that TD3's and the SAC box's policy steps ascend."""
    return twin_q_apply(params, obs, action)[0]


def twin_squared_error(params, obs, action, target):
    """sum_j (1/b) sum_i (q^j(s_i, a_i) - y_i)^2: both critics regressed on the same targets y."""
    return jnp.sum(jnp.mean((twin_q_apply(params, obs, action) - target) ** 2, axis=-1))


def gradient_step(optimizer, params, opt_state, grads):
    """One optax step: (params moved by the optimizer's update of `grads`, the new optimizer state)."""
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def adam_first_moment(opt_state):
    """Adam's first moment mu (the running mean of the gradients) in an optax state holding one Adam
    (`optax.adam`, or chained after a clip, or inside `inject_hyperparams` as `annealable_adam`).

    After one step from a fresh state it is (1 - b1) g = 0.1 g, with g the gradient of that step: a page
    can check which gradient an update used, where the step itself (about alpha sign(g)) hides its size.
    """
    is_adam = lambda node: isinstance(node, optax.ScaleByAdamState)
    (adam,) = [node for node in jax.tree_util.tree_leaves(opt_state, is_leaf=is_adam) if is_adam(node)]
    return adam.mu


def soft_update(target, online, tau):
    """Polyak averaging: target <- tau * online + (1 - tau) * target."""
    check_range("tau", tau, 0.0, 1.0)
    return jax.tree_util.tree_map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def periodic_hard_update(target, online, step, period):
    """Copy the online parameters into the target every `period` steps (a positive integer), keep it otherwise."""
    period_value = concrete(period)
    if period_value is not None and (period_value.dtype.kind not in "iu" or np.any(period_value < 1)):
        raise ValueError(f"period must be a positive integer, got {period_value.tolist()}")
    copy_now = step % period == 0
    return jax.tree_util.tree_map(lambda t, o: jnp.where(copy_now, o, t), target, online)
