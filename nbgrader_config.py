"""nbgrader configuration for a course built from these chapters (README, "Classroom").

`python -m tools.assignments --course COURSE` copies it into the course folder beside source/.
Nothing here raises nbgrader's limits: an assignment holds only a chapter's exercises, whose cells
run in seconds, so a submission grades well within the default 30 s per cell. The kernel must import
this project's `lib` (install the project with `pip install -e .`, as the README's set-up does).

`nbgrader autograde` logs "Attribute 'checksum' for cell <function>-check has changed!" for every check
cell, even of an untouched submission: the released check cells lack the hidden tests, which nbgrader
restores from the source before running them (README, "Classroom").
"""
c = get_config()  # noqa: F821  (nbgrader defines get_config when it reads this file)

c.CourseDirectory.course_id = "policy-parametrization"
# Stubs the students see, and the ones tools.assignments writes into its student notebooks.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
