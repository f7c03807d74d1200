"""A new LMDB store on a full disk is an error, not SIGBUS (real tmpfs, real LMDB).

LMDB sizes a new ``lock.mdb`` with ftruncate and writes it through a shared mmap: on a full
file system the first store into that hole is SIGBUS, which killed ``nic-edge ask`` (no cache
dir yet) and ``nic-edge serve`` with MQTT on (no outbox yet) before any Python handler ran.
Each check runs in a child process so that the old behaviour shows as a signal, not a dead
test run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.device import ROOT, DeviceServer, TINY_MANUAL, prepare_data_dir, run_cli, write_toml
from tests.support.tmpfs import fill, tmpfs

QUESTION = "How do I replace the fuel filter?"

_OPEN = """
import sys
from nic_edge.core.storage import open_env
from nic_edge.errors import StorageError
try:
    open_env(sys.argv[1], 1 << 20, marker=b"t")
except StorageError as exc:
    print("StorageError:", exc)
    sys.exit(3)
print("opened")
"""


def _no_signal(rc: int, out: str) -> None:
    assert rc >= 0, f"killed by {signal.Signals(-rc).name}:\n{out}"


def test_open_env_on_a_full_disk_raises_storage_error(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "256k") as disk:
        fill(disk)
        r = subprocess.run([sys.executable, "-c", _OPEN, str(disk / "store")], capture_output=True,
                           text=True, env={"PYTHONPATH": str(ROOT)}, timeout=60)
        _no_signal(r.returncode, r.stdout + r.stderr)
        assert r.returncode == 3 and "No space left" in r.stdout, r.stdout + r.stderr
        # a lock file left sparse by the failed open is filled in once there is room again
        (disk / "filler").unlink()
        r = subprocess.run([sys.executable, "-c", _OPEN, str(disk / "store")], capture_output=True,
                           text=True, env={"PYTHONPATH": str(ROOT)}, timeout=60)
        assert r.returncode == 0 and "opened" in r.stdout, r.stdout + r.stderr


def test_ask_answers_on_a_full_disk_with_no_cache_store_yet(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", "16m") as data:
        prepare_data_dir(data, tmp_path / "manuals")
        subprocess.run(["rm", "-rf", str(data / "cache")], check=True)  # e.g. moved aside, or wiped
        fill(data)
        r = run_cli("ask", QUESTION, "--json", "--data-dir", str(data))
        _no_signal(r.returncode, r.stderr)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["answer"]
        assert "L1 only" in r.stderr and "No space left" in r.stderr


def test_serve_with_mqtt_starts_on_a_full_disk_without_an_outbox(tmp_path: Path) -> None:
    """No outbox can be created: serve answers, /healthz says degraded and why (the spool is off
    and retried); MQTT itself stays on (status, tier reports, overrides)."""
    with tmpfs(tmp_path / "data", "16m") as data:
        prepare_data_dir(data, tmp_path / "manuals")
        fill(data)
        cfg = write_toml(tmp_path / "device.toml", {
            "device": {"id": "full-disk", "tier": "lite"},
            "mqtt": {"host": "127.0.0.1", "port": 1, "reconnect_max_s": 1}})
        dev = DeviceServer(cfg, data)
        try:
            try:
                dev.start()
            except RuntimeError:
                assert dev.proc is not None
                _no_signal(dev.proc.wait(10), "".join(dev.log))
                raise
            health = dev.get("/healthz")
            assert health["status"] == "degraded", health
            assert "No space left" in health["storage"]["outbox"], health
            answer = dev.post("/api/ask", {"question": QUESTION})
            assert answer["answer"] and not answer["abstained"]
            mqtt = dev.get("/api/status")["mqtt"]
            assert "retrying" in health["storage"]["outbox"], health
            assert mqtt["state"] != "disabled" and mqtt["spool"] == "off", mqtt
        finally:
            assert dev.stop() == 0, "".join(dev.log)
    assert TINY_MANUAL  # the manual the answer came from


def test_serve_with_mqtt_starts_on_a_read_only_data_dir(tmp_path: Path) -> None:
    """A card remounted read-only (what the kernel does after I/O errors): answers go on."""
    with tmpfs(tmp_path / "data", "16m") as data:
        prepare_data_dir(data, tmp_path / "manuals")
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
        cfg = write_toml(tmp_path / "device.toml", {
            "device": {"id": "ro-card", "tier": "lite"},
            "mqtt": {"host": "127.0.0.1", "port": 1, "reconnect_max_s": 1}})
        dev = DeviceServer(cfg, data)
        try:
            dev.start()
            health = dev.get("/healthz")
            assert health["status"] == "degraded" and "Read-only" in health["storage"]["outbox"], health
            answer = dev.post("/api/ask", {"question": QUESTION})
            assert answer["answer"] and not answer["abstained"]
        finally:
            assert dev.stop() == 0, "".join(dev.log)
