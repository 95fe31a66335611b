"""The map of the part: every algorithm box of the book and the `lib` function that implements it.

A function implements a box when the first line of its docstring starts with the box's name
("Algorithm 21.3: ..."), so the map in chapter 19 fills itself in as chapters land.
"""

import importlib
import inspect
import pkgutil
import re

import lib

BOXES = {
    "20.1": "Fitted Q-iteration with explicit optimization",
    "20.2": "Fitted Q-iteration with amortized optimization",
    "21.1": "Neural fitted Q-iteration with continuous actions (NFQCA)",
    "21.2": "Deep deterministic policy gradient (DDPG)",
    "21.3": "Twin delayed DDPG (TD3)",
    "22.1": "Soft actor-critic (SAC)",
    "24.1": "Policy gradient with a simple baseline",
    "24.2": "Policy gradient with a control variate and mini-batches",
    "24.3": "Policy gradient with GAE and mini-batches",
    "24.4": "Actor-critic with TD(0)",
    "25.1": "Stochastic value gradients, SVG(inf)",
}

CHAPTER_NOTEBOOKS = {
    "20": "20_embedded_optimization",
    "21": "21_deterministic_policies",
    "22": "22_soft_actor_critic",
    "23": "23_derivative_estimation",
    "24": "24_score_function_gradients",
    "25": "25_model_based_gradients",
    "26": "26_trust_regions",
}

_BOX_PATTERN = re.compile(r"Algorithm (\d+\.\d+)\b")


def implemented_boxes():
    """{box number: "lib.module.function"} for every lib function whose docstring opens with a box."""
    found = {}
    for module_info in pkgutil.walk_packages(lib.__path__, prefix="lib."):
        module = importlib.import_module(module_info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__:
                continue
            claim = _BOX_PATTERN.match(inspect.getdoc(function) or "")
            if claim:
                box = claim.group(1)
                if box in found:
                    raise ValueError(f"Algorithm {box} is claimed by {found[box]} and {module.__name__}.{name}")
                found[box] = _public_name(function)
    return found


def _public_name(function):
    """The shortest path a reader imports the function by: lib.algorithms.svg.svg_infinity, not lib.algorithms.svg.loops.svg_infinity
    (a package re-exports what its modules define)."""
    parts = function.__module__.split(".")
    for end in range(2, len(parts) + 1):
        module = importlib.import_module(".".join(parts[:end]))
        if getattr(module, function.__name__, None) is function:
            return f"{module.__name__}.{function.__name__}"
