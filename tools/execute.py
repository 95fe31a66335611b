"""Execute chapters from their MyST source and store the outputs in the paired .ipynb.

    python -m tools.execute                      # every chapter
    python -m tools.execute 23_derivative_estimation chapters/21_deterministic_policies.md

The .md is the source; the .ipynb is rewritten with fresh outputs (and widget state, so the
site shows the sliders). A failing cell stops with its traceback and a non-zero exit status.

Re-executing an unchanged chapter on the same machine rewrites the same bytes: cells keep the ids
of the stored notebook, no execution timestamps are stored, and widget models get ids numbered in
the order the kernel created them instead of random ones.
"""
import argparse
import hashlib
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
    client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                                     resources={"metadata": {"path": str(source.parent)}})
    client.execute()
    return notebook


def keep_cell_ids(notebook, stored):
    """Give each cell the id of a stored cell with its type and source, else of the stored cell in its place."""
    by_content = {}
    for cell in stored.cells:
        by_content.setdefault((cell.cell_type, cell.source), []).append(cell.id)
    matched = [by_content.get((cell.cell_type, cell.source), []) for cell in notebook.cells]
    matched = [ids.pop(0) if ids else None for ids in matched]
    used = {cell_id for cell_id in matched if cell_id is not None}
    for position, (cell, cell_id) in enumerate(zip(notebook.cells, matched)):
        in_place = stored.cells[position] if position < len(stored.cells) else None
        if cell_id is None and in_place is not None and in_place.cell_type == cell.cell_type and in_place.id not in used:
            cell_id = in_place.id
        cell.id = cell.id if cell_id is None else cell_id
        used.add(cell.id)


def number_widget_models(notebook, chapter):
    """Replace the kernel's random widget model ids by ids numbered in order of creation."""
    state = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    if not state:
        return notebook
    text = jupytext.writes(notebook, fmt="ipynb")
    for index, model_id in enumerate(list(state)):
        text = text.replace(model_id, hashlib.sha256(f"{chapter}:{index}".encode()).hexdigest()[:32])
    return jupytext.reads(text, fmt="ipynb")


def execute_chapter(source):
    """Run `source` (.md) and store its outputs in the paired .ipynb."""
    target = source.with_suffix(".ipynb")
    notebook = number_widget_models(run_chapter(source), source.stem)
    if target.exists():
        keep_cell_ids(notebook, jupytext.read(target))
    jupytext.write(notebook, target)


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
