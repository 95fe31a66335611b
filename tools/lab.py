"""JupyterLab driven by headless Chromium: start it on a copy of the repository, open, run and close notebooks.

Used by tests/test_jupyterlab.py and benchmarks/sliders.py. `chromium` is tools/chromium.py's
`Chromium` (one tab over the DevTools protocol); running and saving use JupyterLab's own commands
(what its menus call), reached through `window.jupyterapp`.
"""

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from tools.chromium import Chromium
from tools.execute import CHAPTERS

ROOT = CHAPTERS.parent
COPIED = ["chapters", "lib", "tools", ".jupyter", "jupytext.toml"]
NOTEBOOK = "jupyterapp.shell.currentWidget"
DOUBLE_CLICK = """(() => {
  const item = Array.from(document.querySelectorAll(".jp-DirListing-item"))
    .find((item) => item.querySelector(".jp-DirListing-itemText").textContent === %s);
  item.dispatchEvent(new MouseEvent("dblclick", {bubbles: true}));
  return true;
})()"""
# The kernel is idle and every code cell has run.
ALL_RUN = f"""(() => {{
  const notebook = {NOTEBOOK};
  return notebook.sessionContext.session.kernel.status === "idle" && notebook.content.widgets.every(
    (cell) => cell.model.type !== "code" || (cell.model.executionCount !== null && !cell.node.classList.contains("jp-mod-running")));
}})()"""


def copy_repository(copy):
    for name in COPIED:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, copy / name)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_lab(copy, home):
    """`jupyter lab` serving `copy`, with Jupyter's user folders under `home`; returns (process, url)."""
    folders = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "settings",
        "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
    }
    environment = dict(
        os.environ,
        JUPYTER_CONFIG_PATH=str(copy / ".jupyter"),
        **{variable: str(home / folder) for variable, folder in folders.items()},
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--IdentityProvider.token=",
            "--LabApp.expose_app_in_browser=True",
            f"--ServerApp.root_dir={copy}",
        ],
        cwd=copy,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=5)
            return process, url
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "jupyter lab did not start"
            time.sleep(0.2)


@contextlib.contextmanager
def lab_in_browser(folder):
    """JupyterLab on a copy of the repository under `folder`, open on chapters/ in a headless Chromium.

    Yields (run, chromium, copy, server): `run` runs a coroutine on the browser's event loop, `copy` is
    the copied repository, `server` the `jupyter lab` process; all are closed on exit."""
    copy, home = folder / "repository", folder / "home"
    copy.mkdir(), home.mkdir()
    copy_repository(copy)
    server, url = start_lab(copy, home)
    chromium = Chromium(folder / "chromium-profile")
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    try:
        run(chromium.connect())
        run(chromium.open(f"{url}/lab/tree/chapters"))
        run(wait_for(chromium, "document.querySelectorAll('.jp-DirListing-itemText').length > 10"))
        yield run, chromium, copy, server
    finally:
        chromium.close()
        loop.close()
        server.terminate()
        server.wait(timeout=30)


async def wait_for(chromium, expression, timeout=60, poll=0.2):
    deadline = time.monotonic() + timeout
    while not await chromium.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        await asyncio.sleep(poll)


async def open_by_double_click(chromium, name):
    """Double-click `name` in chapters/, wait for its kernel; return the opened document's path and kind."""
    await chromium.evaluate(DOUBLE_CLICK % json.dumps(name))
    await wait_for(chromium, f"{NOTEBOOK}?.context?.path === 'chapters/{name}'")
    await wait_for(chromium, f"{NOTEBOOK}.sessionContext?.session?.kernel?.status === 'idle'")
    await asyncio.sleep(1)  # the widget manager restores stored widgets once the kernel is ready
    return await chromium.evaluate(f"[{NOTEBOOK}.context.path, {NOTEBOOK}.node.classList.contains('jp-NotebookPanel')]")


async def command(chromium, name):
    await chromium.evaluate(f"jupyterapp.commands.execute('{name}').then(() => true)")


async def close(chromium):
    """Close the current tab; return whether JupyterLab asked about unsaved changes (answered: discard)."""
    await command(chromium, "application:close")
    await asyncio.sleep(0.5)
    asked = await chromium.evaluate("!!document.querySelector('.jp-Dialog')")
    if asked:
        await chromium.evaluate(
            "Array.from(document.querySelectorAll('.jp-Dialog-button'))"
            ".find((button) => button.textContent.includes('Discard')).click() || true"
        )
    return asked


async def press_key(chromium, key, times=1):
    """Real key presses (DevTools input events) on the focused element: ArrowRight = key 39, ArrowLeft = 37."""
    virtual = {"ArrowRight": 39, "ArrowLeft": 37}[key]
    for _ in range(times):
        for kind in ("keyDown", "keyUp"):
            await chromium.send(
                "Input.dispatchKeyEvent", session=True, type=kind, key=key, code=key, windowsVirtualKeyCode=virtual
            )
