"""The built site: a warning-free build, then every page in a real browser, offline.

Headless Chromium (Debian's `chromium` package) opens each page of the table of contents from
disk in a 1,400 x 1,000 window, driven over the DevTools protocol. A page passes if it raises no
JavaScript error, logs no error, asks for no file that is missing and for nothing off the machine,
and nothing on it scrolls sideways, at 1,400 px or at 320 px; axe-core (vendored in assets/axe-core)
finds no WCAG 2.0 or 2.1 A or AA violation in light or dark mode; every link leads to a file that
exists (and an anchor on it), and none to the placeholder repository. On a chapter, moving each static
slider must show another figure, and each slider must reach both ends of the live slider's range.
Without a browser: every table is a <table>, every image has an alt text that says what it shows,
every static figure is made legible for the column, frames are drawn at `lib.notebook.widgets.DPI`, and a
chapter page is at most 1 MB. The browser tests skip only where Chromium is not installed. One build
of the site serves every test here.
"""

import asyncio
import base64
import html
import io
import json
import logging
import pathlib
import re
import time
import urllib.parse

import nbclient
import nbformat
import pytest
import yaml
from PIL import Image

from lib.notebook import widgets as lib_widgets
from lib.notebook.plotting import COLUMN_PX
from tools.build import PLACEHOLDER_REPOSITORY, ROOT, Progress, build_site, leave_out_dead_launch_buttons
from tools.chromium import CHROMIUM, NARROW_WINDOW, WINDOW, Chromium

PAGES = [entry["file"] for entry in [{"file": "intro"}] + yaml.safe_load((ROOT / "_toc.yml").read_text())["chapters"]]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MAX_PAGE_BYTES = 1_000_000  # a chapter's HTML with what it embeds: the shown frames, not the hidden ones
PLACEHOLDER = PLACEHOLDER_REPOSITORY in yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
AXE = (ROOT / "assets" / "axe-core" / "axe.min.js").read_text()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium); the browser tests of the site need it",
)

# Moves the first range input of every static slider to another value; reports what is shown once it
# has loaded (the site's build moved the hidden frames to files, fetched when a slider first moves).
MOVE_SLIDERS = """Promise.all(Array.from(document.querySelectorAll(".interactive-figure")).map(async (figure) => {
  const shown = () => Array.from(figure.querySelectorAll("img[data-key]")).filter((img) => getComputedStyle(img).display !== "none");
  const input = figure.querySelector("input[type=range]");
  const before = shown(), readout = input.nextElementSibling.textContent;
  const inline = figure.querySelectorAll("img[src]").length;
  input.value = input.value === input.max ? input.min : input.max;
  input.dispatchEvent(new Event("input"));
  const after = shown();
  await Promise.all(after.map((img) => img.decode().catch(() => null)));
  return {shown_before: before.length, shown_after: after.length, inline_before_a_move: inline,
          changed: before.length === 1 && after.length === 1 && before[0].src !== after[0].src,
          drawn: after.every((img) => img.complete && img.naturalWidth > 100),
          readout_changed: input.nextElementSibling.textContent !== readout,
          announced: input.getAttribute("aria-valuetext") === input.nextElementSibling.textContent};
}))"""


# Elements of the article that scroll sideways, or stick out of it, in the current window.
SIDEWAYS = """(() => {
  const article = document.querySelector("article.bd-article"), right = article.getBoundingClientRect().right;
  const describe = (element, hidden) => `${element.tagName.toLowerCase()}.${element.className} (${hidden} px): ` +
    element.textContent.trim().replace(/\\s+/g, " ").slice(0, 100);
  const found = [];
  for (const element of article.querySelectorAll("*")) {
    const overflow = getComputedStyle(element).overflowX, box = element.getBoundingClientRect();
    if ((overflow === "auto" || overflow === "scroll") && element.scrollWidth > element.clientWidth + 1) {
      found.push("scrolls " + describe(element, element.scrollWidth - element.clientWidth));
    } else if (box.width > 0 && box.right > right + 1 && !element.closest("pre, mjx-container, table")) {
      found.push("sticks out " + describe(element, Math.round(box.right - right)));
    }
  }
  return {page_width: document.documentElement.scrollWidth, found: found};
})()"""

