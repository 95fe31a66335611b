"""Grading of the coded exercises at the end of each chapter.

`grade` scores an exercise on the cases its check cell lists with their answers: it never raises and
returns the points earned, which nbgrader's autograder takes as the cell's score. `python -m
tools.assignments` writes the student notebooks, in which the solutions are stubs and the hidden cases
wait for grading.
"""
import dis
import inspect
import types

import jax.numpy as jnp
import numpy as np


def _global_reads(code):
    """The global names `code` (and the functions and comprehensions inside it) reads; not attribute names."""
    names = {instruction.argval for instruction in dis.get_instructions(code)
             if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    return names.union(*(_global_reads(const) for const in code.co_consts if isinstance(const, types.CodeType)))


def _library_names(function):
    """The names `function` reads from its module that are this project's `lib` modules or functions."""
    found = {name: function.__globals__[name] for name in _global_reads(function.__code__) if name in function.__globals__}
    found.update(inspect.getclosurevars(function).nonlocals)
    owner = lambda value: value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", "")  # noqa: E731
    imported_inside = ["lib"] if "lib" in function.__code__.co_names else []     # `from lib import ...` in the body
    return imported_inside + sorted(name for name, value in found.items() if (owner(value) or "").split(".")[0] == "lib")


def grade(exercise, function, cases, points, rtol=0.0, atol=0.0):
    """Points earned by `function` on `cases`, a list of (arguments, expected answer); prints why.

    The check cell of a graded exercise lists its cases with their answers (computed by the
    instructor, so no reference solution is importable), the hidden ones between nbgrader's
    BEGIN/END HIDDEN TESTS, and ends with this call. It never raises, so "Run all" reaches every
    exercise; the returned number is the cell's value, which nbgrader's autograder takes as partial
    credit: all the points if every case matches within `rtol`/`atol`, else 0. List arguments are
    passed as JAX arrays. The exercises are to be solved with JAX and NumPy: a function that calls
    this project's `lib` earns nothing.
    """
    shortcuts = _library_names(function)
    if shortcuts:
        print(f"Exercise {exercise}: 0 of {points} points: the answer calls {', '.join(shortcuts)} from lib; "
              f"write it with JAX or NumPy")
        return 0.0
    for arguments, expected in cases:
        shown = ", ".join(map(str, arguments))
        try:
            got = np.asarray(function(*(jnp.asarray(a) if isinstance(a, list) else a for a in arguments)), dtype=float)
        except Exception as error:       # a stub or a crash scores 0 without stopping the notebook
            print(f"Exercise {exercise}: 0 of {points} points: ({shown}) raised {type(error).__name__}: {error}")
            return 0.0
        want = np.asarray(expected, dtype=float)
        if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
            print(f"Exercise {exercise}: 0 of {points} points: ({shown}) gave {np.round(got, 6).tolist()}, "
                  f"expected {np.round(want, 6).tolist()}")
            return 0.0
    print(f"Exercise {exercise} passed: {len(cases)} cases, {points} of {points} points")
    return float(points)
