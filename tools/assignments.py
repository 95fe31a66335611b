"""Write the classroom versions of every chapter's exercises: student, instructor and nbgrader course.

    python -m tools.assignments                       # into _assignments/{student,instructor}/
    python -m tools.assignments --output DIR 22_soft_actor_critic
    python -m tools.assignments --course COURSE       # COURSE/source/<chapter>/, for nbgrader

An assignment is a chapter's last section, '## Exercises', under an introduction for students (the
section's own first cell speaks to the book's readers and is left out): the exercises and what they
need, none of the chapter's experiments, so that grading a submission re-runs only a few seconds of
code. In the chapter, each coded exercise is a code cell tagged `solution` that defines a function,
its body between `### BEGIN SOLUTION` and `### END SOLUTION`, followed by a cell tagged `check` that
loads `lib.notebook.exercises` afresh and calls `grade(..., points=N)` once (worth N points); its hidden cases
sit between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`. A markdown cell tagged `answer`
is a written answer graded by hand, worth its metadata's `points`. Both versions carry nbgrader's
cell metadata (schema 3); every other cell is locked. The instructor version is nbgrader's source;
the student version is what `nbgrader generate_assignment` releases: solution regions replaced by
nbgrader's stub, hidden tests removed, answer cells blank. Outputs are cleared in both.
"""

import argparse
import copy
import pathlib
import re
import shutil

import jupytext
import nbformat

from tools.execute import chapter_sources

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "_assignments"
COURSE_CONFIG = ROOT / "nbgrader_config.py"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")  # nbgrader's default code stub
ANSWER_STUB = "YOUR ANSWER HERE"  # nbgrader's default text stub
EXERCISES_HEADING = "## Exercises"
GRADE_POINTS = re.compile(r"^grade\(.*\bpoints=(\d+)", flags=re.M)
# The line of every check cell that loads the grader from its file, so no earlier cell can replace it.
GRADER_IMPORT = "grade = importlib.reload(lib.notebook.exercises).grade"


def tags(cell):
    return cell.metadata.get("tags", [])


def exercise_cells(notebook):
    """[(solution index, check index)] in order; each solution cell is followed by its check cell."""
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    pairs = []
    for position, index in enumerate(code):
        if "solution" not in tags(notebook.cells[index]):
            continue
        following = code[position + 1] if position + 1 < len(code) else None
        if following is None or "check" not in tags(notebook.cells[following]):
            raise ValueError(f"solution cell {index} must be followed by a code cell tagged 'check'")
        pairs.append((index, following))
    if sum("check" in tags(cell) for cell in notebook.cells) != len(pairs):
        raise ValueError("every cell tagged 'check' must follow a cell tagged 'solution'")
    return pairs


def answer_cells(notebook):
    """Indices of the markdown cells tagged 'answer': written answers, graded by hand."""
    answers = [i for i, cell in enumerate(notebook.cells) if "answer" in tags(cell)]
    for index in answers:
        cell = notebook.cells[index]
        if (
            cell.cell_type != "markdown"
            or not isinstance(cell.metadata.get("points"), int)
            or cell.metadata["points"] < 1
        ):
            raise ValueError(f"answer cell {index} must be a markdown cell with integer metadata 'points' >= 1")
    return answers


def headings(cell):
    return [line for line in cell.source.split("\n") if line.startswith("## ")] if cell.cell_type == "markdown" else []


def exercises_start(notebook):
    """Index of the markdown cell that holds the chapter's last section heading, '## Exercises'."""
    starts = [i for i, cell in enumerate(notebook.cells) if EXERCISES_HEADING in headings(cell)]
    if len(starts) != 1:
        raise ValueError(f"expected one '{EXERCISES_HEADING}' heading, found {len(starts)}")
    later = headings(notebook.cells[starts[0]])[-1:] + [h for c in notebook.cells[starts[0] + 1 :] for h in headings(c)]
    if later != [EXERCISES_HEADING]:
        raise ValueError(f"'{EXERCISES_HEADING}' must be the last section, found {later[1:] or later}")
    return starts[0]


def exercise_name(cell):
    """The name of the function a solution cell defines: the exercise's nbgrader grade_id."""
    names = re.findall(r"^def (\w+)\(", cell.source, flags=re.M)
    if not names:
        raise ValueError(f"a solution cell must define a function, got:\n{cell.source}")
    return names[0]


def check_points(cell):
    """The points of a check cell, N in its one `grade(..., points=N)` call; it must load the grader afresh."""
    found = GRADE_POINTS.findall(cell.source)
    if len(found) != 1 or GRADER_IMPORT not in cell.source:
        raise ValueError(
            f"a check cell has the line {GRADER_IMPORT!r} and calls grade(..., points=N) once, got:\n{cell.source}"
        )
    return int(found[0])


def strip_region(source, begin, end, replacement=()):
    """Replace every begin/end region by `replacement` lines, at the region's indentation."""
    lines, inside, found = [], False, False
    for line in source.split("\n"):
        if line.strip() == begin:
            if inside:
                raise ValueError(f"nested '{begin}'")
            inside = found = True
            indent = line[: line.index(begin)]
            lines.extend(indent + text for text in replacement)
        elif line.strip() == end:
            if not inside:
                raise ValueError(f"'{end}' without '{begin}'")
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"'{begin}' without '{end}'")
    return "\n".join(lines), found


