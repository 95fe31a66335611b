"""tools.execute writes the same bytes for an unchanged chapter: ids kept, widget models numbered."""
import nbformat

from tools.execute import keep_cell_ids, number_widget_models

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
    assert ids[1] == stored.cells[1].id            # edited in place: the id of the cell in its place
    assert len(set(ids)) == 4                      # the new cell keeps a fresh id of its own


def test_identical_sources_do_not_share_an_id():
    stored = notebook("x", "x")
    fresh = notebook("x", "x")
    keep_cell_ids(fresh, stored)
    assert {cell.id for cell in fresh.cells} == {cell.id for cell in stored.cells}


def with_widgets(model_ids):
    nb = notebook("slider")
    nb.cells[0].id = "slider"
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", {
        "application/vnd.jupyter.widget-view+json": {"model_id": model_ids[0], "version_major": 2}})]
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": {
        model_ids[0]: {"state": {"children": [f"IPY_MODEL_{model_ids[1]}"]}}, model_ids[1]: {"state": {}}}}}
    return nb


def test_widget_model_ids_depend_on_the_order_of_creation_only():
    first = number_widget_models(with_widgets(["a" * 32, "b" * 32]), "chapter")
    second = number_widget_models(with_widgets(["c" * 32, "d" * 32]), "chapter")
    assert nbformat.writes(first) == nbformat.writes(second)
    state = first.metadata["widgets"][WIDGET_STATE]["state"]
    view, child = list(state)
    assert first.cells[0].outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] == view
    assert state[view]["state"]["children"] == [f"IPY_MODEL_{child}"]
