"""The main job: execute every chapter, then build the Jupyter Book site with warnings as errors.

    python -m tools.build               # execute all chapters, then build into _build/html
    python -m tools.build --no-execute  # build from the stored outputs only

The module is also a Sphinx extension of the build (`extra_extensions` in _config.yml): see `setup`.
"""
import argparse
import pathlib
import subprocess
import sys

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-execute", action="store_true", help="skip executing the chapters")
    args = parser.parse_args(argv)
    if not args.no_execute:
        for source in chapter_sources():
            print(f"executing {source.name}", flush=True)
            execute_chapter(source)
    index = build_site()
    print(f"\nThe site is built. Open {index} in a browser.")


if __name__ == "__main__":
    main()