def strip_solution(source):
    """The solution cell as released: every BEGIN/END SOLUTION region replaced by the stub."""
    stripped, found = strip_region(source, BEGIN, END, STUB)
    if not found:
        raise ValueError(f"a solution cell needs one complete '{BEGIN}' ... '{END}' region")
    return stripped


def strip_hidden_tests(source):
    """The check cell as released: the BEGIN/END HIDDEN TESTS regions removed."""
    return strip_region(source, BEGIN_HIDDEN, END_HIDDEN)[0]


def nbgrader_metadata(grade_id, solution=False, points=None):
    """nbgrader cell metadata, schema version 3: answers are editable, tests and the rest locked."""
    metadata = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        metadata["points"] = points
    return metadata


def student_introduction(chapter):
    """The assignment's first cell, for students, in place of the section's note for readers."""
    title = next(line[2:] for cell in chapter.cells for line in cell.source.split("\n") if line.startswith("# "))
    return nbformat.v4.new_markdown_cell(
        f"# Exercises: {title}\n\n"
        "Complete each function where it says `# YOUR CODE HERE` (remove the `raise NotImplementedError()`), "
        "then run the check cell below it: it grades your function on the cases it lists and prints what "
        "it compared. More cases are hidden and added when your notebook is graded, so test your function "
        "beyond them. Write each written answer in place of *YOUR ANSWER HERE*; those are graded by hand. "
        "Run the notebook from the top (Kernel, Restart and Run All) before you submit: every cell runs, "
        "and a check that fails says why in red (on stderr), which the autograder scores 0. A solution that "
        "calls this course's `lib` earns nothing; warnings your function raises are shown and cost nothing. "
        "The checks need `lib` on the Python path."
    )


def instructor_notebook(source):
    """The exercises section with its introduction, nbgrader metadata on every cell, no stored outputs."""
    chapter = jupytext.read(source)
    notebook = copy.deepcopy(chapter)
    notebook.cells = [student_introduction(chapter)] + chapter.cells[exercises_start(chapter) + 1 :]
    roles = {}
    for solution, check in exercise_cells(notebook):
        name = exercise_name(notebook.cells[solution])
        roles[solution] = nbgrader_metadata(name, solution=True)
        roles[check] = nbgrader_metadata(f"{name}-check", points=check_points(notebook.cells[check]))
    for index in answer_cells(notebook):
        roles[index] = nbgrader_metadata(
            f"answer-{index:03d}", solution=True, points=notebook.cells[index].metadata["points"]
        )
    for index, cell in enumerate(notebook.cells):
        cell.metadata["nbgrader"] = roles.get(index) or nbgrader_metadata(f"cell-{index:03d}")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    for key in ("jupytext", "widgets"):
        notebook.metadata.pop(key, None)
    return notebook


def student_notebook(instructor):
    """The instructor notebook as nbgrader releases it: stubs, no hidden tests, blank answers."""
    notebook = copy.deepcopy(instructor)
    for solution, check in exercise_cells(notebook):
        notebook.cells[solution].source = strip_solution(notebook.cells[solution].source)
        notebook.cells[check].source = strip_hidden_tests(notebook.cells[check].source)
    for index in answer_cells(notebook):
        notebook.cells[index].source = ANSWER_STUB
    return notebook


def write_assignments(output=DEFAULT_OUTPUT, names=()):
    """Write output/student/<chapter>.ipynb and output/instructor/<chapter>.ipynb; return their paths."""
    written = []
    for source in chapter_sources(names):
        instructor = instructor_notebook(source)
        for version, notebook in (("instructor", instructor), ("student", student_notebook(instructor))):
            path = pathlib.Path(output) / version / f"{source.stem}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, path)
            written.append(path)
    return written


def write_course(course, names=()):
    """An nbgrader course: course/nbgrader_config.py and course/source/<chapter>/<chapter>.ipynb."""
    course = pathlib.Path(course)
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy(COURSE_CONFIG, course / COURSE_CONFIG.name)
    written = []
    for source in chapter_sources(names):
        path = course / "source" / source.stem / f"{source.stem}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(instructor_notebook(source), path)
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter stems or paths (default: all)")
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        default=DEFAULT_OUTPUT,
        help=f"folder for student/ and instructor/ (default: {DEFAULT_OUTPUT.name}/)",
    )
    parser.add_argument(
        "--course", type=pathlib.Path, help="write an nbgrader course folder instead (source/ and nbgrader_config.py)"
    )
    args = parser.parse_args(argv)
    if args.course:
        written = write_course(args.course, args.chapters)
        print(
            f"wrote {len(written)} assignments to {args.course / 'source'}; in {args.course} run "
            f"`nbgrader generate_assignment <chapter>` to release one"
        )
        return
    written = write_assignments(args.output, args.chapters)
    print(
        f"wrote {len(written) // 2} student notebooks to {args.output / 'student'} "
        f"and their instructor versions to {args.output / 'instructor'}"
    )


if __name__ == "__main__":
    main()
