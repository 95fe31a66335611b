"""Slider redraws in JupyterLab in a browser: from the key press on a slider to its new figure loaded.

    python -m benchmarks.sliders                       # every chapter with sliders
    python -m benchmarks.sliders 23_derivative_estimation

JupyterLab runs headless on a copy of the repository (tools/lab.py), each chapter is opened and run
all, and every slider of every `interactive_figure` cell, after the first draw, is moved by arrow
keys on its handle (real input events) through at least `MOVES` positions: right to its end, then
left. Each move is timed in the page from the keydown to the new figure image complete in the DOM.
A move to a combination of values the cell has not drawn yet is a redraw; one seen before is shown
from the live view's kept images. The row of a slider gives the median and worst redraw, and the
median of the moves back (when any). Rows replace those of the same chapters in report.json's
`sliders`, and report.md is rewritten. Speed is measured here, never asserted in a test.
"""

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.__main__ import HERE, main as render_report
from benchmarks.timing import busy_cpu_seconds
from tools import lab
from tools.chromium import CHROMIUM

MOVES = 6
SLIDER_CHAPTERS = sorted(
    source.stem for source in lab.CHAPTERS.glob("2*.md") if "interactive_figure(" in source.read_text()
)
CELL = f"{lab.NOTEBOOK}.content.widgets[%d].node"
# Resolves to the milliseconds from the next keydown to a new, complete figure image in cell %d: a new
# img element (each redraw replaces the output), even where the new figure looks like the old one.
ARM = """window.redraw = new Promise((resolve) => {
  const cell = %s, before = cell.querySelector(".widget-output img");
  let pressed;
  document.addEventListener("keydown", () => { pressed = performance.now(); }, {once: true, capture: true});
  const done = () => {
    const img = cell.querySelector(".widget-output img");
    if (pressed === undefined || !img || img === before) return;
    if (img.complete && img.naturalWidth > 0) { observer.disconnect(); resolve(performance.now() - pressed); }
    else img.addEventListener("load", done, {once: true});
  };
  const observer = new MutationObserver(done);
  observer.observe(cell, {subtree: true, childList: true, attributes: true});
}), true"""
HANDLE = "%s.querySelectorAll('.widget-slider')[%d].querySelector('.noUi-handle')"


def slider_cells(stem):
    """Indices of the code cells that build sliders (the notebook's cells as JupyterLab numbers them)."""
    cells = json.loads((lab.CHAPTERS / f"{stem}.ipynb").read_text())["cells"]
    return [index for index, cell in enumerate(cells) if "interactive_figure(" in "".join(cell["source"])]


async def readouts(chromium, cell):
    return await chromium.evaluate(
        f"Array.from({cell}.querySelectorAll('.widget-readout'), (r) => r.textContent).join('|')"
    )


async def move_slider(chromium, cell, slider, seen):
    """Times of `MOVES` (at least) key presses on one slider: (redraw seconds, seconds of moves back)."""
    handle = HANDLE % (cell, slider)
    redraws, back = [], []
    await chromium.evaluate(f"{handle}.focus() || true")
    key = "ArrowRight"
    while len(redraws) + len(back) < MOVES:
        position = await chromium.evaluate(
            f"[{handle}.getAttribute('aria-valuenow'), {handle}.getAttribute('aria-valuemax'), "
            f"{handle}.getAttribute('aria-valuemin')]"
        )
        if position[0] == position[1 if key == "ArrowRight" else 2]:
            if key == "ArrowLeft":
                break  # both ends reached: fewer positions than MOVES
            key = "ArrowLeft"
            continue
        await chromium.evaluate(ARM % cell)
        await lab.press_key(chromium, key)
        seconds = (
            await chromium.evaluate("Promise.race([window.redraw, new Promise((r) => setTimeout(() => r(-1), 60000))])")
            / 1000
        )
        assert seconds >= 0, f"no new figure within 60 s after {key} on slider {slider} of {cell}"
        shown = await readouts(chromium, cell)
        (back if shown in seen else redraws).append(seconds)
        seen.add(shown)
    return redraws, back


def own_cpu_seconds(processes):
    total = 0.0
    for process in processes:
        for member in [process, *process.children(recursive=True)]:
            try:
                times = member.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


async def measure_chapter(chromium, stem, processes):
    """One row per slider of `stem`'s slider cells."""
    await lab.open_by_double_click(chromium, f"{stem}.md")
    await lab.command(chromium, "notebook:run-all-cells")
    await lab.wait_for(chromium, lab.ALL_RUN, timeout=900, poll=1)
    rows = []
    for index in slider_cells(stem):
        cell = CELL % index
        await lab.wait_for(chromium, f"!!{cell}.querySelector('.widget-output img')?.complete", timeout=120)
        names = await chromium.evaluate(
            f"Array.from({cell}.querySelectorAll('.widget-slider .widget-label'), (l) => l.textContent)"
        )
        seen = {await readouts(chromium, cell)}
        for slider, name in enumerate(names):
            busy, ours, start = busy_cpu_seconds(), own_cpu_seconds(processes), time.perf_counter()
            redraws, back = await move_slider(chromium, cell, slider, seen)
            wall = time.perf_counter() - start
            others = (busy_cpu_seconds() - busy) - (own_cpu_seconds(processes) - ours)
            rows.append(
                {
                    "chapter": stem,
                    "slider": f"{name}, cell {index}",
                    "median_s": round(statistics.median(redraws), 2) if redraws else None,
                    "worst_s": round(max(redraws), 2) if redraws else None,
                    "redraws": len(redraws),
                    "moves_back_median_s": round(statistics.median(back), 3) if back else None,
                    "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "others_cpu_share": round(max(0.0, others) / (wall * os.cpu_count()), 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    await lab.close(chromium)
    return rows


def measure(stems):
    if CHROMIUM is None:
        sys.exit("Chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as folder, lab.lab_in_browser(Path(folder)) as (run, chromium, _, server):
        processes = [psutil.Process(), psutil.Process(server.pid), psutil.Process(chromium.process.pid)]
        return [row for stem in stems for row in run(measure_chapter(chromium, stem, processes))]


def main(argv=None):
    stems = (argv if argv is not None else sys.argv[1:]) or SLIDER_CHAPTERS
    unknown = [stem for stem in stems if stem not in SLIDER_CHAPTERS]
    if unknown:
        sys.exit(f"not a chapter with sliders: {unknown}; they are {SLIDER_CHAPTERS}")
    rows = measure(stems)
    path = HERE / "report.json"
    report = json.loads(path.read_text())
    report["sliders"] = [row for row in report.get("sliders", []) if row["chapter"] not in stems] + rows
    path.write_text(json.dumps(report, indent=2) + "\n")
    render_report(["--render"])


if __name__ == "__main__":
    main()
