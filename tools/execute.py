"""Execute chapters from their MyST source and store the outputs in the paired .ipynb.

    python -m tools.execute                      # every chapter
    python -m tools.execute 23_derivative_estimation chapters/21_deterministic_policies.md

The .md is the source; the .ipynb is rewritten with fresh outputs (and widget state, so the
site shows the sliders). A failing cell stops with its traceback and a non-zero exit status.
"""
import argparse
import os
import pathlib
import sys

import jupytext
import nbclient

from lib.widgets import STATIC_VIEW_VARIABLE

CHAPTERS = pathlib.Path(__file__).resolve().parent.parent / "chapters"


def chapter_sources(names=()):
    """The .md sources named (by stem or path), or all of them in order."""
    if not names:
        return sorted(CHAPTERS.glob("*.md"))
    sources = []
    for name in names:
        path = CHAPTERS / f"{pathlib.Path(name).stem}.md"
        if not path.exists():
            known = ", ".join(p.stem for p in sorted(CHAPTERS.glob("*.md")))
            raise SystemExit(f"unknown chapter {name!r}; known chapters: {known}")
        sources.append(path)
    return sources


def run_chapter(source, timeout=1200):
    """Run every cell of `source` (.md) in a fresh kernel; return the executed notebook.

    The kernel draws the sliders' static views for the site (see `lib.widgets`).
    """
    os.environ[STATIC_VIEW_VARIABLE] = "1"   # the kernel inherits this process's environment
    notebook = jupytext.read(source)
    client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(source.parent)}})
    client.execute()
    return notebook


def execute_chapter(source):
    """Run `source` (.md) and store its outputs in the paired .ipynb."""
    jupytext.write(run_chapter(source), source.with_suffix(".ipynb"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter stems or paths (default: all)")
    args = parser.parse_args(argv)
    for source in chapter_sources(args.chapters):
        print(f"executing {source.name}", flush=True)
        try:
            execute_chapter(source)
        except nbclient.exceptions.CellExecutionError as error:
            print(error, file=sys.stderr)
            raise SystemExit(f"{source.name} failed")


if __name__ == "__main__":
    main()
