"""Classroom versions: the student notebooks run to the end and earn nothing, the instructor ones earn every point.

An assignment is a chapter's exercises section under a students' introduction. It runs on its own:
each assignment, student then instructor, runs in one kernel after `%reset -f`, so it reads no name the
chapter defined before the section (the chapters' earlier cells change no process-wide state: float64
appears only inside `with jax.enable_x64(True)` blocks). All of them run in well under a minute.
Every chapter follows the graded protocol of `lib.notebook.exercises.grade`: checks that load the grader afresh and
fail closed without raising (stderr, which nbgrader scores 0), hidden cases, points weighted by difficulty,
and written answers graded by hand. Every check cell is scored here by nbgrader's own function.
"""

import copy
import math
import re

import jax.numpy as jnp
import jupytext
import nbclient
import nbformat
import numpy as np
import pytest
from nbgrader.utils import determine_grade

from lib.algorithms import trust_region
from tools import assignments
from tools.execute import CHAPTERS

SOURCES = sorted(CHAPTERS.glob("*.md"))
STEMS = [source.stem for source in SOURCES]
GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    output = tmp_path_factory.mktemp("assignments")
    assignments.main(["--output", str(output)])
    return {
        (path.parent.name, path.stem): nbformat.read(path, as_version=4)
        for path in (output / version / f"{stem}.ipynb" for version in ("student", "instructor") for stem in STEMS)
    }


@pytest.fixture(scope="module")
def executed(written):
    """Every assignment, student then instructor, each from an empty namespace."""
    cells, origin = [], []
    for stem in STEMS:
        for version in ("student", "instructor"):
            cells.append(nbformat.v4.new_code_cell("%reset -f"))
            origin.append(None)
            for index, cell in enumerate(written[(version, stem)].cells):
                cell = copy.deepcopy(cell)
                cell.id = f"{stem[:2]}-{version}-{index}"
                cells.append(cell)
                origin.append((stem, version))
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=written[("student", STEMS[0])].metadata)
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(CHAPTERS)}}
    ).execute()
    results = {}
    for cell, where in zip(notebook.cells, origin):
        if where is not None:
            results.setdefault(where, []).append(cell)
    return results


def errors(cell):
    return [output for output in cell.get("outputs", []) if output.output_type == "error"]


def stream(cell, name):
    return "".join(
        output.text for output in cell.get("outputs", []) if output.output_type == "stream" and output.name == name
    )


def cell_value(cell):
    """The cell's result, the number nbgrader's autograder takes as partial credit (None if there is none)."""
    results = [output for output in cell.get("outputs", []) if output.output_type == "execute_result"]
    return float(results[0]["data"]["text/plain"]) if results else None


def is_check(cell):
    return "check" in cell.metadata.get("tags", [])


@pytest.mark.parametrize("stem", STEMS)
def test_assignment_is_the_exercises_section_under_a_students_introduction(stem, written):
    chapter = jupytext.read(CHAPTERS / f"{stem}.md")
    section = chapter.cells[assignments.exercises_start(chapter) + 1 :]
    instructor = written[("instructor", stem)]
    assert [c.source for c in instructor.cells[1:]] == [c.source for c in section]
    assert instructor.cells[0].source.startswith("# Exercises: ")
    assert "solution is shown" not in instructor.cells[0].source
    pairs = assignments.exercise_cells(instructor)
    assert pairs and all(
        "check_" in instructor.cells[check].source or "grade(" in instructor.cells[check].source for _, check in pairs
    )


@pytest.mark.parametrize("stem", STEMS)
def test_student_differs_only_in_solutions_hidden_tests_and_answers(stem, written):
    student, instructor = written[("student", stem)], written[("instructor", stem)]
    assert [c.cell_type for c in student.cells] == [c.cell_type for c in instructor.cells]
    for original, cell in zip(instructor.cells, student.cells):
        assert not cell.get("outputs") and cell.get("execution_count") is None
        tags = original.metadata.get("tags", [])
        if "solution" in tags:
            assert "BEGIN SOLUTION" not in cell.source and "raise NotImplementedError()" in cell.source
            assert cell.source == assignments.strip_solution(original.source)
        elif "check" in tags:
            assert "HIDDEN TESTS" not in cell.source
            assert cell.source == assignments.strip_hidden_tests(original.source)
        elif "answer" in tags:
            assert cell.source == "YOUR ANSWER HERE"
        else:
            assert cell.source == original.source
        assert cell.metadata == original.metadata


