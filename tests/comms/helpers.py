"""Helpers for the comms tests: device configs and the device subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from tests.support.broker import Broker, Message

DEVICE_PROC = Path(__file__).with_name("device_proc.py")


def toml_value(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")


def write_config(path: Path, broker: Broker, device: str = "dev-a", **mqtt: Any) -> Path:
    settings = {"topic_prefix": "nic", "reconnect_max_s": 1.0, **broker.client_settings(), **mqtt}
    lines = ["[device]", f"id = {toml_value(device)}", "[mqtt]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class DeviceProc:
    """tests/comms/device_proc.py in a subprocess; collects the seqs it reports on stdout."""

    def __init__(self, config: Path, data_dir: Path, interval: float = 0.2, alert_every: int = 0) -> None:
        self.args = [sys.executable, str(DEVICE_PROC), "--config", str(config), "--data-dir",
                     str(data_dir), "--interval", str(interval), "--alert-every", str(alert_every)]
        self.log = data_dir.parent / f"{data_dir.name}.stderr"
        self.produced: list[tuple[int, str]] = []
        self.ready = threading.Event()
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> "DeviceProc":
        self.ready.clear()
        err = open(self.log, "a")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=err, text=True)
        err.close()
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        if not self.ready.wait(20):
            raise RuntimeError("device process did not start: " + self.log.read_text())
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            if parts == ["ready"]:
                self.ready.set()
            elif len(parts) == 3 and parts[0] == "seq" and parts[1] != "None":
                self.produced.append((int(parts[1]), parts[2]))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(20)


def until(pred: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``pred()`` once it is truthy, polled every 50 ms for up to ``timeout`` s (else its last value)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    return pred()


def records(messages: list[Message], device: str = "dev-a") -> list[dict[str, Any]]:
    """Metrics and alert payloads from ``device``, in arrival order (parsed and validated)."""
    from nic_edge.comms import schema

    out = []
    for m in messages:
        if m.topic == schema.metrics_topic("nic", device):
            out.append(schema.parse_metrics(m.payload))
        elif m.topic == schema.alerts_topic("nic", device):
            out.append(schema.parse_alert(m.payload))
    return out


def dedup(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """First occurrence of each (device, seq), arrival order kept."""
    seen: set[tuple[str, int]] = set()
    out = []
    for r in recs:
        key = (r["device"], r["seq"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
