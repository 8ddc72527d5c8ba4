"""Headless Chromium driven over the Chrome DevTools Protocol on a pipe (no WebDriver, no Python packages).

`render(page)` opens an HTML file, waits until every plot DVC put on it is drawn (or a timeout), and reports each
plot and every console error, uncaught exception and failed load the page logged. `page_text(url)` opens a page
(a web app's, say) and returns its visible text once it holds what is awaited.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# What root in a container needs to run Chromium headless, offline and without background traffic.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe")

# Every plot DVC writes is a <div id=...> directly in <body>: vega-embed draws a <canvas> (or <svg>) inside a
# chart's div; an image plot's div holds one <img> per revision, under a <p> naming the file. Null until the page
# has loaded: before that, later plots may not be parsed yet.
PLOTS_STATE = """
document.readyState !== 'complete' ? null : [...document.querySelectorAll('body > div[id]')].map(div => {
    const images = [...div.querySelectorAll('img')];
    const chart = div.querySelector('canvas, svg');
    return {
        id: div.id,
        kind: images.length ? 'image' : 'vega',
        title: images.length ? div.querySelector('p').textContent.trim() : div.id,
        images: images.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth, done: img.complete})),
        chart: chart ? {tag: chart.tagName.toLowerCase(), width: chart.clientWidth || chart.width || 0} : null,
    };
})
"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def skip_unless_installed(present: bool, reason: str) -> None:
    """Skip a test whose tool is missing, except in CI (CI=true, as .ci/run and most CI services set it), where
    .ci/run installs it: there, fail."""
    if not present:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{reason}: .ci/run must install it")
        pytest.skip(reason)


@dataclass
class Plot:
    id: str
    kind: str
    title: str
    images: list[dict[str, Any]]
    chart: dict[str, Any] | None

    @property
    def drawn(self) -> bool:
        if self.kind == "image":
            return bool(self.images) and all(i["done"] and i["width"] > 0 for i in self.images)
        return self.chart is not None and self.chart["width"] > 0


@dataclass
class PageReport:
    plots: list[Plot]
    errors: list[str] = field(default_factory=list)


class DevTools:
    """One Chromium process; `call` sends a CDP command and returns its result, keeping the events it reads."""

    def __init__(self, executable: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def attach_pipes() -> None:  # Chromium reads commands on fd 3 and writes replies and events on fd 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, preexec_fn=attach_pipes, pass_fds=(3, 4),
                                        start_new_session=True)  # its own process group, to end it whole
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        command = {"id": self.next_id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        os.write(self.to_browser, json.dumps(command).encode() + b"\0")
        while True:
            message = self._read_message()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.process.wait(timeout=10)
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            pass
        with contextlib.suppress(ProcessLookupError):  # renderers and helpers left behind, if any
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


def page_errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and failed loads among the DevTools events."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append("exception: " + details.get("exception", {}).get("description", details["text"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}".strip())
    return errors


def open_page(browser: DevTools, url: str) -> str:
    """A new tab that logs its console, errors and loads, at `url`: its DevTools session."""
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime", "Log", "Page"):
        browser.call(f"{domain}.enable", session)
    browser.call("Page.navigate", session, url=url)
    return session


def render(page: Path, executable: str, timeout: float = 60.0) -> PageReport:
    """Open `page` in headless Chromium and report its plots once all are drawn, or when `timeout` runs out."""
    browser = DevTools(executable)
    try:
        session = open_page(browser, page.resolve().as_uri())
        deadline = time.monotonic() + timeout
        while True:
            state = browser.call("Runtime.evaluate", session, expression=PLOTS_STATE, returnByValue=True)
            plots = [Plot(**p) for p in state["result"].get("value") or []]
            if (plots and all(p.drawn for p in plots)) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # let late errors (a rejected vegaEmbed promise, say) arrive
        browser.call("Runtime.evaluate", session, expression="0")  # and read the events they sent
        return PageReport(plots, page_errors([e for e in browser.events if e.get("sessionId") == session]))
    finally:
        browser.close()


def page_text(url: str, executable: str, awaited: list[str], timeout: float = 60.0) -> tuple[str, list[str]]:
    """The visible text of the page at `url` once it holds every string of `awaited` (or when `timeout` runs out),
    and the errors it logged."""
    browser = DevTools(executable)
    try:
        session = open_page(browser, url)
        deadline = time.monotonic() + timeout
        while True:
            state = browser.call("Runtime.evaluate", session, expression="document.body ? document.body.innerText "
                                 ": ''", returnByValue=True)
            text = state["result"].get("value") or ""
            if all(part in text for part in awaited) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return text, page_errors([e for e in browser.events if e.get("sessionId") == session])
    finally:
        browser.close()
