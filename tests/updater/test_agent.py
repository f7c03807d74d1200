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
from nic_edge.errors import ReleaseError
from nic_edge.updater.health import canonical_version, wait_healthy
from nic_edge.updater.install import Layout, download
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


def test_download_failure_reported_failed_and_retried_when_pushed_again(agent: tuple[UpdateAgent, Any]) -> None:
    a, key = agent
    payload = _ann(key)
    a.handle(payload)  # nothing listens on port 9
    last = a._state()["last"]
    assert last["status"] == "failed" and "download of" in last["reason"]
    assert a.layout.current_version() == "1.0.0"
    a.handle(payload)  # the same announcement again (retained, redelivered at a reconnect): not retried
    assert a._state()["last"]["ts"] == last["ts"]
    # The same bundle pushed again (a new announcement): a failure may have been temporary, so
    # it is tried again; `release build` gives the same bytes, so this is how an operator retries.
    a.handle(_ann(key, issued_at=time.time() + 1))
    again = a._state()["last"]
    assert again["ts"] > last["ts"] and again["status"] == "failed" and "download of" in again["reason"]


def test_resume_after_kill_during_install(agent: tuple[UpdateAgent, Any]) -> None:
    a, _ = agent
    partial = a.layout.venv("1.1.0")
    (partial / "bin").mkdir(parents=True)
    # What kill -9 leaves: the download, its .part, the unpacked wheels (one of them no signed
    # manifest lists) and a temp file of state.json.
    work = a.layout.work
    for name in ("release-0123456789abcdef.tar", "release-0123456789abcdef.tar.part", ".state.json.x1y2.tmp"):
        (work / name).write_bytes(b"partial")
    (work / "wheels-1.1.0").mkdir()
    (work / "wheels-1.1.0" / "nic_fake_dep-9.0-py3-none-any.whl").write_bytes(b"not in any manifest")
    a._save({"phase": "installing", "job": {"version": "1.1.0", "previous": "1.0.0", "sha256": "b" * 64}})
    a._resume()
    assert not partial.exists() and a.layout.current_version() == "1.0.0"
    last = a._state()["last"]
    assert last["status"] == "failed" and "interrupted" in last["reason"] and a._state()["phase"] == "idle"
    assert sorted(p.name for p in work.iterdir()) == ["state.json"]


def test_a_switch_without_a_version_in_state_json_is_reported_once(agent: tuple[UpdateAgent, Any]) -> None:
    a, _ = agent
    a._save({"phase": "switched", "job": {}})  # edited by hand: resuming would fail at every start
    a._resume()
    last = a._state()["last"]
    assert last["status"] == "failed" and "names no version" in last["reason"] and a._state()["phase"] == "idle"
    assert a.layout.current_version() == "1.0.0"


def test_leftovers_are_removed_at_start_when_idle(agent: tuple[UpdateAgent, Any]) -> None:
    a, _ = agent
    (a.layout.work / "wheels-1.1.0").mkdir()
    (a.layout.work / "release-0123456789abcdef.tar.part").write_bytes(b"partial")
    a._resume()
    assert list(a.layout.work.iterdir()) == []


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


def _switched(tmp_path: Path, box: _Box, job: dict[str, Any]) -> UpdateAgent:
    """An agent whose state.json says it switched to 1.1.0 (from 1.0.0) and was then killed."""
    cfg = write_toml(tmp_path / "d.toml", {"device": {"id": "box-a"}, "mqtt": {"host": "127.0.0.1"},
                                           "fleet": {"signing_pub_file": "k.pub"},
                                           "software": {"prefix": "opt", "health_url": box.url, "health_deadline_s": 1,
                                                        "restart_command": "true", "restarts_command": "echo 0"}})
    a = UpdateAgent(load_config(cfg))
    for v in ("1.0.0", "1.1.0"):
        (a.layout.venvs / v).mkdir(parents=True)
    a.layout.work.mkdir(parents=True)
    a.layout.switch("1.1.0")
    a._save({"phase": "switched", "job": dict({"version": "1.1.0", "previous": "1.0.0", "sha256": "d" * 64,
                                               "switched_at": time.time()}, **job)})
    a._online_at = time.time() + 1
    return a


