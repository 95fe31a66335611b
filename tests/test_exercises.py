"""lib.notebook.exercises.grade: all the points for a right answer, none for a wrong one, a crash, a lib call or a trick.

Each trick a student might try is a row: in this process (lib reached however, the answers read from the
caller's frames or the notebook, a warning), and in a real kernel scored by nbgrader's own function
(`nbgrader.utils.determine_grade`), for the tricks that act on the kernel (a grader replaced in an
earlier cell, the cell's value hidden). The chapters' own cases, and the whole nbgrader round trip, are
tested in tests/test_assignments.py and tests/test_nbgrader.py.
"""

import importlib
import inspect
import threading
import warnings

import jax
import jax.numpy as jnp
import nbclient
import nbformat
import numpy as np
import pytest
from nbgrader.utils import determine_grade

from lib.notebook import exercises
from lib.problems import mdp
from tools import assignments

CASES = [(([1.0, 2.0],), 3.0), (([0.5, -0.5, 4.0],), 4.0)]


def cases():
    return list(CASES)  # grade empties the list it is given


def total(values):
    return jnp.sum(values)


def grade(function, points=2):
    return exercises.grade("1.1", function, cases(), points=points)


def test_a_right_answer_earns_every_point_and_says_so_on_stdout(capsys):
    assert grade(total) == 2.0
    out, err = capsys.readouterr()
    assert "Exercise 1.1 passed: 2 cases, 2 of 2 points" in out and not err


def test_a_wrong_answer_earns_nothing_and_shows_the_case_on_stderr(capsys):
    assert grade(lambda values: jnp.max(values)) == 0.0
    out, err = capsys.readouterr()
    assert "0 of 2 points: ([1.0, 2.0]) gave 2.0, expected 3.0" in err and "passed" not in out


def test_a_stub_or_a_wrong_shape_earns_nothing_without_raising(capsys):
    def stub(values):
        raise NotImplementedError()

    assert grade(stub) == 0.0
    assert "raised NotImplementedError" in capsys.readouterr().err
    assert grade(lambda values: jnp.stack([jnp.sum(values)] * 2)) == 0.0


def helper(values):
    return jnp.sum(values) + 0 * len(mdp.random_mdp(jax.random.key(0), 2, 2))


def through_a_helper(values):
    return helper(values)


def through_a_default_argument(values, make=mdp.random_mdp):
    return make(jax.random.key(0), 2, 2) and jnp.sum(values)


def through_importlib(values):
    return jnp.sum(values) + 0 * len(importlib.import_module("lib.problems.mdp").random_mdp(jax.random.key(0), 2, 2))


def in_a_thread_of_its_own(values):
    worker = threading.Thread(target=mdp.random_mdp, args=(jax.random.key(0), 2, 2))
    worker.start()
    worker.join()
    return jnp.sum(values)


@jax.jit
def compiled_with_lib_inside(values):
    return jnp.sum(values) + 0.0 * mdp.random_mdp(jax.random.key(0), 2, 2)[0].sum()


def with_the_trace_switched_off(values):
    import sys

    hook = sys.getprofile()
    sys.setprofile(None)
    mdp.random_mdp(jax.random.key(0), 2, 2)
    sys.setprofile(hook)
    return jnp.sum(values)


class Calling:
    """A result whose conversion to an array calls lib."""

    def __init__(self, values):
        self.values = values

    def __array__(self, dtype=None, copy=None):
        return np.asarray(jnp.sum(self.values) + 0 * len(mdp.random_mdp(jax.random.key(0), 2, 2)), dtype=dtype)


SHORTCUTS = [
    through_a_helper,
    through_a_default_argument,
    through_importlib,
    in_a_thread_of_its_own,
    compiled_with_lib_inside,
    with_the_trace_switched_off,
    Calling,
]


@pytest.mark.parametrize("answer", SHORTCUTS, ids=[answer.__name__ for answer in SHORTCUTS])
def test_a_right_answer_that_calls_lib_however_it_reaches_it_earns_nothing(answer, capsys):
    for arguments, _ in CASES:  # as an earlier cell would: compiled_with_lib_inside is in JAX's cache now
        answer(jnp.asarray(arguments[0]))
    assert grade(answer) == 0.0
    assert "from lib; write it with JAX or NumPy" in capsys.readouterr().err


def test_a_function_that_names_lib_without_calling_it_earns_its_points():
    log = mdp.random_mdp  # a name like the attribute the answer reads (jnp.log), bound to lib
    assert log.__module__ == "lib.problems.mdp"
    assert grade(lambda values: mdp.random_mdp and jnp.sum(jnp.exp(jnp.log(jnp.abs(values))) * jnp.sign(values))) == 2.0


