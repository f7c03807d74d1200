"""A full disk (issue 22): answers survive failing audit/cache/outbox writes; indexing says why.

The audit log is pointed at ``/dev/full`` (every write fails with a real ENOSPC from the kernel);
as root, a small tmpfs is filled for real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from nic_edge.app.device import DeviceApp
from nic_edge.core.config import HttpConfig, parse_config
from nic_edge.http.server import HttpService
from tests.http.client import request
from tests.support.device import TINY_MANUAL, run_cli
from tests.support.tmpfs import audit_on_dev_full, fill, tmpfs

QUESTION = "How do I replace the fuel filter?"


@pytest.fixture
def full_audit_app(tmp_path: Path) -> Iterator[DeviceApp]:
    data = audit_on_dev_full(tmp_path / "data")  # every audit write: ENOSPC
    manual = tmp_path / "tiny_manual.txt"
    manual.write_text(TINY_MANUAL)
    app = DeviceApp(parse_config({"device": {"id": "disk-test", "tier": "lite"}}), data, use_embedder=False)
    app.engine.index_paths([manual])
    app.started = True
    yield app
    app.close()


def test_answers_survive_a_failing_audit_log_over_http(full_audit_app: DeviceApp) -> None:
    app = full_audit_app
    svc = HttpService(app, HttpConfig(port=0))
    svc.start()
    try:
        before = request(svc.port, "GET", "/healthz").json()
        assert before["status"] == "ok"
        r = request(svc.port, "POST", "/api/ask", {"question": QUESTION})
        assert r.status == 200 and not r.json()["abstained"], r.body
        health = request(svc.port, "GET", "/healthz").json()
        assert health["status"] == "degraded" and "No space left" in health["storage"]["audit"]
        metrics = request(svc.port, "GET", "/metrics").text
        assert 'nic_edge_storage_write_failures_total{store="audit"} 1' in metrics
    finally:
        svc.stop()
    # the default rules raise an alert from the counter
    events = app.alert_evaluator.evaluate(app.metrics.alert_values())
    assert "storage_write_failing" in [e["rule"] for e in events if e["state"] == "firing"]


def test_failed_cache_and_outbox_writes_count_as_degraded(full_audit_app: DeviceApp) -> None:
    app = full_audit_app
    app.outbox_error = lambda: "outbox write failed: No space left on device"
    app.on_resources({"rss_bytes": 50 << 20})
    state, details = app.health()
    assert state == "degraded" and set(details["storage"]) == {"outbox"}
    assert app.writes.counts == {"outbox": 1}


def test_cli_ask_answers_on_a_full_tmpfs(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", "16m") as data:
        manual = tmp_path / "tiny_manual.txt"
        manual.write_text(TINY_MANUAL)
        r = run_cli("index", str(manual), "--data-dir", str(data), "--quiet")
        assert r.returncode == 0, r.stderr
        fill(data)
        r = run_cli("ask", QUESTION, "--json", "--data-dir", str(data))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["answer"]
        # indexing onto the full disk: refused up front, one line, with a hint
        other = tmp_path / "other_manual.txt"
        other.write_text(TINY_MANUAL.replace("fuel", "oil"))
        r = run_cli("index", str(other), "--data-dir", str(data), "--quiet")
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        lines = [l for l in lines if l.startswith("nic-edge")]  # (TFLite prints an INFO line)
        assert len(lines) == 1 and "free" in lines[0] and "hint" in lines[0].lower(), r.stderr
        assert "internal error" not in r.stderr
