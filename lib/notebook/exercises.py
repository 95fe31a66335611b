"""Grading of the coded exercises at the end of each chapter.

A check cell loads this module afresh from its file, lists its cases and ends with `grade`:

    import importlib, lib.notebook.exercises
    grade = importlib.reload(lib.notebook.exercises).grade   # fresh from lib/notebook/exercises.py, whatever an earlier cell did
    cases = [(arguments, expected answer), ...]
    grade("20.1", largest_stable_learning_rate, cases, points=2, rtol=1e-5)

`grade` returns the points earned, the cell's value, which nbgrader's autograder takes as partial credit.
A wrong answer, a crash or a stub does not make it raise, so "Run all" reaches every exercise, but it
fails closed: when it withholds points it writes why to stderr, and nbgrader scores a test cell with
stderr 0 whatever the cell displays.
`python -m tools.assignments` writes the student notebooks, in which the solutions are stubs and the
hidden cases wait for grading.
"""

import os
import sys
import threading
import warnings

import jax
import jax.numpy as jnp
import numpy as np

# Code objects name the file they were loaded from, which is how lib's own files are recognized (this one,
# the grader, runs the student's function and is left out).
LIB = os.path.dirname(os.path.dirname(__file__)) + os.sep  # lib/, the folder above lib/notebook/
# Calls that would switch off the trace of the student's calls (`_call_traced`).
TRACE_SWITCHES = (sys.setprofile, sys.settrace, threading.setprofile, threading.settrace)


def _call_traced(function, arguments):
    """(function(*arguments) as a float array or the exception it raised, lib functions called in order, warnings).

    The function runs in a thread of its own, whose frames hold only the function and its arguments:
    walking up the stack from inside it reaches no expected answer. A profile hook, installed in that
    thread and in any thread started while it runs, records every call whose code lives in `lib/`,
    however the function reached it (a helper, a default argument, importlib); an answer that switches
    the hook off counts as calling lib. The result is converted inside the thread, so a returned object
    cannot call lib in its conversion either.
    """
    outcome, reached = {}, {}  # reached: an ordered set, the first call into lib first

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(LIB) and frame.f_code.co_filename != __file__:
            reached[f"{frame.f_globals.get('__name__')}.{frame.f_code.co_name}"] = None
        elif event == "c_call" and any(arg is switch for switch in TRACE_SWITCHES):
            reached[f"{arg.__module__}.{arg.__name__} (it switches off the trace of lib calls)"] = None

    def run():
        try:
            outcome["result"] = np.asarray(function(*arguments), dtype=float)
        except Exception as error:  # a stub or a crash scores 0 without stopping the notebook
            outcome["error"] = error

    worker = threading.Thread(target=run, name="graded-exercise")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threading.setprofile(profile)  # installed by the worker itself as it starts, and by its threads
        try:
            worker.start()
            worker.join()
        finally:
            threading.setprofile(None)
    if not outcome:
        outcome["error"] = RuntimeError("the function ended its thread without returning")
    return outcome.get("result", outcome.get("error")), list(reached), caught


def grade(exercise, function, cases, points, rtol=0.0, atol=0.0):
    """Points earned by `function` on `cases`, a list of (arguments, expected answer); prints why.

    The check cell of a graded exercise lists its cases with their answers (computed by the
    instructor, so no reference solution is importable), the hidden ones between nbgrader's
    BEGIN/END HIDDEN TESTS, and ends with this call. All the points if every case matches within
    `rtol`/`atol`, else 0; a verdict of 0 goes to stderr, which nbgrader scores 0. List arguments are
    passed as JAX arrays. `cases` is emptied before `function` runs, so the function cannot read the
    answers from the notebook. The exercises are to be solved with JAX and NumPy: a function that
    calls this project's `lib` earns nothing. Warnings the function raises are reported on stdout
    and cost nothing.
    """
    listed = list(cases)
    cases.clear()
    jax.clear_caches()  # a function compiled before, lib calls inside, is traced again, where the hook sees them
    for arguments, expected in listed:
        shown = ", ".join(map(str, arguments))
        got, reached, caught = _call_traced(function, [jnp.asarray(a) if isinstance(a, list) else a for a in arguments])
        for message in dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught):
            print(f"Exercise {exercise}: ({shown}) warned {message} (a warning costs no points)")
        if reached:
            return _withhold(exercise, points, f"the answer calls {reached[0]} from lib; write it with JAX or NumPy")
        if isinstance(got, BaseException):
            return _withhold(exercise, points, f"({shown}) raised {type(got).__name__}: {got}")
        want = np.asarray(expected, dtype=float)
        if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
            return _withhold(
                exercise, points, f"({shown}) gave {np.round(got, 6).tolist()}, expected {np.round(want, 6).tolist()}"
            )
    print(f"Exercise {exercise} passed: {len(listed)} cases, {points} of {points} points")
    return float(points)


def _withhold(exercise, points, reason):
    """Write why the exercise earns nothing to stderr, so that nbgrader scores the cell 0, and return 0."""
    sys.stderr.write(f"Exercise {exercise}: 0 of {points} points: {reason}\n")
    return 0.0
