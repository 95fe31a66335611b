"""Execute chapters from their MyST source and store the outputs in the paired .ipynb.

    python -m tools.execute                      # every chapter
    python -m tools.execute 23_derivative_estimation chapters/21_deterministic_policies.md

The .md is the source; the .ipynb is rewritten with fresh outputs (and widget state, so the
site shows the sliders). A failing cell stops with its traceback and a non-zero exit status.

Re-executing an unchanged chapter on the same machine rewrites the same bytes: cells keep the ids
of the stored notebook, no execution timestamps are stored, a cell's consecutive outputs to one
stream are stored as one (the kernel splits them as its flushes happen to fall), and widget models
get ids numbered in the order the kernel created them instead of random ones.

The kernels talk to this process over IPC sockets in a temporary folder, not over TCP: no port is
open to other users of the machine, and the kernel has no reason to warn about plain-text TCP.

The .md is rewritten too, in the form Jupyter's jupytext writes when a student saves the chapter
(with the kernel's display name, without jupytext's version line: see jupytext.toml), so opening and
saving a chapter in JupyterLab leaves both files as they were.
"""

import argparse
import copy
import hashlib
import os
import pathlib
import sys
import tempfile

import jupytext
import nbclient
from jupyter_client.kernelspec import get_kernel_spec
from jupyter_client.manager import KernelManager

from lib.notebook.widgets import STATIC_VIEW_VARIABLE

CHAPTERS = pathlib.Path(__file__).resolve().parent.parent / "chapters"
KERNEL = "python3"
# The MyST text as jupytext writes it from Jupyter; the version line would change with every jupytext
# release, so jupytext.toml drops it there, and this format drops it here.
SOURCE_FORMAT = {
    "extension": ".md",
    "format_name": "myst",
    "notebook_metadata_filter": "-jupytext.text_representation.jupytext_version",
}


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


def run_chapter(source, timeout=1200, on_cell_execute=None, static_view=True):
    """Run every cell of `source` (.md) in a fresh kernel; return the executed notebook.

    With `static_view` the kernel also draws the sliders' static views for the site (see `lib.notebook.widgets`);
    without it the chapter runs as in a reader's Jupyter. `on_cell_execute`, if given, is nbclient's
    hook called before each cell (the main job's progress lines).
    """
    os.environ[STATIC_VIEW_VARIABLE] = "1" if static_view else "0"  # the kernel inherits this environment
    notebook = jupytext.read(source)
    with tempfile.TemporaryDirectory() as sockets:
        # For IPC, `ip` is the sockets' path prefix; by default it is in the working directory.
        kernel = KernelManager(kernel_name=KERNEL, transport="ipc", ip=os.path.join(sockets, "kernel"))
        client = nbclient.NotebookClient(
            notebook,
            km=kernel,
            timeout=timeout,
            record_timing=False,
            on_cell_execute=on_cell_execute,
            resources={"metadata": {"path": str(source.parent)}},
        )
        try:
            client.execute()
        finally:  # nbclient shuts down only the kernels it made itself; this one would outlive the chapter
            kernel.shutdown_kernel(now=True)
    return merge_streams(notebook)


def merge_streams(notebook):
    """Join each cell's consecutive outputs to one stream (stdout, stderr) into one output."""
    for cell in (cell for cell in notebook.cells if cell.cell_type == "code"):
        merged = []
        for output in cell.outputs:
            if (
                output.output_type == "stream"
                and merged
                and merged[-1].output_type == "stream"
                and merged[-1].name == output.name
            ):
                merged[-1].text += output.text
            else:
                merged.append(output)
        cell.outputs = merged
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
        if (
            cell_id is None
            and in_place is not None
            and in_place.cell_type == cell.cell_type
            and in_place.id not in used
        ):
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


def canonical_source(notebook):
    """The .md text of `notebook` as JupyterLab with jupytext saves it, with the kernel's display name."""
    notebook.metadata["kernelspec"]["display_name"] = get_kernel_spec(KERNEL).display_name
    # A copy: jupytext.writes records the metadata filter in the notebook it is given, and the
    # stored .ipynb must not carry it (JupyterLab drops it on save, which would show as a change).
    return jupytext.writes(copy.deepcopy(notebook), fmt=SOURCE_FORMAT)


def execute_chapter(source, on_cell_execute=None):
    """Run `source` (.md), store its outputs in the paired .ipynb and its text in canonical form."""
    target = source.with_suffix(".ipynb")
    text = source.read_text()
    notebook = number_widget_models(run_chapter(source, on_cell_execute=on_cell_execute), source.stem)
    if target.exists():
        keep_cell_ids(notebook, jupytext.read(target))
    canonical = canonical_source(notebook)
    jupytext.write(notebook, target)
    if source.read_text() == text:  # an edit made while the chapter ran is kept (and the .ipynb is stale)
        source.write_text(canonical)


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
