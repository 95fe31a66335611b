"""The chapters as a book: pairs in sync, outputs stored, widgets offline, a warning-free build.

nbval itself (re-running every chapter and comparing outputs) runs from pytest's command line;
see README.md.
"""
import json
import pathlib
import subprocess

import jupytext
import pytest

from tools.build import build_site
from tools.execute import CHAPTERS

SOURCES = sorted(CHAPTERS.glob("*.md"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def cells_of(path):
    return [(cell.cell_type, cell.source.strip()) for cell in jupytext.read(path).cells]


def test_every_chapter_is_a_complete_pair():
    notebooks = sorted(CHAPTERS.glob("*.ipynb"))
    assert [p.stem for p in SOURCES] == [p.stem for p in notebooks]
    assert len(SOURCES) >= 2


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_has_not_drifted(source):
    assert cells_of(source) == cells_of(source.with_suffix(".ipynb")), (
        f"{source.name} and its .ipynb differ: run `python -m tools.execute {source.stem}`")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_stored_outputs_come_from_one_full_run(source):
    notebook = json.loads(source.with_suffix(".ipynb").read_text())
    counts = [cell["execution_count"] for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), "re-execute the chapter from its .md"
    assert not any(output["output_type"] == "error" for cell in notebook["cells"] for output in cell.get("outputs", []))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_widget_cells_are_ignored_by_nbval_and_their_state_is_stored(source):
    notebook = json.loads(source.with_suffix(".ipynb").read_text())
    widget_cells = [cell for cell in notebook["cells"]
                    if any(WIDGET_VIEW in output.get("data", {}) for output in cell.get("outputs", []))]
    for cell in widget_cells:
        assert "nbval-ignore-output" in cell["metadata"].get("tags", []), cell["source"][:80]
    if widget_cells:
        state = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        assert state, "widget state missing: the site could not render the sliders"


def test_site_builds_without_warnings_and_loads_widgets_offline(tmp_path):
    index = build_site(tmp_path)
    html = index.parent
    pages = list((html / "chapters").glob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text()
        assert "cdn.jsdelivr.net" not in text and "cdnjs.cloudflare.com" not in text, page.name
        if "application/vnd.jupyter.widget-state+json" in text:
            assert '_static/embed-amd.js' in text and '_static/require.js' in text, page.name
    assert (html / "_static" / "embed-amd.js").exists()
