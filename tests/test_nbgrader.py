"""A real nbgrader round trip: release, autograde honest and cheating submissions, export, and read the grades.

For each chapter, `nbgrader generate_assignment` releases the notebook `tools.assignments` writes, and
students submit it: untouched; the solutions with every written answer filled in; the solutions with
the first coded exercise answered `return 0`; and, written in the solution cells a student may edit
(nbgrader restores every other cell), four tricks: the stubs after replacing `lib.notebook.exercises.grade`, the
stubs after hiding every cell's value, functions that return the `expected` of their caller's frame,
the solutions calling `lib` through importlib; and the solutions with a NumPy warning. `nbgrader
autograde`, then `nbgrader export`, must give 0 to the untouched notebook and to every trick but the
last, every autograded point to the correct notebook and to the one that warns, and all but the first
exercise's to the wrong one (a partial score in chapter 26, whose five coded exercises the default run
grades). The written answers wait for a human grader, so the best score is the autograded points out of
a larger maximum.

By default two chapters run (about a minute): every check cell of every chapter has the same form
(`tools.assignments.check_points` rejects any other), loads the same grader, and is scored with
nbgrader's own function in tests/test_assignments.py, so what this adds, nbgrader's release, restore
and export around those cells, is the same for every chapter. All of them, the whole classroom round
trip (about four minutes), with

    NBGRADER_CHAPTERS=all python -m pytest tests/test_nbgrader.py -o addopts="" -p no:cacheprovider

or some of them with a comma-separated list of stems (NBGRADER_CHAPTERS=20_embedded_optimization,...).
"""

import csv
import os
import re
import subprocess
import sys
import time

import nbformat
import pytest

from tools import assignments
from tools.execute import CHAPTERS

