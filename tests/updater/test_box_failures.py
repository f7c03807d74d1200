"""One box, the real updater process, when things go wrong: a full disk, a read-only disk, a
restart that never returns, a clock behind the fleet host's, stale files in the work dir, and
pushes of a bundle the box already handled. Real venvs, pip offline, mosquitto, HTTP, a real
tmpfs for the disk; the service and systemd are the stand-ins of tests/support/release_box.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from nic_edge.core import ed25519
from tests.support.broker import Broker, Subscriber
from tests.support.release_box import Box, BundleServer, build_bundle, make_wheel, run_fleet
from tests.support.tmpfs import tmpfs

DEADLINE_S = 10.0


@pytest.fixture
def world(tmp_path: Path, mosquitto: Broker) -> Iterator[dict[str, Any]]:
    key = tmp_path / "signing.key"
    ed25519.generate(key)
    server = BundleServer(tmp_path / "bundles")
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\n[fleet]\nsigning_key_file = "{key}"\n'
                   f'content_url = "{server.url}"\n')
    sub = Subscriber(mosquitto, ["nic/+/software/reported"])
    w = {"key": key, "pub": Path(f"{key}.pub"), "cfg": cfg, "tmp": tmp_path, "broker": mosquitto, "sub": sub,
         "v1": build_bundle(tmp_path, "1.0.0", key), "boxes": []}
    try:
        yield w
    finally:
        for b in w["boxes"]:
            b.stop()
        sub.close()
        server.close()


def start_box(w: dict[str, Any], prepare: Callable[[Box], None] = lambda b: None, **kw: Any) -> Box:
    """Box 'box-1' on 1.0.0, its service answering and its updater running."""
    b = Box(w["tmp"] / "box1", "box-1", w["broker"].port, w["pub"], DEADLINE_S, **kw)
    w["boxes"].append(b)
    prepare(b)
    b.install_initial(w["v1"], w["pub"])
    b.start_unit()
    assert b.wait_version("1.0.0"), "the service did not start"
    b.start_updater()
    assert b.wait_updater(), b.updater_log.read_text()
    return b


def publish(w: dict[str, Any], version: str, **kw: Any) -> Path:
    """Build ``version`` and put it where the boxes download from."""
    out = build_bundle(w["tmp"], version, w["key"], **kw)
    return Path(shutil.move(str(out), w["tmp"] / "bundles" / out.name))


def push(w: dict[str, Any], bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_fleet("--config", str(w["cfg"]), "release", "push", str(bundle), "box-1", "--timeout",
                     str(DEADLINE_S + 30), *extra, timeout=120)


def reports(w: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in w["sub"].on_topic("box-1/software/reported") if m.payload]


def wait_report(w: dict[str, Any], version: str, status: str, timeout: float = DEADLINE_S + 30) -> dict[str, Any]:
    def match(r: dict[str, Any]) -> bool:
        return r["version"] == version and r["status"] == status
    assert w["sub"].wait_for(lambda _: any(match(r) for r in reports(w)), timeout), reports(w)
    return next(r for r in reports(w) if match(r))


def test_disk_full_while_unpacking_is_failed_and_a_push_again_applies(world: dict[str, Any]) -> None:
    """The wheels do not fit: `failed`, old version, nothing left behind, the updater goes on;
    once there is space, pushing the same (byte-identical) bundle again installs it."""
    w = world
    v11 = publish(w, "1.1.0", pad_kib=600)  # ~600 KiB: the download fits, its unpacked copy not
    b = start_box(w, prepare=lambda b: w.setdefault("mount", tmpfs(b.prefix, "16m")).__enter__())
    try:
        st = os.statvfs(b.prefix)
        filler = b.prefix / "filler"
        filler.write_bytes(b"\0" * (st.f_bavail * st.f_frsize - v11.stat().st_size - (200 << 10)))
        r = push(w, v11)
        assert r.returncode == 1 and "failed 1.1.0" in r.stdout, r.stdout + r.stderr
        rep = wait_report(w, "1.1.0", "failed", 1)
        assert "No space left on device" in rep["reason"] and rep["current"] == "1.0.0", rep
        assert b.current() == "1.0.0" and b.api_version() == "1.0.0" and b.venvs() == ["1.0.0"]
        assert b.work_files() == ["state.json"] and b.updater_state()["phase"] == "idle"
        assert b.updater is not None and b.updater.poll() is None
        filler.unlink()
        r = push(w, v11)
        assert r.returncode == 0 and "applied 1.1.0" in r.stdout, r.stdout + r.stderr
        assert b.api_version() == "1.1.0" and b.venvs() == ["1.0.0", "1.1.0"]
    finally:
        b.stop()
        w["mount"].__exit__(None, None, None)


def test_a_read_only_disk_is_reported_and_the_updater_exits_for_systemd(world: dict[str, Any]) -> None:
    """state.json cannot be written: the updater says `failed` and exits non-zero, so that
    systemd restarts it (a loop that died inside a live process would never be restarted)."""
    w = world
    v11 = publish(w, "1.1.0")
    b = start_box(w, prepare=lambda b: w.setdefault("mount", tmpfs(b.prefix, "16m")).__enter__())
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(b.prefix)], check=True)
        assert push(w, v11, "--no-wait").returncode == 0
        rep = wait_report(w, "1.1.0", "failed")
        assert "Read-only file system" in rep["reason"] and rep["current"] == "1.0.0", rep
        assert b.updater is not None and b.updater.wait(30) == 1
        assert b.api_version() == "1.0.0"
        assert "exiting so that systemd restarts it" in b.updater_log.read_text()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(b.prefix)], check=False)
        b.stop()
        w["mount"].__exit__(None, None, None)


def test_a_restart_that_never_returns_is_rolled_back(world: dict[str, Any]) -> None:
    """`systemctl restart` stuck: cut at the health deadline and rolled back; the updater goes
    on (a push of the same bundle again is answered at once with that outcome)."""
    w = world
    v11 = publish(w, "1.1.0")
    b = start_box(w, restart_hangs=True)
    r = push(w, v11)
    assert r.returncode == 1 and "rolled_back 1.1.0" in r.stdout, r.stdout + r.stderr
    rep = wait_report(w, "1.1.0", "rolled_back", 1)
    assert "did not finish within" in rep["reason"] and rep["current"] == "1.0.0", rep
    assert b.current() == "1.0.0" and b.wait_version("1.0.0", 10) and b.venvs() == ["1.0.0"]
    r = push(w, v11)
    assert r.returncode == 1 and "rolled_back 1.1.0 (this bundle was rolled back before" in r.stdout, r.stdout
    assert b.updater is not None and b.updater.poll() is None


def test_a_box_clock_behind_and_a_push_of_the_applied_bundle_again(world: dict[str, Any]) -> None:
    """push matches the box's report by version and bundle, not by the box's clock (60 s
    behind: no RTC, no NTP yet); pushing the applied bundle again ends at once, applied."""
    w = world
    v11 = publish(w, "1.1.0")
    b = start_box(w, clock_offset_s=-60.0)
    r = push(w, v11)
    assert r.returncode == 0 and "box-1: applied 1.1.0" in r.stdout, r.stdout + r.stderr
    r = push(w, v11)
    assert r.returncode == 0 and "box-1: applied 1.1.0 (already applied)" in r.stdout, r.stdout + r.stderr
    assert b.api_version() == "1.1.0"


def test_stale_wheels_in_the_work_dir_are_not_installed(world: dict[str, Any]) -> None:
    """Only the wheels of the verified bundle reach pip: a dependency wheel lying in the work
    dir (a killed run, anyone) is not picked although its version is higher."""
    w = world
    v11 = publish(w, "1.1.0")
    b = start_box(w)
    stale = b.prefix / "updater" / "wheels-1.1.0"
    make_wheel(stale, "nic-fake-dep", "9.0", {"fakedep/__init__.py": "NAME = 'stale'\n"})
    r = push(w, v11)
    assert r.returncode == 0 and "applied 1.1.0" in r.stdout, r.stdout + r.stderr
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{b.port}/api/status", timeout=5) as resp:
        assert json.loads(resp.read())["dep"] == "fakedep"
    assert b.work_files() == ["state.json"]
