"""Small multilayer perceptrons on plain pytrees, and target-network updates.

Parameters are a list of {"w", "b"} dicts, so optax, jax.tree_util and vmap over seeds work on
them directly. Networks stay small: the chapters' tasks need a few dozen units per layer.
"""
import jax
import jax.numpy as jnp

from lib.config import check_range


def mlp_init(key, sizes):
    """Weights for layer sizes [in, hidden..., out], uniform in +-1/sqrt(fan_in) (PyTorch's default)."""
    params = []
    for layer_key, fan_in, fan_out in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:]):
        key_w, key_b = jax.random.split(layer_key)
        bound = 1.0 / jnp.sqrt(fan_in)
        params.append({"w": jax.random.uniform(key_w, (fan_in, fan_out), minval=-bound, maxval=bound),
                       "b": jax.random.uniform(key_b, (fan_out,), minval=-bound, maxval=bound)})
    return params


def mlp_apply(params, x, activation=jax.nn.relu):
    """Hidden layers with `activation`, a linear output layer."""
    for layer in params[:-1]:
        x = activation(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def soft_update(target, online, tau):
    """Polyak averaging: target <- tau * online + (1 - tau) * target."""
    check_range("tau", tau, 0.0, 1.0)
    return jax.tree_util.tree_map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def periodic_hard_update(target, online, step, period):
    """Copy the online parameters into the target every `period` steps, keep the target otherwise."""
    copy_now = step % period == 0
    return jax.tree_util.tree_map(lambda t, o: jnp.where(copy_now, o, t), target, online)
