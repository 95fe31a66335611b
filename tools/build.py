"""The main job: execute every chapter, then build the Jupyter Book site with warnings as errors.

    python -m tools.build               # execute all chapters, then build into _build/html
    python -m tools.build --no-execute  # build from the stored outputs only

While it works it prints the chapter and cell it is running with the time since the start, and at
the end a table of the time each chapter (and the site build) took.

The module is also a Sphinx extension of the build (`extra_extensions` in _config.yml): see `setup`.
"""
import argparse
import pathlib
import subprocess
import sys
import time

import jupytext

from tools.execute import execute_chapter, chapter_sources

ROOT = pathlib.Path(__file__).resolve().parent.parent


def build_site(output_dir=ROOT):
    """`jupyter-book build` with -W: any Sphinx warning fails the build."""
    command = [str(pathlib.Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--path-output", str(output_dir),
               "-W", "-n", "--keep-going"]
    subprocess.run(command, check=True)
    return pathlib.Path(output_dir) / "_build" / "html" / "index.html"


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    unique = {}
    for script in context["script_files"]:
        unique.setdefault((script.filename or "", script.priority, tuple(sorted(script.attributes.items()))), script)
    context["script_files"] = list(unique.values())


def setup(app):
    """Load each script of a page once.

    Sphinx 7.4 adds an inline script registered after the builder started (sphinx-thebe's
    configuration) twice, once with filename None and once with "", which its own deduplication
    tells apart: every page declared `const THEBE_JS_URL` twice, a SyntaxError in the browser.
    """
    app.connect("html-page-context", _drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


class Progress:
    """Prints where the job is (chapter, cell, time since the start) and, at the end, each step's time."""

    def __init__(self, out=sys.stdout):
        self.out, self.started, self.times = out, time.perf_counter(), {}
        self.step, self.cells, self.step_started = None, 0, self.started

    def elapsed(self):
        return time.perf_counter() - self.started

    def begin(self, step, cells=0):
        self.step, self.cells, self.step_started = step, cells, time.perf_counter()
        print(f"[{self.elapsed():6.0f} s] {step}", file=self.out, flush=True)

    def cell(self, cell, cell_index, **_):
        """nbclient's `on_cell_execute` hook: one line per code cell, with its first line."""
        first_line = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
        print(f"[{self.elapsed():6.0f} s] {self.step}: cell {cell_index + 1}/{self.cells}  {first_line}",
              file=self.out, flush=True)

    def end(self):
        self.times[self.step] = time.perf_counter() - self.step_started

    def table(self):
        width = max(map(len, self.times), default=4)
        lines = [f"{'step':<{width}}  time (s)", f"{'-' * width}  --------"]
        lines += [f"{step:<{width}}  {seconds:8.1f}" for step, seconds in self.times.items()]
        lines.append(f"{'total':<{width}}  {self.elapsed():8.1f}")
        print("\n" + "\n".join(lines), file=self.out, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-execute", action="store_true", help="skip executing the chapters")
    args = parser.parse_args(argv)
    progress = Progress()
    if not args.no_execute:
        for source in chapter_sources():
            progress.begin(source.stem, cells=len(jupytext.read(source).cells))
            execute_chapter(source, on_cell_execute=progress.cell)
            progress.end()
    progress.begin("site build (jupyter-book)")
    index = build_site()
    progress.end()
    progress.table()
    print(f"\nThe site is built. Open {index} in a browser.")


if __name__ == "__main__":
    main()