# For every static slider: the readouts at both ends of each range input, and how its controls sit.
SLIDER_ENDS = """Array.from(document.querySelectorAll(".interactive-figure")).map((figure) => {
  const inputs = Array.from(figure.querySelectorAll("input[type=range]"));
  const ends = inputs.map((input) => [input.min, input.max].map((end) => {
    input.value = end;
    input.dispatchEvent(new Event("input"));
    const shown = Array.from(figure.querySelectorAll("img[data-key]")).filter((img) => getComputedStyle(img).display !== "none");
    return shown.length === 1 ? input.nextElementSibling.textContent : `${shown.length} figures shown`;
  }));
  const rows = new Set(inputs.map((input) => Math.round(input.getBoundingClientRect().top)));
  return {ends: ends, most_in_a_row: Math.max(...Array.from(rows, (top) =>
            inputs.filter((input) => Math.round(input.getBoundingClientRect().top) === top).length)),
          narrowest_track: Math.min(...inputs.map((input) => input.getBoundingClientRect().width))};
})"""

# The frame shown by each static slider: its own width, its width on the page, and the column's.
FRAME_SIZES = """Array.from(document.querySelectorAll(".interactive-figure")).map((figure) => {
  const img = Array.from(figure.querySelectorAll("img[data-key]")).find((img) => getComputedStyle(img).display !== "none");
  return {natural: img.naturalWidth, shown: img.getBoundingClientRect().width, column: figure.getBoundingClientRect().width};
})"""

# In dark mode, the colours behind each static slider up to the article, and the gap a focus ring leaves.
DARK_SLIDERS = """(() => {
  document.documentElement.dataset.theme = "dark";
  return Array.from(document.querySelectorAll(".interactive-figure")).map((figure) => {
    const backgrounds = [];
    for (let element = figure; !element.matches("article"); element = element.parentElement) {
      backgrounds.push(getComputedStyle(element).backgroundColor);
    }
    const input = figure.querySelector("input[type=range]");
    input.focus();
    const style = getComputedStyle(input);
    const ring = input.getBoundingClientRect().right + parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset);
    return {backgrounds: backgrounds, readout_clear_of_ring: input.nextElementSibling.getBoundingClientRect().left - ring};
  });
})()"""


def test_the_main_job_reports_each_code_cell_and_ends_with_a_table_of_step_times():
    out = io.StringIO()
    progress = Progress(out)
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# a title"), nbformat.v4.new_code_cell("import time\ntime.sleep(0.3)")]
    )
    progress.begin("tiny_chapter", cells=len(notebook.cells))
    nbclient.NotebookClient(notebook, kernel_name="python3", on_cell_execute=progress.cell).execute()
    progress.end()
    progress.table()
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\[\s*\d+ s\] tiny_chapter: cell 2/2  import time", lines[1]), lines
    assert not any("cell 1/2" in line for line in lines), "a markdown cell is not executed"
    row = next(line for line in lines if line.startswith("tiny_chapter "))
    assert 0.3 <= float(row.split()[-1]) <= float(lines[-1].split()[-1])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    started = time.perf_counter()
    html = build_site(tmp_path_factory.mktemp("site")).parent
    print(f"site built in {time.perf_counter() - started:.0f} s")
    return html


def test_site_builds_without_warnings_and_loads_nothing_from_a_cdn(site):
    pages = [site / f"{page}.html" for page in PAGES]
    assert all(page.exists() for page in pages)
    for page in pages:
        text = page.read_text()
        assert "cdn.jsdelivr.net" not in text and "cdnjs.cloudflare.com" not in text, page.name
        assert "embed-amd.js" not in text, f"{page.name} loads a widget manager, but it shows no widget view"


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("chapters/")])
def test_chapter_pages_show_static_sliders_and_offer_the_notebook(site, page):
    text = (site / f"{page}.html").read_text()
    notebook = json.loads((ROOT / f"{page}.ipynb").read_text())
    sliders = sum(
        WIDGET_VIEW in output.get("data", {}) for cell in notebook["cells"] for output in cell.get("outputs", [])
    )
    static = text.count('<div class="interactive-figure">')
    assert static == sliders, (
        f"{static} static sliders for {sliders} widget outputs: "
        f"re-execute the chapter (python -m tools.execute {page.split('/')[1]})"
    )
    assert WIDGET_VIEW not in text, "the site shows a widget view, which is dead without a kernel"
    assert (site / "_sources" / f"{page}.ipynb").exists(), "the download button's notebook is missing"
    for launcher in ("https://mybinder.org/v2/gh/", "https://colab.research.google.com/github/"):
        # a launch button to the placeholder repository opens a page that does not exist
        assert (launcher in text) != PLACEHOLDER, (
            f"{launcher} launch button {'to the placeholder' if PLACEHOLDER else 'missing'}"
        )