def the_callers_expected(values):
    return inspect.currentframe().f_back.f_locals["expected"]


def any_answer_up_the_stack(values):
    """Every value of every frame above the call, or anything in them, that equals an answer."""
    frame, found = inspect.currentframe().f_back, []
    while frame is not None:
        found += [value for value in frame.f_locals.values() if isinstance(value, (list, tuple, float))]
        frame = frame.f_back
    text = repr(found)
    return 3.0 if "3.0" in text and "4.0" in text else 0.0


def from_the_notebooks_cases(values):
    return next(expected for arguments, expected in LISTED if len(arguments[0]) == len(values))


@pytest.mark.parametrize("peek", [the_callers_expected, any_answer_up_the_stack, from_the_notebooks_cases])
def test_the_answers_are_not_reachable_from_the_students_call(peek, capsys):
    global LISTED
    LISTED = cases()
    assert exercises.grade("1.1", peek, LISTED, points=2) == 0.0
    assert LISTED == [] and "0 of 2 points" in capsys.readouterr().err


def test_a_right_answer_that_warns_keeps_its_points_and_the_warning_is_reported_on_stdout(capsys):
    def warns(values):
        np.log(np.zeros(1))  # NumPy: divide by zero
        warnings.warn("a JAX-style user warning", UserWarning)
        return jnp.sum(values)

    assert grade(warns) == 2.0
    out, err = capsys.readouterr()
    assert "RuntimeWarning: divide by zero encountered in log (a warning costs no points)" in out
    assert "UserWarning: a JAX-style user warning" in out and not err


# Kernel tricks: each notebook is [the trick, the student's function, the check cell as the chapters write it].
STUB = "import jax.numpy as jnp\n\ndef total(values):\n    raise NotImplementedError()"
WRONG = STUB.replace("raise NotImplementedError()", "return 0.0 * jnp.sum(values)")
CHECK = (
    f"import importlib, lib.notebook.exercises\n{assignments.GRADER_IMPORT}\n"
    f"cases = {CASES!r}\n"
    "grade('1.1', total, cases, points=2)"
)
TRICKS = {
    "grade replaced": "import lib.notebook.exercises\n"
    "lib.notebook.exercises.grade = lambda exercise, function, cases, points, rtol=0.0, atol=0.0: "
    "float(points)",
    "value hidden": "get_ipython().ast_node_interactivity = 'none'",
    "module replaced in sys.modules": "import sys, types\nfake = types.ModuleType('lib.notebook.exercises')\n"
    "fake.grade = lambda *args, **kwargs: 2.0\nsys.modules['lib.notebook.exercises'] = fake",
    "module replaced in the package": "import lib, types\nlib.exercises = types.ModuleType('lib.notebook.exercises')\n"
    "lib.notebook.exercises.grade = lambda *args, **kwargs: 2.0",
    "grader's numpy replaced": "import lib.notebook.exercises, numpy, types\n"
    "always = {'allclose': lambda *args, **kwargs: True}\n"
    "lib.notebook.exercises.np = types.SimpleNamespace(**{**vars(numpy), **always})",
}


def kernel_score(*sources):
    """nbgrader's score for the last cell, a check worth 2 points, after running every cell in a fresh kernel."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    notebook.cells[-1].metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "points": 2,
        "grade_id": "total-check",
        "schema_version": 3,
        "task": False,
    }
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True).execute()
    return determine_grade(notebook.cells[-1])[0], notebook.cells[-1].outputs


@pytest.mark.parametrize("answer", [STUB, WRONG], ids=["stub", "wrong"])
@pytest.mark.parametrize("trick", TRICKS)
def test_a_kernel_trick_before_the_check_earns_nothing_in_nbgrader(trick, answer):
    score, outputs = kernel_score(TRICKS[trick], answer, CHECK)
    assert score == 0, outputs


def test_in_a_kernel_a_right_answer_earns_every_point_and_one_that_warns_too():
    assert kernel_score(STUB.replace("raise NotImplementedError()", "return jnp.sum(values)"), CHECK)[0] == 2
    score, outputs = kernel_score(
        "import numpy as np",
        STUB.replace("raise NotImplementedError()", "np.log(np.zeros(1))\n    return jnp.sum(values)"),
        CHECK,
    )
    assert score == 2 and "divide by zero" in outputs[0]["text"], outputs
