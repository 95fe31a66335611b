"""The part's map: boxes claimed by lib functions."""
from lib.catalog import BOXES, implemented_boxes


def test_every_claimed_box_is_a_box_of_the_book_and_resolves_to_a_function():
    import importlib
    for box, path in implemented_boxes().items():
        assert box in BOXES
        module, name = path.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name))