@pytest.mark.parametrize("healthy", [True, False])
def test_resume_after_kill_past_the_switch(tmp_path: Path, healthy: bool) -> None:
    box = _Box("1.1.0" if healthy else "1.0.0")  # unhealthy: the new version never shows up
    ed25519.generate(tmp_path / "k")
    a = _switched(tmp_path, box, {})
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


def test_a_release_weeks_old_is_still_the_one_running(tmp_path: Path) -> None:
    """Restarted more than fleet.max_age_s after the push, the retained announcement of the
    running release is not rejected for its age (nor its digest forgotten)."""
    box = _Box("1.1.0")
    ed25519.generate(tmp_path / "k")
    key = ed25519.load_private(tmp_path / "k")
    weeks = time.time() - 30 * 86400
    pushed = _ann(key, sha256="d" * 64, issued_at=weeks)
    a = _switched(tmp_path, box, {"sig": json.loads(pushed)["sig"]})
    a._resume()
    applied = a._state()["last"]
    assert applied["status"] == "applied" and applied["sha256"] == "d" * 64
    a.handle(pushed)  # redelivered at the next start, weeks later: already answered
    assert a._state()["last"] == applied
    a.handle(_ann(key, sha256="d" * 64, issued_at=weeks + 60))  # pushed again long ago (a replay): its outcome
    last = a._state()["last"]
    assert (last["status"], last["reason"], last["sha256"]) == ("applied", "already applied", "d" * 64), last
    box.srv.shutdown()


def test_a_rolled_back_release_is_refused_after_other_pushes(tmp_path: Path) -> None:
    """A captured announcement of a release that was rolled back, replayed after another push,
    is not installed again (known bad); it says so without downloading anything."""
    box = _Box("1.0.0")  # 1.1.0 never becomes healthy
    ed25519.generate(tmp_path / "k")
    key = ed25519.load_private(tmp_path / "k")
    captured = _ann(key, sha256="d" * 64)
    a = _switched(tmp_path, box, {"sig": json.loads(captured)["sig"]})
    a._resume()
    assert a._state()["last"]["status"] == "rolled_back" and a.layout.current_version() == "1.0.0"
    for i in range(3):  # other pushes since (they fail to download: nothing listens on port 9)
        a.handle(_ann(key, version=f"1.0.{i + 1}", sha256=f"{i}" * 64))
        assert a._state()["last"]["status"] == "failed"
    a.handle(captured)
    last = a._state()["last"]
    assert last["status"] == "rolled_back" and "rolled back before" in last["reason"], last
    assert "download" not in last["reason"] and a.layout.current_version() == "1.0.0"
    box.srv.shutdown()


def test_health_compares_versions_as_pep_440() -> None:
    box = _Box("0.4.0-RC1")  # the service's own spelling; the wheel (and bundle) say 0.4.0rc1
    ok, reason = wait_healthy(box.url, "0.4.0rc1", lambda t: True, lambda: None, 3, 5, time.time(),
                              threading.Event(), 0.05)
    assert ok, reason
    assert canonical_version("1.2.0") == canonical_version("1.2") != canonical_version("1.2.1")
    assert canonical_version("not a version") == "not a version"
    box.srv.shutdown()


def test_a_download_dripping_in_is_cut_at_its_deadline(tmp_path: Path) -> None:
    """download_timeout_s bounds each read; the whole download has a deadline too."""
    stop = threading.Event()

    class Drip(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "10000")
            self.end_headers()
            while not stop.wait(0.02):  # a byte well within each read timeout, for ever
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return

        def log_message(self, *a: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ReleaseError) as err:
            download(f"http://127.0.0.1:{srv.server_address[1]}/b.tar", tmp_path / "b.tar", 10000, "a" * 64, 0.1)
        assert "not finished within 1 s" in err.value.message
        assert list(tmp_path.iterdir()) == []  # no .part left
    finally:
        stop.set()
        srv.shutdown()
