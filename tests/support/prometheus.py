"""A real Prometheus server (Debian's prometheus 2.42) on a free loopback port, with the
remote-write receiver on and a temp storage dir. tools/test.sh puts the binary into the test
venv (extracted from the Debian package, not installed) when the system has none."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.broker import free_port, terminate


def find_prometheus() -> str | None:
    venv_bin = Path(sys.executable).parent / "prometheus"
    for cand in (shutil.which("prometheus"), str(venv_bin), "/usr/bin/prometheus"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


class Prometheus:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.write_url = self.base + "/api/v1/write"
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Prometheus":
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
             "--storage.tsdb.retention.time=1d"], stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.proc is not None, "start() first"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited: " + (self.dir / "prometheus.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready within {timeout}s")

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        q = {"query": promql} | ({"time": repr(at)} if at is not None else {})
        with urllib.request.urlopen(f"{self.base}/api/v1/query?{urllib.parse.urlencode(q)}", timeout=10) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def stop(self) -> None:
        if self.proc is None:
            return
        terminate(self.proc, 15)
        self.log.close()


@pytest.fixture
def prometheus_bin() -> str:
    found = find_prometheus()
    if found is None:
        pytest.skip("prometheus not found: run tools/test.sh (it extracts Debian's prometheus binary into "
                    "the test venv) or apt-get install prometheus")
    return found


@pytest.fixture
def prometheus_factory(prometheus_bin: str, tmp_path: Path) -> Iterator[Any]:
    started: list[Prometheus] = []

    def make() -> Prometheus:
        """A Prometheus with its port chosen; ``start()`` runs it."""
        p = Prometheus(prometheus_bin, tmp_path / f"prometheus{len(started)}")
        started.append(p)
        return p
    yield make
    for p in started:
        p.stop()
