"""Helpers for the aggregator tests: simulator import, webhook receiver, process wrappers."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "tools" / "device_sim.py"


def load_sim() -> Any:
    spec = importlib.util.spec_from_file_location("device_sim", SIM)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 recording every POST (headers + raw body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.cond:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    outer.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, pred: Any, timeout: float = 15.0) -> bool:
        import time
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.2))
            return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SimProc:
    """tools/device_sim.py as a subprocess with a Last Will, driven over stdin."""

    def __init__(self, broker: Any, device: str, tier: str = "lite", interval: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SIM), "--host", broker.host, "--port", str(broker.port), "--device", device,
             "--tier", tier, "--interval", str(interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.wait_line(lambda l: l == "ready", 20), f"simulator {device} did not start: {self.lines}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.strip())
                self.cond.notify_all()

    def wait_line(self, pred: Any, timeout: float = 10.0, start: int = 0) -> bool:
        import time
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(pred(l) for l in self.lines[start:]):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.2))
            return True

    def send(self, cmd: str, expect: str | None = None) -> None:
        assert self.proc.stdin is not None
        n = len(self.lines)
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        if expect:
            assert self.wait_line(lambda l: l.endswith(expect), 10, start=n), self.lines[-5:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired, AssertionError):
                self.proc.kill()
                self.proc.wait(5)


def write_agg_config(path: Path, broker: Any, out: Path, **agg: Any) -> Path:
    mqtt = {"host": broker.host, "port": broker.port, "topic_prefix": "nic", "reconnect_max_s": 1.0}
    mqtt.update(agg.pop("mqtt", {}))
    lines = ["[mqtt]"] + [f"{k} = {json.dumps(v)}" for k, v in mqtt.items()]
    lines += ["[aggregator]", f"out_dir = {json.dumps(str(out))}"]
    lines += [f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}" for k, v in agg.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_aggregator(config: Path, log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nic_edge.cli.aggregator", "--config", str(config), "-v", *extra],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))


class Clock:
    """A settable clock for FleetState tests."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def wait_json(path: Path, pred: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
    """Poll a rendered fleet.json until ``pred`` holds."""
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            doc = json.loads(path.read_text())
            if pred(doc):
                return doc
        except (OSError, ValueError):
            pass  # not rendered yet
        time.sleep(0.1)
    raise AssertionError(f"condition not met; last fleet.json: {json.dumps(doc)[:2000]}")