def test_the_build_leaves_out_launch_buttons_while_the_repository_is_the_placeholder(caplog):
    caplog.set_level(logging.INFO)

    def config(url):
        return type(
            "Config",
            (),
            {
                "html_theme_options": {
                    "repository_url": url,
                    "launch_buttons": {"binderhub_url": "https://mybinder.org"},
                }
            },
        )

    placeholder, real = config(f"https://github.com/{PLACEHOLDER_REPOSITORY}/x"), config("https://github.com/someone/x")
    leave_out_dead_launch_buttons(None, placeholder)
    assert placeholder.html_theme_options["launch_buttons"] == {}
    assert "Launch buttons left out" in caplog.text, "the build says why the buttons are missing"
    leave_out_dead_launch_buttons(None, real)
    assert real.html_theme_options["launch_buttons"] == {"binderhub_url": "https://mybinder.org"}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    loop = asyncio.new_event_loop()
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        loop.run_until_complete(chromium.connect())
        yield lambda coroutine: loop.run_until_complete(coroutine), chromium
    finally:
        chromium.close()
        loop.close()


def problems(events):
    """JavaScript errors, logged errors, failed loads and requests that leave the machine."""
    found = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(f"JavaScript error: {params['exceptionDetails'].get('exception', {}).get('description')}")
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            found.append(f"console.error: {[arg.get('value', arg.get('description')) for arg in params['args']]}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            found.append(f"logged error: {params['entry']['text']} {params['entry'].get('url', '')}")
        elif method == "Network.loadingFailed":
            found.append(f"failed to load: {params['errorText']} ({params.get('type')})")
        elif method == "Network.requestWillBeSent" and not params["request"]["url"].startswith(
            ("file:", "data:", "about:")
        ):
            found.append(f"request off the machine: {params['request']['url'][:120]}")
    return found


@needs_chromium
@pytest.mark.parametrize("page", PAGES)
def test_page_loads_offline_without_errors_and_its_sliders_switch_figures(site, browser, page):
    run, chromium = browser
    found = problems(run(chromium.open((site / f"{page}.html").as_uri())))
    assert not found
    moves = run(chromium.evaluate(MOVE_SLIDERS))
    for move in moves:
        assert move == {
            "shown_before": 1,
            "shown_after": 1,
            "inline_before_a_move": 1,
            "changed": True,
            "drawn": True,
            "readout_changed": True,
            "announced": True,
        }
    found = problems(chromium.events)
    assert not found


SLIDER_MODELS = {"IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "SelectionSliderModel", "DropdownModel"}
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.MULTILINE)


def page_source(page):
    """The text the page is built from: the notebook (with its outputs) of a chapter, else the .md."""
    notebook = ROOT / f"{page}.ipynb"
    return notebook.read_text() if notebook.exists() else (ROOT / f"{page}.md").read_text()


def markdown_tables(page):
    """Markdown tables in the page's source: in its text cells and, for a notebook, its markdown outputs."""
    text = page_source(page)
    if not text.lstrip().startswith("{"):
        return len(TABLE_RULE.findall(text))
    notebook = json.loads(text)
    markdown = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"]
    markdown += [
        "".join(output["data"]["text/markdown"])
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if "text/markdown" in output.get("data", {})
    ]
    return sum(len(TABLE_RULE.findall(block)) for block in markdown)


def slider_end_labels(page):
    """For each slider cell of a chapter, in order: the readouts of its live sliders' two ends."""
    notebook = json.loads((ROOT / f"{page}.ipynb").read_text())
    state = (
        notebook.get("metadata", {})
        .get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )

    def sliders(model_id):
        model = state[model_id.removeprefix("IPY_MODEL_")]
        if model["model_name"] in SLIDER_MODELS:
            return [model["state"]]
        return [slider for child in model["state"].get("children", []) for slider in sliders(child)]

    ends = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in output.get("data", {}):
                ends.append([end_labels(slider) for slider in sliders(output["data"][WIDGET_VIEW]["model_id"])])
    return ends


def end_labels(slider):
    """The readouts of a live slider at its two ends, as ipywidgets formats them."""
    if "_options_labels" in slider:
        return [slider["_options_labels"][0], slider["_options_labels"][-1]]
    ends = [slider["min"], slider["max"]]
    if "base" in slider:  # FloatLogSlider: min and max are exponents
        ends = [slider["base"] ** end for end in ends]
    return [format(end, slider["readout_format"]) for end in ends]


@pytest.mark.parametrize("page", PAGES)
def test_every_markdown_table_renders_as_a_table(site, page):
    expected = markdown_tables(page)
    found = (site / f"{page}.html").read_text().count("<table")
    assert found >= expected, f"{expected} markdown tables in the source, {found} <table> on the page"


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("chapters/")])
def test_chapter_page_is_light_and_its_frames_are_drawn_at_the_static_dpi(site, page):
    text = (site / f"{page}.html").read_text()
    assert len(text.encode()) <= MAX_PAGE_BYTES, f"{len(text.encode()) / 1e6:.1f} MB of HTML"
    for figure in re.findall(r'<div class="interactive-figure">.*?</script></div>', text, re.DOTALL):
        inline = re.findall(r'src="data:image/png;base64,([^"]+)"', figure)
        assert len(inline) == 1, f"{len(inline)} frames in the page: only the shown one belongs there"
        files = [(site / page).parent / source for source in re.findall(r'data-src="([^"]+)"', figure)]
        for frame in [io.BytesIO(base64.b64decode(data)) for data in inline] + files:
            dpi = Image.open(frame).info.get("dpi")
            assert dpi == pytest.approx((lib_widgets.DPI, lib_widgets.DPI), abs=0.01), (
                f"a frame drawn at {dpi} dpi: re-execute the chapter (python -m tools.execute {page.split('/')[1]})"
            )


