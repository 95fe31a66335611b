"""tools.execute writes the same bytes for an unchanged chapter: ids kept, streams merged, widget models numbered."""

import jupytext
import nbformat
import psutil

from tools.execute import execute_chapter, keep_cell_ids, number_widget_models

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def notebook(*sources):
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return nbformat.v4.new_notebook(cells=cells)


def test_unchanged_and_edited_cells_keep_their_stored_ids():
    stored = notebook("a = 1", "b = 2", "c = 3")
    fresh = notebook("a = 1", "b = 20", "new = 0", "c = 3")
    keep_cell_ids(fresh, stored)
    ids = [cell.id for cell in fresh.cells]
    assert ids[0] == stored.cells[0].id and ids[3] == stored.cells[2].id
    assert ids[1] == stored.cells[1].id  # edited in place: the id of the cell in its place
    assert len(set(ids)) == 4  # the new cell keeps a fresh id of its own


def test_identical_sources_do_not_share_an_id():
    stored = notebook("x", "x")
    fresh = notebook("x", "x")
    keep_cell_ids(fresh, stored)
    assert {cell.id for cell in fresh.cells} == {cell.id for cell in stored.cells}


def with_widgets(model_ids):
    nb = notebook("slider")
    nb.cells[0].id = "slider"
    nb.cells[0].outputs = [
        nbformat.v4.new_output(
            "display_data", {"application/vnd.jupyter.widget-view+json": {"model_id": model_ids[0], "version_major": 2}}
        )
    ]
    nb.metadata["widgets"] = {
        WIDGET_STATE: {
            "state": {model_ids[0]: {"state": {"children": [f"IPY_MODEL_{model_ids[1]}"]}}, model_ids[1]: {"state": {}}}
        }
    }
    return nb


def test_widget_model_ids_depend_on_the_order_of_creation_only():
    first = number_widget_models(with_widgets(["a" * 32, "b" * 32]), "chapter")
    second = number_widget_models(with_widgets(["c" * 32, "d" * 32]), "chapter")
    assert nbformat.writes(first) == nbformat.writes(second)
    state = first.metadata["widgets"][WIDGET_STATE]["state"]
    view, child = list(state)
    assert first.cells[0].outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] == view
    assert state[view]["state"]["children"] == [f"IPY_MODEL_{child}"]


# A cell that prints twice with a pause in between, then writes to stderr and to stdout again. The kernel
# sends what was printed every 0.2 s, so whether 'first' and 'second' arrive in one stream message or two
# depends on the pause, which the kernel reads from the environment. stdout is flushed before the write to
# stderr, which fixes the order of the two streams.
INTERLEAVED = (
    "import os, sys, time\n"
    "print('first')\n"
    "time.sleep(float(os.environ['TEST_PAUSE']))\n"
    "print('second', flush=True)\n"
    "sys.stderr.write('warned\\n'); sys.stderr.flush()\n"
    "time.sleep(float(os.environ['TEST_PAUSE']))\n"
    "print('third')"
)


def test_a_chapter_whose_streams_arrive_split_is_stored_the_same_way_over_ipc(tmp_path, monkeypatch, capfd):
    source = tmp_path / "tiny.md"
    chapter = notebook(INTERLEAVED)
    chapter.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(chapter, source, fmt="md:myst")
    monkeypatch.chdir(tmp_path)
    stored = []
    for pause in ("0", "0", "0.5"):  # the first run stores the chapter, the others rewrite it
        monkeypatch.setenv("TEST_PAUSE", pause)
        execute_chapter(source)
        stored.append(source.with_suffix(".ipynb").read_bytes())
    stored.pop(0)
    assert stored[0] == stored[1]
    outputs = nbformat.reads(stored[1].decode(), as_version=4).cells[0].outputs
    assert [(output.name, output.text) for output in outputs] == [
        ("stdout", "first\nsecond\n"),
        ("stderr", "warned\n"),
        ("stdout", "third\n"),
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny.ipynb", "tiny.md"]  # no socket files left
    assert "TCP without encryption" not in capfd.readouterr().err
    kernels = [child for child in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(child.cmdline())]
    assert not kernels  # each chapter's kernel is shut down with it, not left running until the job ends