@pytest.mark.parametrize("version", ["student", "instructor"])
@pytest.mark.parametrize("stem", STEMS)
def test_nbgrader_metadata_follows_schema_3(stem, version, written):
    """The rules of nbgrader's schema-3 validator, and our roles: answers open, tests and the rest locked."""
    notebook = written[(version, stem)]
    ids = []
    expected = {
        "solution": (False, False, True),
        "check": (True, True, False),
        "answer": (True, False, True),
        "locked": (False, True, False),
    }
    for cell in notebook.cells:
        meta = cell.metadata["nbgrader"]
        assert set(meta) <= {"schema_version", "grade", "locked", "solution", "task", "grade_id", "points"}
        assert meta["schema_version"] == 3 and GRADE_ID.match(meta["grade_id"])
        assert all(isinstance(meta[key], bool) for key in ("grade", "locked", "solution", "task"))
        assert ("points" in meta) == meta["grade"]
        tags = cell.metadata.get("tags", [])
        role = next((tag for tag in ("solution", "check", "answer") if tag in tags), "locked")
        assert (meta["grade"], meta["locked"], meta["solution"]) == expected[role]
        if cell.cell_type == "markdown":
            assert meta["grade"] == meta["solution"]
        ids.append(meta["grade_id"])
    assert len(ids) == len(set(ids)), "duplicate grade_id"


