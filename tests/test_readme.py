"""The README's commands are the ones CI runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines


def test_readme_main_command_executes_chapters_and_builds_the_site():
    assert readme_commands()[0].endswith("python -m tools.build")


def test_the_test_command_installs_chromium_for_the_browser_tests_as_root_only_when_missing():
    command = readme_commands()[1]
    install = re.match(
        r'\{ command -v chromium >/dev/null \|\| \[ "\$\(id -u\)" != 0 \] \|\| \{ (.*?); \}; \} && ', command
    )
    assert install, "the test command must begin with the guarded Chromium install"
    assert "apt-get install -y chromium" in install.group(1)
    assert "python -m pytest -n 2 --dist loadfile && " in command


def test_the_test_command_runs_the_chapters_a_second_time_as_another_processor_would():
    """XLA's CPU code generation differs between processors; the stored outputs must hold on all of them.

    Capping the instruction set at SSE4.2 changes the generated code (vector width, FMA) the way
    another processor would, so the chapters' nbval runs again under that flag.
    """
    assert readme_commands()[1].endswith(
        "&& XLA_FLAGS=--xla_cpu_max_isa=SSE4_2 python -m pytest -n 2 --dist loadfile chapters"
    )
