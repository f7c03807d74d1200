"""Updater pieces without MQTT: announcement checks, resume after a kill, layout, health wait."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nic_edge.core import ed25519
from nic_edge.core.config import load_config
from nic_edge.core.release import FORMAT, sign_announcement
from nic_edge.updater.agent import UpdateAgent
from nic_edge.updater.health import wait_healthy
from nic_edge.updater.install import Layout
from tests.support.device import write_toml


@pytest.fixture
def agent(tmp_path: Path) -> tuple[UpdateAgent, Any]:
    key = tmp_path / "k"
    ed25519.generate(key)
    cfg = write_toml(tmp_path / "d.toml", {"device": {"id": "box-a"}, "mqtt": {"host": "127.0.0.1"},
                                           "fleet": {"signing_pub_file": "k.pub"},
                                           "software": {"prefix": "opt"}})
    a = UpdateAgent(load_config(cfg))
    (a.layout.venvs / "1.0.0").mkdir(parents=True)
    a.layout.work.mkdir(parents=True)
    a.layout.switch("1.0.0")
    return a, ed25519.load_private(key)


def _ann(key: Any, device: str = "box-a", **over: Any) -> bytes:
    body = {"version": "1.1.0", "url": "http://127.0.0.1:9/x.tar", "size": 10, "sha256": "a" * 64,
            "format": FORMAT, "allow_downgrade": False, "issued_at": time.time()}
    body.update(over)
    return json.dumps(sign_announcement(body, device, key)).encode()


@pytest.mark.parametrize("payload, reason", [
    (lambda k: b"{not json", "not JSON"),
    (lambda k: _ann(k, device="box-b"), "announcement signature does not verify"),
    (lambda k: _ann(k, issued_at=time.time() - 30 * 86400), "outside the accepted window"),
    (lambda k: _ann(k, format="other/1"), "format"),
    (lambda k: _ann(k, version="../../etc"), "invalid release version"),
    (lambda k: _ann(k, version="0.9.0"), "not newer than 1.0.0"),
])
def test_rejected_announcements_touch_nothing(agent: tuple[UpdateAgent, Any], payload: Any, reason: str) -> None:
    a, key = agent
    a.handle(payload(key))
    last = a._state()["last"]
    assert last["status"] == "rejected" and reason in last["reason"], last
    assert a.layout.current_version() == "1.0.0" and a._state()["phase"] == "idle"


def test_download_failure_reported_failed(agent: tuple[UpdateAgent, Any]) -> None:
    a, key = agent
    a.handle(_ann(key))  # nothing listens on port 9
    last = a._state()["last"]
    assert last["status"] == "failed" and "download of" in last["reason"]
    assert a.layout.current_version() == "1.0.0"
    a.handle(_ann(key))  # the same announcement again: not retried
    assert a._state()["last"]["ts"] == last["ts"]


def test_resume_after_kill_during_install(agent: tuple[UpdateAgent, Any]) -> None:
    a, _ = agent
    partial = a.layout.venv("1.1.0")
    (partial / "bin").mkdir(parents=True)
    a._save({"phase": "installing", "job": {"version": "1.1.0", "previous": "1.0.0", "sha256": "b" * 64}})
    a._resume()
    assert not partial.exists() and a.layout.current_version() == "1.0.0"
    last = a._state()["last"]
    assert last["status"] == "failed" and "interrupted" in last["reason"] and a._state()["phase"] == "idle"


def test_layout_switch_is_one_rename_and_prune_keeps_two(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    for v in ("1", "2", "3"):
        (lay.venvs / v).mkdir(parents=True)
    lay.switch("2")
    inode = os.lstat(lay.current).st_ino
    lay.switch("3")
    assert os.readlink(lay.current) == "venvs/3" and os.lstat(lay.current).st_ino != inode
    assert not (tmp_path / ".current.tmp").exists()
    assert lay.prune({"3", "2"}) == ["1"] and sorted(p.name for p in lay.venvs.iterdir()) == ["2", "3"]


class _Box:
    def __init__(self, version: str) -> None:
        box = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = {"/healthz": {"status": "ok"}, "/api/status": {"version": box.version}}[self.path]
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a: Any) -> None:
                pass

        self.version = version
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


def test_health_wait_outcomes() -> None:
    box = _Box("2.0")
    stop = threading.Event()
    t0 = time.time()
    ok, _ = wait_healthy(box.url, "2.0", lambda t: True, lambda: None, 3, 5, t0, stop, 0.05)
    assert ok
    ok, reason = wait_healthy(box.url, "2.0", lambda t: False, lambda: None, 3, 0.5, time.time(), stop, 0.05)
    assert not ok and "MQTT status not online" in reason
    ok, reason = wait_healthy(box.url, "3.0", lambda t: True, lambda: None, 3, 0.5, time.time(), stop, 0.05)
    assert not ok and "reports version '2.0'" in reason
    counts = iter([0, 1, 2, 3, 4, 5])
    ok, reason = wait_healthy("http://127.0.0.1:9", "2.0", lambda t: True, lambda: next(counts), 3, 30, time.time(),
                              stop, 0.01)
    assert not ok and reason.startswith("crash loop")
    box.srv.shutdown()


def test_downgrade_only_when_the_push_allows_it(agent: tuple[UpdateAgent, Any]) -> None:
    a, key = agent
    a.handle(_ann(key, version="0.9.0", allow_downgrade=True, sha256="c" * 64))
    last = a._state()["last"]
    assert last["version"] == "0.9.0" and last["status"] == "failed" and "download of" in last["reason"]


@pytest.mark.parametrize("healthy", [True, False])
def test_resume_after_kill_past_the_switch(tmp_path: Path, healthy: bool) -> None:
    box = _Box("1.1.0" if healthy else "1.0.0")  # unhealthy: the new version never shows up
    key = tmp_path / "k"
    ed25519.generate(key)
    cfg = write_toml(tmp_path / "d.toml", {"device": {"id": "box-a"}, "mqtt": {"host": "127.0.0.1"},
                                           "fleet": {"signing_pub_file": "k.pub"},
                                           "software": {"prefix": "opt", "health_url": box.url, "health_deadline_s": 1,
                                                        "restart_command": "true", "restarts_command": "echo 0"}})
    a = UpdateAgent(load_config(cfg))
    for v in ("1.0.0", "1.1.0"):
        (a.layout.venvs / v).mkdir(parents=True)
    a.layout.work.mkdir(parents=True)
    a.layout.switch("1.1.0")
    a._save({"phase": "switched", "job": {"version": "1.1.0", "previous": "1.0.0", "sha256": "d" * 64,
                                          "switched_at": time.time()}})
    a._online_at = time.time() + 1
    a._resume()
    last = a._state()["last"]
    if healthy:
        assert last["status"] == "applied" and a.layout.current_version() == "1.1.0"
        assert sorted(p.name for p in a.layout.venvs.iterdir()) == ["1.0.0", "1.1.0"]
    else:
        assert last["status"] == "rolled_back" and "not healthy within 1 s" in last["reason"]
        assert a.layout.current_version() == "1.0.0" and not a.layout.venv("1.1.0").exists()
    assert a._state()["phase"] == "idle"
    box.srv.shutdown()