@pytest.mark.parametrize("stem", STEMS)
def test_graded_exercises_hide_cases_weight_points_and_grade_written_answers(stem, written):
    notebook = written[("instructor", stem)]
    pairs = assignments.exercise_cells(notebook)
    for _, check in pairs:
        source = notebook.cells[check].source
        assert assignments.GRADER_IMPORT in source, "the check cell loads the grader afresh"
        assert "### BEGIN HIDDEN TESTS" in source
    if not stem.startswith("19"):
        assert len(pairs) >= 3
        assert len({assignments.check_points(notebook.cells[check]) for _, check in pairs}) > 1, "points by difficulty"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown" and "(written" in cell.source:
            following = notebook.cells[index + 1]
            assert "answer" in following.metadata.get("tags", []), cell.source


@pytest.mark.parametrize("stem", STEMS)
def test_student_assignment_runs_to_the_end_and_earns_nothing(stem, executed):
    cells = executed[(stem, "student")]
    assert all(cell.execution_count for cell in cells if cell.cell_type == "code"), "a cell did not run"
    for cell in cells:
        assert not errors(cell), (cell.source, errors(cell))
        if is_check(cell):
            assert cell_value(cell) == 0.0 and "raised NotImplementedError" in stream(cell, "stderr")
            assert determine_grade(cell)[0] == 0


@pytest.mark.parametrize("stem", STEMS)
def test_instructor_assignment_earns_every_point(stem, executed):
    for cell in executed[(stem, "instructor")]:
        assert not errors(cell), (cell.source, [e.evalue for e in errors(cell)])
        if is_check(cell):
            assert re.match(r"Exercise \d+\.\d+ passed: ", stream(cell, "stdout")), cell.outputs
            assert not stream(cell, "stderr"), cell.outputs
            assert cell_value(cell) == determine_grade(cell)[0] == cell.metadata["nbgrader"]["points"]


def check_sources(stem, version, written):
    notebook = written[(version, stem)]
    return {
        assignments.exercise_name(notebook.cells[s]): notebook.cells[c].source
        for s, c in assignments.exercise_cells(notebook)
    }


def points_earned(check_source, name, function):
    namespace = {name: function, "jnp": jnp}
    *statements, last = check_source.strip().split("\n")
    exec("\n".join(statements), namespace)
    return eval(last, namespace)


def float_log_dimension(base_points, grid_per_dimension, budget):
    """Mistake the exercise warns about: m from a floating-point logarithm."""
    return math.floor(math.log(budget / base_points) / math.log(grid_per_dimension)) + 1


def mean_reward_baseline(logits, rewards):
    """Mistake: the policy's mean reward, the usual but not the variance-minimizing constant."""
    probs = np.exp(logits - np.max(logits))
    return np.sum(probs / probs.sum() * rewards)


def gae_decayed_by_lambda_only(rewards, values, gamma, lam):
    """Mistake: decays the TD errors by lambda instead of gamma lambda."""
    deltas = np.asarray(rewards + gamma * values[1:] - values[:-1])
    return np.array([np.sum(lam ** np.arange(len(deltas) - t) * deltas[t:]) for t in range(len(deltas))])


def clip_without_the_min(ratios, advantages, clip_epsilon):
    """Mistake: clips every ratio, dropping the pessimistic min."""
    return jnp.mean(jnp.clip(ratios, 1 - clip_epsilon, 1 + clip_epsilon) * advantages)


def conjugate_gradient_by_solving(matrix, b, num_iterations):
    """Shortcut the exercise rules out: the exact solution, whatever the number of iterations."""
    return jnp.linalg.solve(matrix, b)


def natural_step_from_lib(fisher, gradient, kl_bound):
    """Shortcut: lib's conjugate gradient, which a solution may not call."""
    direction = trust_region.conjugate_gradient(lambda v: fisher @ v, gradient)
    return jnp.sqrt(2.0 * kl_bound / (gradient @ direction)) * direction


def soft_backup_without_the_max_shift(rewards, transitions, values, gamma, temperature):
    """Mistake the exercise warns about: exp(q / beta) overflows for a cold temperature."""
    q_values = rewards + gamma * transitions @ values
    return temperature * jnp.log(jnp.sum(jnp.exp(q_values / temperature), axis=-1))


def untruncated_location_gradient(u, mu, sigma, a, b):
    """Mistake: the untruncated normal's dx/dmu = 1, as if the interval did not move in standardized units."""
    return jnp.ones_like(u)


# (chapter, exercise, wrong answer, whether it passes the visible cases and only the hidden ones catch it)
WRONG_ANSWERS = [
    ("19_policy_parametrization", "smallest_action_dimension", float_log_dimension, True),
    ("22_soft_actor_critic", "soft_backup", soft_backup_without_the_max_shift, True),
    ("23_derivative_estimation", "truncated_normal_location_gradient", untruncated_location_gradient, False),
    ("24_score_function_gradients", "best_constant_baseline", mean_reward_baseline, False),
    ("24_score_function_gradients", "gae_advantages", gae_decayed_by_lambda_only, False),
    ("26_trust_regions", "clipped_surrogate", clip_without_the_min, True),
    ("26_trust_regions", "conjugate_gradient", conjugate_gradient_by_solving, False),
]


@pytest.mark.parametrize(
    "stem, name, wrong, only_hidden", WRONG_ANSWERS, ids=[wrong.__name__ for _, _, wrong, _ in WRONG_ANSWERS]
)
def test_graded_cases_catch_a_wrong_answer(stem, name, wrong, only_hidden, written, capsys):
    visible_points = points_earned(check_sources(stem, "student", written)[name], name, wrong)
    assert (visible_points > 0) == only_hidden
    assert points_earned(check_sources(stem, "instructor", written)[name], name, wrong) == 0
    assert "0 of" in capsys.readouterr().err


def test_a_solution_that_calls_lib_earns_nothing(written, capsys):
    source = check_sources("26_trust_regions", "instructor", written)["natural_step"]
    assert points_earned(source, "natural_step", natural_step_from_lib) == 0
    assert "calls lib.algorithms.trust_region.fisher.conjugate_gradient from lib" in capsys.readouterr().err


def test_regions_keep_their_indentation_and_malformed_ones_are_rejected():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
    assert assignments.strip_solution(source) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    hidden = "cases = [1]\n### BEGIN HIDDEN TESTS\ncases += [2]\n### END HIDDEN TESTS\ngrade(cases)"
    assert assignments.strip_hidden_tests(hidden) == "cases = [1]\ngrade(cases)"
    for broken in (
        "def f(x):\n    ### BEGIN SOLUTION\n    return x",
        "def f(x):\n    return x",
        "### END SOLUTION\n### BEGIN SOLUTION",
    ):
        with pytest.raises(ValueError):
            assignments.strip_solution(broken)


def test_a_solution_without_its_check_and_an_answer_without_points_are_rejected():
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["solution"]}),
            nbformat.v4.new_code_cell("print(x)"),
        ]
    )
    with pytest.raises(ValueError, match="check"):
        assignments.exercise_cells(notebook)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("...", metadata={"tags": ["answer"]})])
    with pytest.raises(ValueError, match="points"):
        assignments.answer_cells(notebook)


def test_a_check_that_does_not_load_the_grader_afresh_or_grade_once_is_rejected():
    for source in (
        "from lib.notebook.exercises import grade\ngrade('1.1', f, cases, points=1)",
        f"import importlib, lib.notebook.exercises\n{assignments.GRADER_IMPORT}\nassert f(1) == 1",
    ):
        with pytest.raises(ValueError, match="calls grade"):
            assignments.check_points(nbformat.v4.new_code_cell(source))
