"""Write the first code cell of every chapter: it finds `lib`, or installs the project from its repository.

A chapter opened alone (Colab, Binder, a downloaded .ipynb) has no `lib` beside it, so its first cell
installs the project from the repository and branch set in one place, `_config.yml`'s `repository`
(`url`, `branch`), which the site's launch buttons use too. After changing them, run

    python -m tools.bootstrap

to write the cell, with them, as the first code cell of every chapter's .md and .ipynb. It changes no
stored output: in a checkout or an installed environment the cell prints nothing. tests/test_bootstrap.py
fails while a chapter's first code cell differs from `cell_source()`.
"""

import jupytext
import nbformat
import yaml

from tools.execute import CHAPTERS, canonical_source, chapter_sources

CONFIG = CHAPTERS.parent / "_config.yml"
# The cell, with the repository and branch of _config.yml in place of the two placeholders.
TEMPLATE = """# Finds `lib`: installed, or in the repository checkout this notebook sits in; else (Colab, a
# downloaded notebook) installs the project from the repository of _config.yml, with its branch.
import importlib.util, pathlib, subprocess, sys

REPOSITORY, BRANCH = "@URL@", "@BRANCH@"
checkouts = [folder for folder in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents] if (folder / "lib" / "notebook" / "catalog.py").is_file()]
if importlib.util.find_spec("lib") is None and checkouts:
    sys.path.insert(0, str(checkouts[0]))
elif importlib.util.find_spec("lib") is None:
    print(f"lib is not installed: installing the project from {REPOSITORY} (branch {BRANCH}) ...")
    if subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"git+{REPOSITORY}@{BRANCH}"]).returncode:
        raise RuntimeError(f"Could not install the project from {REPOSITORY} (branch {BRANCH}). Clone the repository, "
                           "run `pip install -e .` in it and open this chapter from its chapters/ folder.")
    importlib.invalidate_caches()"""
FIRST_LINE = TEMPLATE.splitlines()[0]


def repository():
    """(url, branch) of the project's repository, from _config.yml."""
    config = yaml.safe_load(CONFIG.read_text())["repository"]
    return config["url"], config["branch"]


def cell_source():
    url, branch = repository()
    return TEMPLATE.replace("@URL@", url).replace("@BRANCH@", branch)


def with_bootstrap_cell(notebook):
    """`notebook` with the cell as its first code cell: replaced if it is an older copy, else inserted."""
    first = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    if notebook.cells[first].source.startswith(FIRST_LINE):
        notebook.cells[first].source = cell_source()
    else:
        notebook.cells.insert(first, nbformat.v4.new_code_cell(cell_source()))
    return notebook


def main():
    for source in chapter_sources():
        paired = source.with_suffix(".ipynb")
        source.write_text(canonical_source(with_bootstrap_cell(jupytext.read(source))))
        jupytext.write(with_bootstrap_cell(jupytext.read(paired)), paired)
        print(f"{source.stem}: first code cell installs from {' @ '.join(repository())}")


if __name__ == "__main__":
    main()