IMAGE = re.compile(r"<img\b[^>]*>")
VALUES_ONLY = re.compile(r"[^,=]+ = [^,]+(, [^,=]+ = [^,]+)*")


@pytest.mark.parametrize("page", PAGES)
def test_every_image_has_an_alt_text_that_says_what_it_shows(site, page):
    for image in IMAGE.findall((site / f"{page}.html").read_text()):
        alt = html.unescape((re.search(r'\balt="([^"]*)"', image) or [None, ""])[1])
        described = re.sub(r" Drawn for .*\.$", "", alt)  # a slider frame: the figure's alt, then its values
        assert described.strip(), f"no alt text: {image[:120]}"
        assert not re.search(r"\.(png|jpe?g|svg|gif)\b|_images/", described), f"a path for an alt text: {alt[:120]}"
        assert not VALUES_ONLY.fullmatch(described.strip()), f"only parameter values for an alt text: {alt[:120]}"
        assert len(described.split()) >= 8, f"too short to say what the figure shows: {alt!r}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("chapters/")])
def test_every_static_figure_is_made_legible_for_the_column(page):
    """A static figure wider than the column is shown scaled down: `lib.notebook.plotting.legible` keeps its text at 9 px."""
    notebook = json.loads((ROOT / f"{page}.ipynb").read_text())
    for cell in notebook["cells"]:
        static = any(
            "image/png" in output.get("data", {}) and WIDGET_VIEW not in output.get("data", {})
            for output in cell.get("outputs", [])
        )
        if static:
            source = "".join(cell["source"])
            assert re.search(r"^legible\(fig\)\n(.*tight_layout\(\)\n)?plt\.show\(\)$", source, re.MULTILINE), (
                f"a static figure not passed to legible(fig) when complete, before plt.show():\n{source[:300]}"
            )


@needs_chromium
@pytest.mark.parametrize("page", PAGES)
def test_nothing_on_the_page_scrolls_sideways_at_1400_px(site, browser, page):
    run, chromium = browser
    run(chromium.open((site / f"{page}.html").as_uri()))
    layout = run(chromium.evaluate(SIDEWAYS))
    assert layout["page_width"] <= WINDOW["width"] and not layout["found"], "\n".join(layout["found"])


@needs_chromium
@pytest.mark.parametrize("page", PAGES)
def test_at_320_px_the_page_does_not_scroll_sideways(site, browser, page):
    """WCAG 1.4.10 (reflow). Equations and tables may scroll inside themselves, as two-dimensional content."""
    run, chromium = browser
    run(chromium.resize(NARROW_WINDOW))
    try:
        run(chromium.open((site / f"{page}.html").as_uri()))
        layout = run(chromium.evaluate(SIDEWAYS))
    finally:
        run(chromium.resize(WINDOW))
    sticking_out = [found for found in layout["found"] if found.startswith("sticks out")]
    assert layout["page_width"] <= NARROW_WINDOW["width"] and not sticking_out, "\n".join(sticking_out)


