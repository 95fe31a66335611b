"""The main job: execute every chapter, then build the Jupyter Book site with warnings as errors.

    python -m tools.build               # execute all chapters, then build into _build/html
    python -m tools.build --no-execute  # build from the stored outputs only

While it works it prints the chapter and cell it is running with the time since the start, and at
the end a table of the time each chapter (and the site build) took.

The module is also a Sphinx extension of the build (`extra_extensions` in _config.yml): see `setup`.
"""

import argparse
import hashlib
import pathlib
import subprocess
import sys
import time

import jupytext
from sphinx.util import logging

from lib.notebook.widgets import defer_hidden_frames
from tools.execute import execute_chapter, chapter_sources

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The repository URL of _config.yml until the project has a public one (README, "The site").
PLACEHOLDER_REPOSITORY = "YOUR-GITHUB-USER"
FRAMES_DIR = "_images"  # where the site's hidden slider frames go, beside the figures myst-nb writes

logger = logging.getLogger(__name__)


def build_site(output_dir=ROOT):
    """`jupyter-book build` with -W: any Sphinx warning fails the build."""
    command = [
        str(pathlib.Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(ROOT),
        "--path-output",
        str(output_dir),
        "-W",
        "-n",
        "--keep-going",
    ]
    subprocess.run(command, check=True)
    return pathlib.Path(output_dir) / "_build" / "html" / "index.html"


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    unique = {}
    for script in context["script_files"]:
        unique.setdefault((script.filename or "", script.priority, tuple(sorted(script.attributes.items()))), script)
    context["script_files"] = list(unique.values())


def leave_out_dead_launch_buttons(app, config):
    """No Binder or Colab button while the repository is the placeholder: each would open a 404."""
    options = config.html_theme_options
    if PLACEHOLDER_REPOSITORY in options.get("repository_url", ""):
        options["launch_buttons"] = {}
        logger.info(
            f"Launch buttons left out: the repository in _config.yml is the placeholder "
            f"{options['repository_url']} (see README, 'The site')."
        )


def _defer_hidden_frames(app, pagename, templatename, context, doctree):
    """Write the hidden frames of a page's static sliders to files, so the page carries only the shown ones."""
    if "body" not in context:
        return
    frames = pathlib.Path(app.outdir) / FRAMES_DIR
    frames.mkdir(exist_ok=True)

    def save(png):
        name = f"frame-{hashlib.sha256(png).hexdigest()[:32]}.png"
        (frames / name).write_bytes(png)
        return context["pathto"](f"{FRAMES_DIR}/{name}", 1)

    context["body"] = defer_hidden_frames(context["body"], save)


def setup(app):
    """The site's changes to the build.

    - Each script of a page loads once. Sphinx 7.4 adds an inline script registered after the builder
      started (sphinx-thebe's configuration) twice, once with filename None and once with "", which its
      own deduplication tells apart: every page declared `const THEBE_JS_URL` twice, a SyntaxError.
    - While the repository is the placeholder, there are no launch buttons (`leave_out_dead_launch_buttons`).
    - The static sliders' hidden frames become files beside the page, loaded when a slider is first moved
      (`lib.notebook.widgets.defer_hidden_frames`): a chapter page was 70% frames no reader had asked for yet.
    """
    app.connect("html-page-context", _drop_repeated_scripts)
    app.connect("html-page-context", _defer_hidden_frames)
    app.connect("config-inited", leave_out_dead_launch_buttons)
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
        print(
            f"[{self.elapsed():6.0f} s] {self.step}: cell {cell_index + 1}/{self.cells}  {first_line}",
            file=self.out,
            flush=True,
        )

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
