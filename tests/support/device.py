"""Run real ``nic-edge serve`` processes for integration tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

TINY_MANUAL = """\
SECTION 1: FUEL SYSTEM

Para 1-1: Fuel Filter Replacement
Close the fuel valve before removing the filter. Unscrew the filter bowl by hand and replace the
element. Tighten the bowl until the gasket seats, then open the valve and check for leaks.

WARNING: Fuel vapour is explosive. Do not smoke or work near open flame.

Para 1-2: Carburetor Adjustment
Turn the idle mixture screw clockwise until the engine falters, then back it out one half turn.
Set the idle speed to 600 rpm with the throttle stop screw.

SECTION 2: BRAKES

Para 2-1: Brake Fluid Level
Check the brake fluid reservoir weekly. The level must be between the MIN and MAX marks. Use only
DOT 3 brake fluid from a sealed container.
"""


def toml_value(v: Any) -> str:
    return "true" if v is True else "false" if v is False else json.dumps(v)


def write_toml(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            module: str = "nic_edge") -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=e, timeout=timeout)


def prepare_data_dir(data: Path, manual_dir: Path) -> None:
    """Index a tiny manual so ``serve`` starts fast (no sample manual to embed)."""
    manual_dir.mkdir(parents=True, exist_ok=True)
    m = manual_dir / "tiny_manual.txt"
    m.write_text(TINY_MANUAL)
    r = run_cli("index", str(m), "--data-dir", str(data), "--quiet")
    assert r.returncode == 0, r.stderr


class DeviceServer:
    """``python -m nic_edge serve`` on a free port; ``url`` is parsed from its first line."""

    def __init__(self, config: Path, data: Path, env: dict[str, str] | None = None) -> None:
        self.config, self.data = config, data
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), NIC_EDGE_TIER="")
        self.env.update(env or {})
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log: list[str] = []

    def start(self, timeout: float = 60.0) -> "DeviceServer":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nic_edge", "serve", "--config", str(self.config),
             "--data-dir", str(self.data), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("serve exited:\n" + "".join(self.log))
            self.log.append(line)
            m = re.search(r"serving on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                threading.Thread(target=self._drain, daemon=True).start()
                self.wait_healthy(deadline - time.monotonic())
                return self
        raise RuntimeError("serve did not start:\n" + "".join(self.log))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + max(1.0, timeout)
        while time.monotonic() < deadline:
            try:
                if self.get("/healthz")["status"] in ("ok", "degraded"):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("device never became healthy:\n" + "".join(self.log))

    def wait_for(self, pred: Any, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.get("/api/status")
            if pred(last):
                return last
            time.sleep(0.2)
        raise AssertionError(f"condition not met; last status: {json.dumps(last)[:2000]}")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        return rc
