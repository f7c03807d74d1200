"""A real headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
fd 3 carries commands in, fd 4 answers out, JSON messages ended by NUL). No websocket client,
no network port, stdlib only.

Used by the page and dashboard layout tests and by tools/screenshots.py: device-metrics
emulation gives a true 360 px phone viewport (a desktop headless window cannot be narrower than
500 px), ``Runtime.evaluate`` measures the rendered layout, ``Page.captureScreenshot`` writes
PNGs. The pages under test contain no script; the test drives them from outside.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio"]

# What the layout tests ask of a page: widths, overflow, and each text's vertical position.
MEASURE = """(() => {
  const d = document.documentElement;
  const wide = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect(); return r.width > 0 && r.right > innerWidth + 1;
  }).map(e => e.tagName + (e.className ? '.' + e.className : '')).slice(0, 10);
  return {innerWidth, scrollWidth: d.scrollWidth, bodyScrollWidth: document.body.scrollWidth,
          height: d.scrollHeight, wide, scripts: document.scripts.length, title: document.title};
})()"""


def binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class ChromiumError(RuntimeError):
    pass


class Chromium:
    def __init__(self, exe: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="nic-chromium-")
        self._err = tempfile.TemporaryFile()  # a pipe could fill up and stall the browser
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()

        def child() -> None:  # runs in the child before exec: the protocol wants fds 3 and 4
            a, b = os.dup(cmd_r), os.dup(out_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
                                      "about:blank"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._err, close_fds=False, preexec_fn=child)
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    # -- protocol --------------------------------------------------------------------------
    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out_r], [], [], left)[0]:
                raise ChromiumError("no answer from chromium in time")
            chunk = os.read(self._out_r, 1 << 20)
            if not chunk:
                self._err.seek(0)
                raise ChromiumError("chromium exited: " + self._err.read().decode("utf-8", "replace")[-2000:])
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, session: bool = True, **params: Any) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise ChromiumError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    # -- pages -----------------------------------------------------------------------------
    def open(self, width: int, height: int = 800) -> None:
        target = self.send("Target.createTarget", session=False, url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", session=False, targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)

    def goto(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def submit_form(self, question: str) -> None:
        """Type into the ask box and submit the form as a person would (the page has no script)."""
        self.events.clear()
        self.eval(f"document.querySelector('input[name=question]').value = {json.dumps(question)};"
                  "document.querySelector('form').requestSubmit(); true")
        self.wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise ChromiumError(str(res["exceptionDetails"]))
        return res["result"].get("value")

    def measure(self) -> dict[str, Any]:
        return self.eval(MEASURE)

    def screenshot(self, path: Path) -> None:
        """The whole page (beyond the viewport) as PNG."""
        m = self.measure()
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": m["innerWidth"], "height": m["height"], "scale": 1})["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
        except (ChromiumError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._cmd_w, self._out_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._err.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """One browser per test module; skipped (with the reason) where chromium is not installed."""
    exe = binary()
    if exe is None:
        pytest.skip("chromium not installed (tools/test.sh installs it); browser layout tests skipped")
    with Chromium(exe) as c:
        yield c


def save_screenshot(c: Chromium, name: str) -> None:
    """Refresh docs/screenshots/<name> only when asked (NIC_EDGE_SCREENSHOTS=1: tools/screenshots.sh)."""
    if os.environ.get("NIC_EDGE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        c.screenshot(SHOTS / name)
