"""The built site: a warning-free build, then every page in a real browser, offline.

Headless Chromium (Debian's `chromium` package) opens each page of the table of contents from
disk, driven over the DevTools protocol. A page passes if it raises no JavaScript error, logs no
error, asks for no file that is missing and for nothing off the machine; on a chapter, moving
each static slider must show another figure. The browser tests skip only where Chromium is not
installed. One build of the site serves every test here.
"""
import asyncio
import itertools
import json
import pathlib
import shutil
import subprocess
import time

import pytest
import yaml
from tornado.websocket import websocket_connect

from tools.build import ROOT, build_site

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = [entry["file"] for entry in [{"file": "intro"}] + yaml.safe_load((ROOT / "_toc.yml").read_text())["chapters"]]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium); "
                                                             "the browser tests of the site need it")

# Moves the first range input of every static slider to another value; reports what is shown.
MOVE_SLIDERS = """Array.from(document.querySelectorAll(".interactive-figure")).map((figure) => {
  const shown = () => Array.from(figure.querySelectorAll("img[data-key]")).filter((img) => getComputedStyle(img).display !== "none");
  const input = figure.querySelector("input[type=range]");
  const before = shown(), readout = input.nextElementSibling.textContent;
  input.value = input.value === input.max ? input.min : input.max;
  input.dispatchEvent(new Event("input"));
  const after = shown();
  return {shown_before: before.length, shown_after: after.length,
          changed: before.length === 1 && after.length === 1 && before[0].src !== after[0].src,
          drawn: after.every((img) => img.complete && img.naturalWidth > 100),
          readout_changed: input.nextElementSibling.textContent !== readout};
})"""


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
    sliders = sum(WIDGET_VIEW in output.get("data", {}) for cell in notebook["cells"] for output in cell.get("outputs", []))
    static = text.count('<div class="interactive-figure">')
    assert static == sliders, (f"{static} static sliders for {sliders} widget outputs: "
                               f"re-execute the chapter (python -m tools.execute {page.split('/')[1]})")
    assert WIDGET_VIEW not in text, "the site shows a widget view, which is dead without a kernel"
    assert (site / "_sources" / f"{page}.ipynb").exists(), "the download button's notebook is missing"
    for launcher in ("https://mybinder.org/v2/gh/", "https://colab.research.google.com/github/"):
        assert launcher in text, f"no {launcher} launch button"


class Chromium:
    """One headless Chromium, one tab, driven over the DevTools protocol (JSON over a websocket)."""

    def __init__(self, profile):
        self.process = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                         "--remote-debugging-port=0", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port_file, self.ids, self.events = pathlib.Path(profile) / "DevToolsActivePort", itertools.count(), []

    async def connect(self, timeout=30):
        deadline = time.monotonic() + timeout
        while not self.port_file.exists() or len(self.port_file.read_text().split()) < 2:
            assert time.monotonic() < deadline and self.process.poll() is None, "Chromium did not start"
            await asyncio.sleep(0.1)
        port, path = self.port_file.read_text().split()[:2]
        self.socket = await websocket_connect(f"ws://127.0.0.1:{port}{path}", max_message_size=1 << 30)
        target = await self.send("Target.createTarget", url="about:blank")
        self.session = (await self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True))["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable", session=True)

    async def send(self, method, session=False, **params):
        """Send one command; collect the events that arrive before its answer."""
        message = {"id": next(self.ids), "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        await self.socket.write_message(json.dumps(message))
        while True:
            reply = await self.next_message()
            if reply.get("id") == message["id"]:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    async def next_message(self):
        text = await asyncio.wait_for(self.socket.read_message(), 60)
        assert text is not None, "Chromium closed the connection"
        message = json.loads(text)
        if "method" in message:
            self.events.append(message)
        return message

    async def open(self, url):
        """Load `url`, wait for its load event and a moment for its scripts; return the page's events."""
        self.events = []
        await self.send("Page.navigate", session=True, url=url)
        while not any(event["method"] == "Page.loadEventFired" for event in self.events):
            await self.next_message()
        await self.evaluate("new Promise((done) => setTimeout(done, 1000))")
        return self.events

    async def evaluate(self, expression):
        result = await self.send("Runtime.evaluate", session=True, expression=expression, awaitPromise=True,
                                 returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=30)


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
        elif method == "Network.requestWillBeSent" and not params["request"]["url"].startswith(("file:", "data:", "about:")):
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
        assert move == {"shown_before": 1, "shown_after": 1, "changed": True, "drawn": True, "readout_changed": True}
    found = problems(chromium.events)
    assert not found