# Once MathJax has typeset the page: its equations, and those a Tab key would stop at.
EQUATION_TAB_STOPS = """MathJax.startup.promise.then(() => {
  const equations = Array.from(document.querySelectorAll("mjx-container"));
  return {equations: equations.length, tab_stops: equations.filter((equation) => equation.tabIndex >= 0).length};
})"""


@needs_chromium
@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("chapters/")])
def test_equations_are_not_tab_stops(site, browser, page):
    """A keyboard reader tabs through links and controls; MathJax's default made each equation a stop too."""
    run, chromium = browser
    run(chromium.open((site / f"{page}.html").as_uri()))
    found = run(chromium.evaluate(EQUATION_TAB_STOPS))
    assert found["equations"] > 0 and found["tab_stops"] == 0, found


# axe-core's WCAG 2.0 and 2.1 rules, level A and AA: what a university's course material must meet.
RUN_AXE = """axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(
  (results) => results.violations.map((violation) => `${violation.id} (${violation.nodes.length} nodes): ` +
    violation.nodes.slice(0, 3).map((node) => node.target.join(" ") + " " + node.failureSummary).join("; ")))"""


@needs_chromium
@pytest.mark.parametrize("page", PAGES)
def test_axe_finds_no_wcag_a_or_aa_violation_in_light_or_dark_mode(site, browser, page):
    run, chromium = browser
    run(chromium.open((site / f"{page}.html").as_uri()))
    run(chromium.evaluate(f"{AXE}; true"))
    violations = []
    for mode in ("light", "dark"):
        run(chromium.evaluate(f'document.documentElement.dataset.theme = "{mode}"'))
        violations += [f"{mode} mode: {violation}" for violation in run(chromium.evaluate(RUN_AXE))]
    assert not violations, "\n".join(violations)


LINKS = """Array.from(document.querySelectorAll("a[href]"), (a) => a.href)"""


@needs_chromium
@pytest.mark.parametrize("page", PAGES)
def test_every_link_leads_to_a_page_that_exists(site, browser, page):
    """Links on the machine: the file and its anchor exist. Links off it (not fetched, the tests run offline)
    never point at the placeholder repository of _config.yml."""
    run, chromium = browser
    run(chromium.open((site / f"{page}.html").as_uri()))
    for link in run(chromium.evaluate(LINKS)):
        url = urllib.parse.urlsplit(link)
        if url.scheme != "file":
            assert url.scheme in ("http", "https", "mailto") and PLACEHOLDER_REPOSITORY not in link, link
            continue
        target = pathlib.Path(urllib.parse.unquote(url.path))
        assert target.exists(), f"{link}: no such file"
        if url.fragment and target.suffix == ".html":
            anchor = urllib.parse.unquote(url.fragment)
            assert f'id="{anchor}"' in target.read_text(), f"{link}: no such anchor"


@needs_chromium
@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("chapters/")])
def test_static_sliders_reach_both_ends_three_to_a_row_and_show_legible_frames(site, browser, page):
    run, chromium = browser
    run(chromium.open((site / f"{page}.html").as_uri()))
    frames = run(chromium.evaluate(FRAME_SIZES))
    for frame in frames:
        # lib.notebook.plotting.legible sizes the frames' text for this column: a narrower one would shrink it below legible
        assert frame["column"] >= COLUMN_PX - 1, frame
        assert frame["shown"] == pytest.approx(min(frame["natural"], frame["column"]), abs=1), frame
    sliders = run(chromium.evaluate(SLIDER_ENDS))
    assert [slider["ends"] for slider in sliders] == slider_end_labels(page)
    for slider in sliders:
        assert (
            slider["most_in_a_row"] <= lib_widgets.SLIDERS_PER_ROW
            and slider["narrowest_track"] >= lib_widgets.MIN_TRACK_PX
        )


@needs_chromium
@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("chapters/")])
def test_in_dark_mode_static_sliders_sit_on_the_dark_page_and_the_focus_ring_hides_no_digit(site, browser, page):
    run, chromium = browser
    run(chromium.open((site / f"{page}.html").as_uri()))
    for slider in run(chromium.evaluate(DARK_SLIDERS)):
        for colour in slider["backgrounds"]:
            red, green, blue, *alpha = map(float, re.findall(r"[\d.]+", colour))
            assert (alpha and alpha[0] == 0) or (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255 < 0.3, slider
        assert slider["readout_clear_of_ring"] >= 0, slider
