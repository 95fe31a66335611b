"""Small multilayer perceptrons on plain pytrees, one optimizer step, and target-network updates.

Parameters are a list of {"w", "b"} dicts, so optax, jax.tree_util and vmap over seeds work on
them directly. Networks stay small: the chapters' tasks need a few dozen units per layer.
"""
import math

import jax
import jax.numpy as jnp
import optax

from lib.config import check_range


def mlp_init(key, sizes):
    """Weights for layer sizes [in, hidden..., out], uniform in +-1/sqrt(fan_in) (PyTorch's default).

    All layers come from one uniform draw, cut into pieces and scaled per layer: the same law as one
    draw per weight matrix and bias, but the random-number code is compiled once instead of once
    per array, which takes seconds off every training loop's compilation on the CPU.
    """
    layers = list(zip(sizes[:-1], sizes[1:]))
    uniforms = jax.random.uniform(key, (sum((fan_in + 1) * fan_out for fan_in, fan_out in layers),),
                                  minval=-1.0, maxval=1.0)
    params, start = [], 0
    for fan_in, fan_out in layers:   # each layer's piece: fan_in rows of weights, then the bias row
        piece = uniforms[start:start + (fan_in + 1) * fan_out].reshape(fan_in + 1, fan_out) / math.sqrt(fan_in)
        params.append({"w": piece[:-1], "b": piece[-1]})
        start += (fan_in + 1) * fan_out
    return params


def mlp_apply(params, x, activation=jax.nn.relu):
    """Hidden layers with `activation`, a linear output layer."""
    for layer in params[:-1]:
        x = activation(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def gradient_step(optimizer, params, opt_state, grads):
    """One optax step: (params moved by the optimizer's update of `grads`, the new optimizer state)."""
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def soft_update(target, online, tau):
    """Polyak averaging: target <- tau * online + (1 - tau) * target."""
    check_range("tau", tau, 0.0, 1.0)
    return jax.tree_util.tree_map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def periodic_hard_update(target, online, step, period):
    """Copy the online parameters into the target every `period` steps, keep the target otherwise."""
    copy_now = step % period == 0
    return jax.tree_util.tree_map(lambda t, o: jnp.where(copy_now, o, t), target, online)
