"""lib's layers are its folders, lowest first (lib/__init__.py says what each holds): a module imports only
from its own layer or lower ones, and no algorithm imports another chapter's algorithm. And no import
cycle in benchmarks: the modules the run registry loads import only the leaf `benchmarks.timing`."""

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIB = ROOT / "lib"
BENCHMARKS = ROOT / "benchmarks"

LAYERS = ["core", "problems", "parts", "loops", "algorithms", "notebook"]
RANK = {layer: rank for rank, layer in enumerate(LAYERS)}
# lqr returns its sampled data set as replay's Transition, the type the fitted-Q learners consume; the type
# stays beside its buffer, at the price of this one import up a layer.
ALLOWED_UPWARD = {("lqr", "replay")}

MODULES = sorted(path for path in LIB.rglob("*.py") if path.parent != LIB)  # every file below a layer folder


def place(path):
    """(layer, module) of a file: lib/algorithms/svg/loops.py is in layer algorithms, module svg."""
    layer, module = path.relative_to(LIB).parts[:2]
    return layer, module.removesuffix(".py")


def imported_lib_modules(path):
    """(layer, module) of every lib module the file imports, wherever the import statement is."""
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lib."):
            parts = node.module.split(".")
            names = [parts[1:3]] if len(parts) > 2 else [[parts[1], alias.name] for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".")[1:3] for alias in node.names if alias.name.startswith("lib.")]
        yield from (tuple(name) for name in names if len(name) == 2)


def test_lib_is_its_layer_folders():
    entries = {path.name for path in LIB.iterdir() if path.name not in ("__init__.py", "__pycache__")}
    assert entries == set(LAYERS), f"lib holds {sorted(entries - set(LAYERS))} outside its layer folders"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(LIB)))
def test_a_lib_module_imports_only_from_its_layer_or_lower_ones(path):
    layer, me = place(path)
    upward = [
        f"{other_layer}.{module}"
        for other_layer, module in imported_lib_modules(path)
        if RANK[other_layer] > RANK[layer] and (me, module) not in ALLOWED_UPWARD
    ]
    assert not upward, f"lib.{layer}.{me} ({path.name}) imports from a higher layer: {upward}"


@pytest.mark.parametrize(
    "path", [path for path in MODULES if place(path)[0] == "algorithms"], ids=lambda path: str(path.relative_to(LIB))
)
def test_an_algorithm_imports_no_other_chapters_algorithm(path):
    _, me = place(path)
    across = [module for layer, module in imported_lib_modules(path) if layer == "algorithms" and module != me]
    assert not across, f"lib.algorithms.{me} ({path.name}) imports another chapter's module: {across}"


def imported_modules(path):
    """Every module the file imports, by its full name."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


@pytest.mark.parametrize(
    "path", [*sorted(BENCHMARKS.glob("runs_ch*.py")), BENCHMARKS / "peers.py"], ids=lambda path: path.name
)
def test_a_module_the_run_registry_loads_imports_no_benchmarks_module_but_timing(path):
    imported = {module for module in imported_modules(path) if module.startswith("benchmarks")}
    assert imported <= {"benchmarks.timing"}, f"{path.name} imports {imported - {'benchmarks.timing'}}"


def test_the_timing_module_imports_only_jax_and_the_standard_library():
    """The peers' environment has JAX and rejax but not lib, and times a peer with it."""
    top_level = {module.split(".")[0] for module in imported_modules(BENCHMARKS / "timing.py")}
    assert top_level - {"jax"} <= sys.stdlib_module_names
