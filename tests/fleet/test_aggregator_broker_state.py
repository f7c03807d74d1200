"""``nic-aggregator`` with its broker down says so: a warning on stderr at start, and the
dashboard names the broker state instead of reading as an empty fleet ("0 / 0 online")."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def test_unreachable_broker_is_logged_and_shown(tmp_path: Path) -> None:
    port = _closed_port()
    cfg = tmp_path / "agg.toml"
    cfg.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nreconnect_max_s = 2\n\n'
                   f'[aggregator]\nrender_interval_s = 1\n')
    out = tmp_path / "out"
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "nic_edge.cli.aggregator", "--config", str(cfg), "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 30
            page = ""
            while time.monotonic() < deadline:
                page = (out / "index.html").read_text() if (out / "index.html").exists() else ""
                if "unreachable" in page and b"cannot connect to broker" in err.read_bytes():
                    break
                time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    log = err.read_text()
    assert f"cannot connect to broker 127.0.0.1:{port}" in log, log
    assert log.count("cannot connect to broker") == 1, "logged once per state change, not per retry"
    assert f"Broker 127.0.0.1:{port}: <b class=\"off\">unreachable</b>" in page
    assert "this is not an empty fleet" in page
    assert proc.returncode == 0
