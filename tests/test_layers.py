"""lib's layers, read from its imports: a module imports only from its own layer or lower ones, and no
chapter module imports another chapter's module (the layers are listed in lib/__init__.py). And no import
cycle in benchmarks: the modules the run registry loads import only the leaf `benchmarks.timing`."""

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIB = ROOT / "lib"
BENCHMARKS = ROOT / "benchmarks"

LAYERS = {
    "core": ["config", "divergence", "sweep"],
    "problems": ["envs", "gym_adapter", "mdp", "lqr"],
    "parts": ["nets", "policies", "distributions", "replay", "evaluation", "samplers", "boltzmann_fit"],
    "loops": ["offpolicy", "onpolicy"],
    "chapters": ["fqi", "deterministic", "soft", "estimators", "policy_gradient", "svg", "trust_region"],
    "notebook": ["checks", "plotting", "widgets", "exercises", "catalog"],
}
LAYER = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
# lqr returns its sampled data set as replay's Transition, the type the fitted-Q learners consume; the type
# stays beside its buffer, at the price of this one import up a layer.
ALLOWED_UPWARD = {("lqr", "replay")}

MODULES = sorted(path for path in LIB.rglob("*.py") if path != LIB / "__init__.py")


def owner(path):
    """The lib module a file belongs to: lib/svg/loops.py belongs to svg."""
    return path.relative_to(LIB).parts[0].removesuffix(".py")


def imported_lib_modules(path):
    """The lib modules the file imports from, wherever the import statement is."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "lib":  # from lib import envs, lqr
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lib."):
            yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            yield from (alias.name.split(".")[1] for alias in node.names if alias.name.startswith("lib."))


def test_every_lib_module_has_a_layer():
    assert {owner(path) for path in MODULES} == set(LAYER)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(LIB)))
def test_a_lib_module_imports_only_from_its_layer_or_lower_ones(path):
    me = owner(path)
    upward = [
        module
        for module in imported_lib_modules(path)
        if LAYER[module] > LAYER[me] and (me, module) not in ALLOWED_UPWARD
    ]
    assert not upward, f"lib.{me} ({path.name}) imports from a higher layer: {upward}"


@pytest.mark.parametrize(
    "path", [path for path in MODULES if owner(path) in LAYERS["chapters"]], ids=lambda path: str(path.relative_to(LIB))
)
def test_a_chapter_module_imports_no_other_chapter_module(path):
    me = owner(path)
    across = [module for module in imported_lib_modules(path) if module in LAYERS["chapters"] and module != me]
    assert not across, f"lib.{me} ({path.name}) imports another chapter's module: {across}"


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
