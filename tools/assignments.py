"""Write the classroom versions of every chapter: student notebooks and instructor notebooks.

    python -m tools.assignments                       # into _assignments/{student,instructor}/
    python -m tools.assignments --output DIR 22_soft_actor_critic

The chapters are the instructor versions. Each coded exercise at the end of a chapter is a code
cell tagged `solution` that defines a function, with the function's body between
`### BEGIN SOLUTION` and `### END SOLUTION`, followed by a cell tagged `check` that calls a check
from `lib.exercises`. Both versions carry nbgrader's cell metadata (schema 3): solution cells are
editable answers (grade_id: the function's name), check cells are graded tests worth one point,
every other cell is locked. The student version replaces each solution
region with nbgrader's stub (`raise NotImplementedError()`) and tags the check cells
`raises-exception`, so the notebook still runs top to bottom while its checks fail. Outputs are
cleared in both.
"""
import argparse
import copy
import pathlib
import re

import jupytext
import nbformat

from tools.execute import chapter_sources

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "_assignments"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")   # nbgrader's default code stub
EXERCISES_HEADING = "## Exercises"
POINTS_PER_CHECK = 1


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


def headings(cell):
    return [line for line in cell.source.split("\n") if line.startswith("## ")] if cell.cell_type == "markdown" else []


def exercises_start(notebook):
    """Index of the markdown cell that holds the chapter's last section heading, '## Exercises'."""
    starts = [i for i, cell in enumerate(notebook.cells) if EXERCISES_HEADING in headings(cell)]
    if len(starts) != 1:
        raise ValueError(f"expected one '{EXERCISES_HEADING}' heading, found {len(starts)}")
    later = headings(notebook.cells[starts[0]])[-1:] + [h for c in notebook.cells[starts[0] + 1:] for h in headings(c)]
    if later != [EXERCISES_HEADING]:
        raise ValueError(f"'{EXERCISES_HEADING}' must be the last section, found {later[1:] or later}")
    return starts[0]


def exercise_name(cell):
    """The name of the function a solution cell defines: the exercise's nbgrader grade_id."""
    names = re.findall(r"^def (\w+)\(", cell.source, flags=re.M)
    if not names:
        raise ValueError(f"a solution cell must define a function, got:\n{cell.source}")
    return names[0]


def strip_solution(source):
    """Replace every BEGIN/END SOLUTION region by the stub, at the region's indentation."""
    lines, inside, found = [], False, False
    for line in source.split("\n"):
        if line.strip() == BEGIN:
            if inside:
                raise ValueError(f"nested '{BEGIN}'")
            inside = found = True
            indent = line[: line.index(BEGIN)]
            lines.extend(indent + stub for stub in STUB)
        elif line.strip() == END:
            if not inside:
                raise ValueError(f"'{END}' without '{BEGIN}'")
            inside = False
        elif not inside:
            lines.append(line)
    if inside or not found:
        raise ValueError(f"a solution cell needs one complete '{BEGIN}' ... '{END}' region")
    return "\n".join(lines)


def nbgrader_metadata(grade_id, solution=False, grade=False):
    """nbgrader cell metadata, schema version 3: answers are editable, tests and the rest locked."""
    metadata = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
                "solution": solution, "task": False}
    if grade:
        metadata["points"] = POINTS_PER_CHECK
    return metadata


def instructor_notebook(source):
    """The chapter with nbgrader metadata on every cell and no stored outputs."""
    notebook = jupytext.read(source)
    exercises_start(notebook)   # raises unless the chapter ends with one exercises section
    roles = {}
    for solution, check in exercise_cells(notebook):
        name = exercise_name(notebook.cells[solution])
        roles[solution] = nbgrader_metadata(name, solution=True)
        roles[check] = nbgrader_metadata(f"{name}-check", grade=True)
    for index, cell in enumerate(notebook.cells):
        cell.metadata["nbgrader"] = roles.get(index) or nbgrader_metadata(f"cell-{index:03d}")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    for key in ("jupytext", "widgets"):
        notebook.metadata.pop(key, None)
    return notebook


def student_notebook(instructor):
    """The instructor notebook with solution regions stubbed and checks allowed to fail."""
    notebook = copy.deepcopy(instructor)
    for solution, check in exercise_cells(notebook):
        notebook.cells[solution].source = strip_solution(notebook.cells[solution].source)
        notebook.cells[check].metadata["tags"] = tags(notebook.cells[check]) + ["raises-exception"]
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter stems or paths (default: all)")
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT,
                        help=f"folder for student/ and instructor/ (default: {DEFAULT_OUTPUT.name}/)")
    args = parser.parse_args(argv)
    written = write_assignments(args.output, args.chapters)
    print(f"wrote {len(written) // 2} student notebooks to {args.output / 'student'} "
          f"and their instructor versions to {args.output / 'instructor'}")


if __name__ == "__main__":
    main()