DEFAULT_CHAPTERS = ["19_policy_parametrization", "26_trust_regions"]
CHOSEN = os.environ.get("NBGRADER_CHAPTERS", "")
STEMS = (
    sorted(source.stem for source in CHAPTERS.glob("*.md"))
    if CHOSEN == "all"
    else CHOSEN.split(",")
    if CHOSEN
    else DEFAULT_CHAPTERS
)
SUBMISSION_SECONDS, SUBMISSION_BYTES = 60, 2**30
# Runs nbgrader and reports the peak memory of the largest process it started (the kernels), in kB.
MEASURED = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print('peak-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def nbgrader(course, *arguments):
    """Run one nbgrader command in the course folder; return its peak child memory in bytes."""
    finished = subprocess.run(
        [sys.executable, "-c", MEASURED, sys.executable, "-m", "nbgrader", *arguments],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return 1024 * int(finished.stdout.split("peak-kb")[-1])


STUB = "raise NotImplementedError()"
REPLACED_GRADER = (
    "import lib.notebook.exercises\n"
    "lib.notebook.exercises.grade = lambda exercise, function, cases, points, rtol=0.0, atol=0.0: float(points)\n"
)
HIDDEN_VALUES = 'get_ipython().ast_node_interactivity = "none"\n'
CALLERS_EXPECTED = 'return __import__("inspect").currentframe().f_back.f_locals["expected"]'
# Lines put at the start of every solution's body, at its indentation.
THROUGH_IMPORTLIB = (
    '__import__("importlib").import_module("lib.problems.mdp").random_mdp(__import__("jax").random.key(0), 2, 2)'
)
WARNING = '__import__("numpy").log(__import__("numpy").zeros(1))   # RuntimeWarning: divide by zero'
# What each submission earns: none, all the autograded points, or all but the first exercise's.
EARNS = {
    "untouched": "none",
    "correct": "all",
    "wrong": "all but the first",
    "replaced-grader": "none",
    "hidden-values": "none",
    "callers-expected": "none",
    "lib-through-importlib": "none",
    "warning": "all",
}


def edited(notebook, edit, cells=("code",)):
    """A copy of `notebook` with `edit` applied to the source of each solution cell of the given types."""
    copy = nbformat.from_dict(notebook)
    for cell in copy.cells:
        if cell.metadata["nbgrader"].get("solution") and cell.cell_type in cells:
            cell.source = edit(cell)
    return copy


def first_in_body(line):
    """An edit that puts `line` first in the body of every solution, at the indentation of its BEGIN SOLUTION."""
    pattern = re.compile(r"^( *)(### BEGIN SOLUTION)$", flags=re.M)
    return lambda cell: pattern.sub(lambda found: f"{found[1]}{found[2]}\n{found[1]}{line}", cell.source)


def submissions(source, release):
    """Every student's notebook, named as in EARNS."""
    solutions = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in source.cells
        if cell.metadata["nbgrader"]["solution"]
    }
    answered = edited(release, lambda cell: "A written answer.", cells=("markdown",))
    correct = edited(answered, lambda cell: solutions[cell.metadata["nbgrader"]["grade_id"]])
    wrong = nbformat.from_dict(correct)
    first = next(
        i
        for i, cell in enumerate(release.cells)
        if cell.cell_type == "code" and cell.metadata["nbgrader"].get("solution")
    )
    wrong.cells[first].source = release.cells[first].source.replace(STUB, "return 0")
    replaced, hidden = nbformat.from_dict(answered), nbformat.from_dict(answered)
    replaced.cells[first].source = REPLACED_GRADER + answered.cells[first].source
    hidden.cells[first].source = HIDDEN_VALUES + answered.cells[first].source
    peeking = edited(answered, lambda cell: cell.source.replace(STUB, CALLERS_EXPECTED))
    return {
        "untouched": release,
        "correct": correct,
        "wrong": wrong,
        "replaced-grader": replaced,
        "hidden-values": hidden,
        "callers-expected": peeking,
        "lib-through-importlib": edited(correct, first_in_body(THROUGH_IMPORTLIB)),
        "warning": edited(correct, first_in_body(WARNING)),
    }


@pytest.fixture(scope="module")
def grades(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    assignments.write_course(course, STEMS)
    peaks = []
    for stem in STEMS:
        peaks.append(nbgrader(course, "generate_assignment", stem, "--force"))
        release = nbformat.read(course / "release" / stem / f"{stem}.ipynb", as_version=4)
        source = nbformat.read(course / "source" / stem / f"{stem}.ipynb", as_version=4)
        for student, notebook in submissions(source, release).items():
            path = course / "submitted" / student / stem / f"{stem}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(notebook, path)
    seconds = {}
    for stem in STEMS:
        start = time.perf_counter()
        peaks.append(nbgrader(course, "autograde", stem, "--force"))
        seconds[stem] = (time.perf_counter() - start) / len(EARNS)
    nbgrader(course, "export", "--to", str(course / "grades.csv"))
    with open(course / "grades.csv") as table:
        rows = {(row["assignment"], row["student_id"]): row for row in csv.DictReader(table)}
    return rows, max(peaks), seconds


def autograded_points(stem):
    """(all the autograded points, those of the first coded exercise's check)."""
    notebook = assignments.instructor_notebook(CHAPTERS / f"{stem}.md")
    checks = [
        cell.metadata["nbgrader"]["points"]
        for cell in notebook.cells
        if cell.metadata["nbgrader"]["grade"] and cell.cell_type == "code"
    ]
    return sum(checks), checks[0]


@pytest.mark.parametrize("stem", STEMS)
def test_every_submission_earns_its_due_and_no_trick_earns_a_point(stem, grades):
    rows = grades[0]
    automatic, first = autograded_points(stem)
    due = {"none": 0, "all": automatic, "all but the first": automatic - first}
    scores = {student: float(rows[(stem, student)]["score"]) for student in EARNS}
    assert scores == {student: due[earns] for student, earns in EARNS.items()}
    assert automatic <= float(rows[(stem, "correct")]["max_score"])  # written answers await a human grader
    if stem == "26_trust_regions":
        assert 0 < scores["wrong"] < automatic


def test_a_submission_grades_in_under_a_minute_and_a_gigabyte(grades):
    assert grades[1] < SUBMISSION_BYTES, f"a kernel peaked at {grades[1] / 2**20:.0f} MiB"
    slow = {stem: round(seconds) for stem, seconds in grades[2].items() if seconds >= SUBMISSION_SECONDS}
    assert not slow, f"seconds per submission: {slow}"
