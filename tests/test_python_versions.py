"""The README names the Python versions the pinned stack installs on, and pyproject's requires-python agrees.

pip resolves requirements.txt for each named version from its index's metadata (a dry run, wheels only, on
this machine's platform), and for the version below the lowest, which must fail: that is why the README
starts where it does. Without a reachable index the test skips and says so.
"""

import pathlib
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.specifiers import SpecifierSet

ROOT = pathlib.Path(__file__).resolve().parent.parent
SENTENCE = re.compile(r"On a fresh machine with Python ([^(]+) \(")


def named_versions():
    sentence = SENTENCE.search((ROOT / "README.md").read_text())
    assert sentence, "the README's quick start names the Python versions"
    return re.findall(r"3\.\d+", sentence.group(1))


def below(version):
    major, minor = version.split(".")
    return f"{major}.{int(minor) - 1}"


def test_requires_python_admits_the_named_versions_and_not_the_one_below():
    named = named_versions()
    requires = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert all(version in requires for version in named), (requires, named)
    assert below(named[0]) not in requires, (requires, named)


def resolve(version, folder):
    """pip's dry run of `pip install -r requirements.txt` for Python `version`: (it resolved, pip's last line)."""
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--no-deps",
            "--ignore-installed",
            "--only-binary=:all:",
            "--python-version",
            version,
            "--target",
            str(folder / version),
            "--retries",
            "0",
            "--timeout",
            "15",
            "-r",
            str(ROOT / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return finished.returncode == 0, (finished.stderr.strip().splitlines() or [""])[-1]


def test_the_pinned_requirements_publish_wheels_for_each_named_version_and_not_below(tmp_path):
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    resolved, line = resolve(running, tmp_path)
    if not resolved:
        pytest.skip(f"no package index answered for the running Python {running}: {line}")
    named = named_versions()
    missing = {version: line for version in named for resolved, line in [resolve(version, tmp_path)] if not resolved}
    assert not missing, missing
    assert not resolve(below(named[0]), tmp_path)[0], f"the pins install on Python {below(named[0])} too"
