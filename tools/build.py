"""The main job: execute every chapter, then build the Jupyter Book site with warnings as errors.

    python -m tools.build               # execute all chapters, then build into _build/html
    python -m tools.build --no-execute  # build from the stored outputs only
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
