"""The part's map: every box of the book is claimed by exactly one lib function, and only boxes of the book."""

import importlib
import inspect
import pathlib
import re

import pytest

from lib.notebook.catalog import BOXES, implemented_boxes

BOOK_TEXT = pathlib.Path(__file__).resolve().parents[2] / "shared" / "seed"


def test_every_box_of_the_catalog_is_claimed_by_a_function_whose_docstring_names_it():
    claimed = implemented_boxes()
    assert sorted(claimed) == sorted(BOXES)
    for box, path in claimed.items():
        module, name = path.rsplit(".", 1)
        function = getattr(importlib.import_module(module), name)
        assert inspect.getdoc(function).startswith(f"Algorithm {box}")


def test_the_catalog_lists_the_boxes_of_the_book():
    texts = sorted(BOOK_TEXT.glob("*.txt")) if BOOK_TEXT.is_dir() else []
    if not texts:
        pytest.skip(f"the book's text is not beside the repository ({BOOK_TEXT})")
    in_book = set(re.findall(r"Algorithm (\d+\.\d+)", "".join(p.read_text(errors="replace") for p in texts)))
    assert in_book == set(BOXES)
