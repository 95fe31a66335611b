"""Classroom versions: the student notebooks run with failing checks, the instructor ones pass.

Why running the exercises sections is enough to show that a student notebook executes top to bottom:
(a) the student notebook equals its chapter cell for cell, except inside solution regions, in the
    nbgrader metadata, in the `raises-exception` tag of its check cells and in its cleared outputs
    (`test_student_differs_from_the_chapter_only_inside_solution_regions`);
(b) the chapter itself runs top to bottom without error: nbval re-executes every chapter in the suite,
    and tests/test_notebooks.py checks that its stored outputs come from one error-free run; so every
    cell before the exercises section runs in the student version too;
(c) the exercises section runs on its own, from an empty namespace, with only its check cells failing
    (with the stub's NotImplementedError, which `raises-exception` lets past) in the student version
    and every check passing in the instructor version (the tests below). It therefore reads no name the
    chapter defined before it; the chapter's earlier cells could reach it only through process-wide
    state, which no chapter changes (float64 appears only inside `with jax.enable_x64(True)` blocks).
Re-executing all the chapters would take many minutes; the sections of all of them run in one kernel,
each after `%reset -f`, in well under a minute.
"""
import copy
import re

import jupytext
import nbclient
import nbformat
import pytest

from tools import assignments
from tools.execute import CHAPTERS

SOURCES = sorted(CHAPTERS.glob("*.md"))
STEMS = [source.stem for source in SOURCES]
STUB_LINES = ["# YOUR CODE HERE", "raise NotImplementedError()"]
GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    output = tmp_path_factory.mktemp("assignments")
    assignments.main(["--output", str(output)])
    return {(path.parent.name, path.stem): nbformat.read(path, as_version=4)
            for path in (output / version / f"{stem}.ipynb" for version in ("student", "instructor")
                         for stem in STEMS)}


def exercises_section(notebook):
    return notebook.cells[assignments.exercises_start(notebook):]


@pytest.fixture(scope="module")
def executed(written):
    """Every chapter's exercises section, student then instructor, each from an empty namespace."""
    cells, origin = [], []
    for stem in STEMS:
        for version in ("student", "instructor"):
            cells.append(nbformat.v4.new_code_cell("%reset -f"))
            origin.append(None)
            for index, cell in enumerate(exercises_section(written[(version, stem)])):
                cell = copy.deepcopy(cell)
                cell.id = f"{stem[:2]}-{version}-{index}"
                cells.append(cell)
                origin.append((stem, version))
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=written[("student", STEMS[0])].metadata)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(CHAPTERS)}}).execute()
    results = {}
    for cell, where in zip(notebook.cells, origin):
        if where is not None:
            results.setdefault(where, []).append(cell)
    return results


def errors(cell):
    return [output for output in cell.get("outputs", []) if output.output_type == "error"]


def stdout(cell):
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.output_type == "stream")


def region_free(lines):
    """The lines of a solution cell outside its BEGIN/END SOLUTION regions."""
    kept, inside = [], False
    for line in lines:
        if line.strip() == "### BEGIN SOLUTION":
            inside = True
        elif line.strip() == "### END SOLUTION":
            inside = False
        elif not inside:
            kept.append(line)
    return kept


@pytest.mark.parametrize("stem", STEMS)
def test_every_chapter_has_a_coded_exercise_with_a_check(stem, written):
    notebook = written[("instructor", stem)]
    pairs = assignments.exercise_cells(notebook)
    assert pairs, f"{stem} has no coded exercise"
    start = assignments.exercises_start(notebook)
    assert all(start < solution < check for solution, check in pairs)
    for solution, check in pairs:
        assert "### BEGIN SOLUTION" in notebook.cells[solution].source
        assert "check_" in notebook.cells[check].source


@pytest.mark.parametrize("stem", STEMS)
def test_student_differs_from_the_chapter_only_inside_solution_regions(stem, written):
    chapter = jupytext.read(CHAPTERS / f"{stem}.md")
    student, instructor = written[("student", stem)], written[("instructor", stem)]
    assert [c.source for c in instructor.cells] == [c.source for c in chapter.cells]
    assert [c.cell_type for c in student.cells] == [c.cell_type for c in chapter.cells]
    for original, cell in zip(chapter.cells, student.cells):
        assert not cell.get("outputs") and cell.get("execution_count") is None
        tags = original.metadata.get("tags", [])
        if "solution" in tags:
            assert "BEGIN SOLUTION" not in cell.source and "raise NotImplementedError()" in cell.source
            outside_stub = [line for line in cell.source.split("\n") if line.strip() not in STUB_LINES]
            assert outside_stub == region_free(original.source.split("\n"))
        else:
            assert cell.source == original.source
        expected_tags = tags + ["raises-exception"] if "check" in tags else tags
        assert cell.metadata.get("tags", []) == expected_tags


@pytest.mark.parametrize("version", ["student", "instructor"])
@pytest.mark.parametrize("stem", STEMS)
def test_nbgrader_metadata_follows_schema_3(stem, version, written):
    """The rules of nbgrader's schema-3 validator, and our roles: answers open, tests and the rest locked."""
    notebook = written[(version, stem)]
    ids = []
    for cell in notebook.cells:
        meta = cell.metadata["nbgrader"]
        assert set(meta) <= {"schema_version", "grade", "locked", "solution", "task", "grade_id", "points"}
        assert meta["schema_version"] == 3 and GRADE_ID.match(meta["grade_id"])
        assert all(isinstance(meta[key], bool) for key in ("grade", "locked", "solution", "task"))
        assert ("points" in meta) == meta["grade"]
        tags = cell.metadata.get("tags", [])
        role = "solution" if "solution" in tags else "check" if "check" in tags else "locked"
        expected = {"solution": (False, False, True), "check": (True, True, False), "locked": (False, True, False)}
        assert (meta["grade"], meta["locked"], meta["solution"]) == expected[role]
        if cell.cell_type == "markdown":
            assert meta["grade"] == meta["solution"]
        ids.append(meta["grade_id"])
    assert len(ids) == len(set(ids)), "duplicate grade_id"


@pytest.mark.parametrize("stem", STEMS)
def test_student_section_runs_to_the_end_with_only_its_checks_failing(stem, executed):
    cells = executed[(stem, "student")]
    for cell in cells:
        tags = cell.metadata.get("tags", [])
        if "check" in tags:
            assert [e.ename for e in errors(cell)] == ["NotImplementedError"], cell.source
        else:
            assert not errors(cell), (cell.source, errors(cell))
    assert all(cell.execution_count for cell in cells if cell.cell_type == "code"), "a cell did not run"


@pytest.mark.parametrize("stem", STEMS)
def test_instructor_section_passes_every_check(stem, executed):
    for cell in executed[(stem, "instructor")]:
        assert not errors(cell), (cell.source, [e.evalue for e in errors(cell)])
        if "check" in cell.metadata.get("tags", []):
            assert re.match(r"Exercise \d+\.\d+ passed: ", stdout(cell)), stdout(cell)


def test_stub_keeps_the_indentation_and_malformed_regions_are_rejected():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
    assert assignments.strip_solution(source) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    for broken in ("def f(x):\n    ### BEGIN SOLUTION\n    return x", "def f(x):\n    return x",
                   "### END SOLUTION\n### BEGIN SOLUTION"):
        with pytest.raises(ValueError):
            assignments.strip_solution(broken)


def test_a_solution_without_its_check_is_rejected():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["solution"]}),
                                               nbformat.v4.new_code_cell("print(x)")])
    with pytest.raises(ValueError, match="check"):
        assignments.exercise_cells(notebook)
