"""A real nbgrader round trip: release, autograde three submissions, export, and read the grades.

For each chapter, `nbgrader generate_assignment` releases the notebook `tools.assignments` writes,
three students submit it (untouched; the solutions with every written answer filled in; the
solutions with the first coded exercise answered `return 0`) and `nbgrader autograde`, then
`nbgrader export`, must give them 0, every autograded point, and all but the first exercise's
(a partial score in chapter 26, whose five coded exercises the default run grades). The written
answers wait for a human grader, so the best score is the autograded points out of a larger maximum.
By default two chapters run (about a minute); all of them, the whole classroom round trip, with

    NBGRADER_CHAPTERS=all python -m pytest tests/test_nbgrader.py -o addopts="" -p no:cacheprovider

or some of them with a comma-separated list of stems (NBGRADER_CHAPTERS=20_embedded_optimization,...).
"""
import csv
import os
import subprocess
import sys
import time

import nbformat
import pytest

from tools import assignments
from tools.execute import CHAPTERS

DEFAULT_CHAPTERS = ["19_policy_parametrization", "26_trust_regions"]
CHOSEN = os.environ.get("NBGRADER_CHAPTERS", "")
STEMS = (sorted(source.stem for source in CHAPTERS.glob("*.md")) if CHOSEN == "all"
         else CHOSEN.split(",") if CHOSEN else DEFAULT_CHAPTERS)
SUBMISSION_SECONDS, SUBMISSION_BYTES = 60, 2**30
# Runs nbgrader and reports the peak memory of the largest process it started (the kernels), in kB.
MEASURED = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print('peak-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def nbgrader(course, *arguments):
    """Run one nbgrader command in the course folder; return its peak child memory in bytes."""
    finished = subprocess.run([sys.executable, "-c", MEASURED, sys.executable, "-m", "nbgrader", *arguments],
                              cwd=course, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return 1024 * int(finished.stdout.split("peak-kb")[-1])


def submissions(source, release):
    """The three students' notebooks: untouched, correct, and correct but for the first exercise."""
    solutions = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in source.cells
                 if cell.metadata["nbgrader"]["solution"]}
    correct = nbformat.from_dict(release)
    for cell in correct.cells:
        grade_id = cell.metadata["nbgrader"].get("grade_id")
        if cell.metadata["nbgrader"].get("solution"):
            cell.source = solutions[grade_id] if cell.cell_type == "code" else "A written answer."
    wrong = nbformat.from_dict(correct)
    first = next(i for i, cell in enumerate(release.cells) if cell.cell_type == "code"
                 and cell.metadata["nbgrader"].get("solution"))
    wrong.cells[first].source = release.cells[first].source.replace("raise NotImplementedError()", "return 0")
    return {"untouched": release, "correct": correct, "wrong": wrong}


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
        seconds[stem] = (time.perf_counter() - start) / 3
    nbgrader(course, "export", "--to", str(course / "grades.csv"))
    with open(course / "grades.csv") as table:
        rows = {(row["assignment"], row["student_id"]): row for row in csv.DictReader(table)}
    return rows, max(peaks), seconds


def autograded_points(stem):
    """(all the autograded points, those of the first coded exercise's check)."""
    notebook = assignments.instructor_notebook(CHAPTERS / f"{stem}.md")
    checks = [cell.metadata["nbgrader"]["points"] for cell in notebook.cells
              if cell.metadata["nbgrader"]["grade"] and cell.cell_type == "code"]
    return sum(checks), checks[0]


@pytest.mark.parametrize("stem", STEMS)
def test_untouched_earns_zero_correct_every_autograded_point_and_wrong_loses_one_exercise(stem, grades):
    rows = grades[0]
    scores = {student: float(rows[(stem, student)]["score"]) for student in ("untouched", "correct", "wrong")}
    maximum = float(rows[(stem, "correct")]["max_score"])
    automatic, first = autograded_points(stem)
    assert scores["untouched"] == 0
    assert scores["correct"] == automatic <= maximum      # written answers await a human grader
    assert scores["wrong"] == automatic - first
    if stem == "26_trust_regions":
        assert 0 < scores["wrong"] < automatic


def test_a_submission_grades_in_under_a_minute_and_a_gigabyte(grades):
    assert grades[1] < SUBMISSION_BYTES, f"a kernel peaked at {grades[1] / 2**20:.0f} MiB"
    slow = {stem: round(seconds) for stem, seconds in grades[2].items() if seconds >= SUBMISSION_SECONDS}
    assert not slow, f"seconds per submission: {slow}"
