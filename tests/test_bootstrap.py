"""The first code cell of a chapter opened alone (Colab, Binder, a downloaded .ipynb) finds `lib`.

It runs here in a bare virtual environment: the project's dependencies are visible (a .pth file adds
this environment's site-packages, whose own .pth files, the editable install of the project among
them, are not processed), the project itself is not. To stay fast and offline, the install is from
the local checkout's committed HEAD (`git+file://`), without build isolation and without dependencies
(PIP_NO_BUILD_ISOLATION, PIP_NO_DEPS): what is tested is the cell's logic and its install command.
"""

import os
import subprocess
import sysconfig
import venv

import jupytext
import pytest

from tools import bootstrap
from tools.execute import CHAPTERS, chapter_sources

ROOT = CHAPTERS.parent
CHECK_IMPORT = "\nimport lib.notebook.catalog\nprint('lib from', lib.notebook.catalog.__file__)\n"
REPOSITORY_LINE = 'REPOSITORY, BRANCH = "{}", "{}"'


def first_code_cell(path):
    return next(cell.source for cell in jupytext.read(path).cells if cell.cell_type == "code")


def with_repository(source, url, branch):
    """The cell's source with its repository and branch replaced."""
    assert REPOSITORY_LINE.format(*bootstrap.repository()) in source
    return source.replace(REPOSITORY_LINE.format(*bootstrap.repository()), REPOSITORY_LINE.format(url, branch))


@pytest.mark.parametrize(
    "path",
    [path for source in chapter_sources() for path in (source, source.with_suffix(".ipynb"))],
    ids=lambda path: path.name,
)
def test_every_chapter_opens_with_the_cell_of_tools_bootstrap(path):
    assert first_code_cell(path) == bootstrap.cell_source(), (
        f"{path.name}: its first code cell is not the bootstrap cell; run python -m tools.bootstrap"
    )


def test_the_tool_inserts_the_cell_where_it_is_missing_and_updates_an_old_copy():
    notebook = jupytext.read(CHAPTERS / "19_policy_parametrization.md")
    notebook.cells = [cell for cell in notebook.cells if cell.source != bootstrap.cell_source()]
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    code = [cell for cell in bootstrap.with_bootstrap_cell(notebook).cells if cell.cell_type == "code"]
    assert code[0].source == bootstrap.cell_source() and len(code) == code_cells + 1
    code[0].source = with_repository(code[0].source, "https://example.org/old", "v1")
    code = [cell for cell in bootstrap.with_bootstrap_cell(notebook).cells if cell.cell_type == "code"]
    assert code[0].source == bootstrap.cell_source() and len(code) == code_cells + 1


@pytest.fixture
def bare_python(tmp_path):
    """A fresh virtual environment's python that sees the dependencies but not the project."""
    folder = tmp_path / "bare-venv"
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (folder / site_packages.removeprefix(str(folder) + "/") / "dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    return python


def run_cell(python, source, cwd):
    environment = dict(os.environ, PIP_NO_BUILD_ISOLATION="0", PIP_NO_DEPS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    environment.pop("PYTHONPATH", None)
    return subprocess.run(
        [python, "-c", source + CHECK_IMPORT], cwd=cwd, capture_output=True, text=True, env=environment, timeout=120
    )


def test_cell_names_the_repository_and_branch_of_config_yml():
    assert with_repository(bootstrap.cell_source(), "url", "branch") != bootstrap.cell_source()


def test_bare_environment_cannot_import_lib(bare_python, tmp_path):
    result = subprocess.run(
        [bare_python, "-c", "import numpy, jax, ipywidgets; import lib"], cwd=tmp_path, capture_output=True, text=True
    )
    assert "No module named 'lib'" in result.stderr


def test_in_a_checkout_the_cell_finds_lib_without_installing(bare_python):
    result = run_cell(bare_python, bootstrap.cell_source(), CHAPTERS)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"lib from {ROOT / 'lib' / 'notebook' / 'catalog.py'}\n"


def test_alone_the_cell_installs_the_project_from_the_repository(bare_python, tmp_path):
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    result = run_cell(bare_python, with_repository(bootstrap.cell_source(), ROOT.as_uri(), head), tmp_path)
    assert result.returncode == 0, result.stderr
    announced, imported = result.stdout.splitlines()
    assert announced == f"lib is not installed: installing the project from {ROOT.as_uri()} (branch {head}) ..."
    assert imported.startswith(f"lib from {bare_python.parent.parent}") and imported.endswith("catalog.py")


def test_alone_the_cell_says_when_it_cannot_install(bare_python, tmp_path):
    missing = (tmp_path / "no-such-repository").as_uri()
    result = run_cell(bare_python, with_repository(bootstrap.cell_source(), missing, "main"), tmp_path)
    assert result.returncode != 0
    assert f"RuntimeError: Could not install the project from {missing} (branch main)" in result.stderr
