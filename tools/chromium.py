"""One headless Chromium tab driven over the DevTools protocol: the site's and JupyterLab's browser.

Used by tests/test_site.py (the built site), tests/test_jupyterlab.py and benchmarks/sliders.py
(JupyterLab, through tools/lab.py). `CHROMIUM` is None where Chromium is not installed.
"""

import asyncio
import itertools
import json
import pathlib
import shutil
import subprocess
import time

from tornado.websocket import websocket_connect

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WINDOW = {"width": 1400, "height": 1000}
NARROW_WINDOW = {"width": 320, "height": 640}  # a small phone: WCAG 1.4.10 reflows to 320 CSS px


class Chromium:
    """One headless Chromium, one tab, driven over the DevTools protocol (JSON over a websocket)."""

    def __init__(self, profile):
        self.process = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.port_file, self.ids, self.events = pathlib.Path(profile) / "DevToolsActivePort", itertools.count(), []

    async def connect(self, timeout=30):
        deadline = time.monotonic() + timeout
        while not self.port_file.exists() or len(self.port_file.read_text().split()) < 2:
            assert time.monotonic() < deadline and self.process.poll() is None, "Chromium did not start"
            await asyncio.sleep(0.1)
        port, path = self.port_file.read_text().split()[:2]
        self.socket = await websocket_connect(f"ws://127.0.0.1:{port}{path}", max_message_size=1 << 30)
        target = await self.send("Target.createTarget", url="about:blank")
        self.session = (await self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True))[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable", session=True)
        await self.resize(WINDOW)

    async def resize(self, window):
        """Lay the page out in a window of `window` ({"width", "height"} in CSS pixels)."""
        await self.send("Emulation.setDeviceMetricsOverride", session=True, deviceScaleFactor=1, mobile=False, **window)

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
        result = await self.send(
            "Runtime.evaluate", session=True, expression=expression, awaitPromise=True, returnByValue=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=30)
