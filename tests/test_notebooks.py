"""The chapters as a book: pairs in sync, outputs stored, sliders stored for the static site.

nbval itself (re-running every chapter and comparing outputs) runs from pytest's command line;
see README.md. The site's build and its pages in a browser are tested in tests/test_site.py.
"""

import json

import jupytext
import pytest
import yaml

from lib.notebook.widgets import STATIC_NOTE
from tools.execute import CHAPTERS, canonical_source

SOURCES = sorted(CHAPTERS.glob("*.md"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def cells_of(path):
    return [(cell.cell_type, cell.source.strip()) for cell in jupytext.read(path).cells]


MAX_IGNORED_CELLS = 3  # per chapter, besides the widget cells (README, "Reproducibility")


def test_every_chapter_of_the_table_of_contents_is_a_complete_pair():
    notebooks = sorted(CHAPTERS.glob("*.ipynb"))
    toc = yaml.safe_load((CHAPTERS.parent / "_toc.yml").read_text())
    listed = [entry["file"].split("/")[-1] for entry in toc["chapters"] if entry["file"].startswith("chapters/")]
    assert [p.stem for p in SOURCES] == [p.stem for p in notebooks] == listed


def is_widget_cell(cell):
    return any(WIDGET_VIEW in output.get("data", {}) for output in cell.get("outputs", []))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_at_most_three_cells_besides_the_sliders_escape_comparison(source):
    """Per-run detail may sit in a few ignored cells; everything else is compared on the reader's CPU."""
    notebook = json.loads(source.with_suffix(".ipynb").read_text())
    ignored = [
        cell
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        and not is_widget_cell(cell)
        and "nbval-ignore-output" in cell["metadata"].get("tags", [])
    ]
    assert len(ignored) <= MAX_IGNORED_CELLS, [cell["source"][:80] for cell in ignored]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_stored_notebook_holds_no_per_execution_metadata(source):
    """Re-executing an unchanged chapter must leave git diff empty: no timestamps are stored."""
    notebook = json.loads(source.with_suffix(".ipynb").read_text())
    assert not [cell["id"] for cell in notebook["cells"] if "execution" in cell["metadata"]]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_has_not_drifted(source):
    assert cells_of(source) == cells_of(source.with_suffix(".ipynb")), (
        f"{source.name} and its .ipynb differ: run `python -m tools.execute {source.stem}`"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_source_is_what_jupyterlab_saves(source):
    """Opening and saving a chapter in JupyterLab (jupytext pairing) must not rewrite its .md."""
    assert source.read_text() == canonical_source(jupytext.read(source)), (
        f"{source.name} is not in jupytext's saved form: run `python -m tools.execute {source.stem}`"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_stored_outputs_come_from_one_full_run(source):
    notebook = json.loads(source.with_suffix(".ipynb").read_text())
    counts = [cell["execution_count"] for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), "re-execute the chapter from its .md"
    assert not any(output["output_type"] == "error" for cell in notebook["cells"] for output in cell.get("outputs", []))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_widget_cells_are_ignored_by_nbval_and_store_their_static_view(source):
    """Each widget output carries the frames the site shows (lib.notebook.widgets.interactive_figure)."""
    notebook = json.loads(source.with_suffix(".ipynb").read_text())
    widget_cells = [cell for cell in notebook["cells"] if is_widget_cell(cell)]
    for cell in widget_cells:
        where = "".join(cell["source"])[-200:]
        assert "nbval-ignore-output" in cell["metadata"].get("tags", []), where
        for output in cell["outputs"]:
            if WIDGET_VIEW in output.get("data", {}):
                static = "".join(output["data"].get("text/html", ""))
                assert '<div class="interactive-figure">' in static and "<img" in static and STATIC_NOTE in static, (
                    f"no static view for the site in the cell ending\n{where}\nBuild sliders with "
                    f"lib.notebook.widgets.interactive_figure and re-execute: python -m tools.execute {source.stem}"
                )
    if widget_cells:
        state = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        assert state, "widget state missing: Jupyter could not show the stored sliders without a kernel"
