"""Issue 21, defect 1: a prebuilt index flashed with the config. ``nic-fleet flash --content``
carries a signed content bundle on the card, the first-boot hook moves it into the data dir, and
``serve`` applies it at its first start instead of indexing: the box answers from the bundle
without embedding anything. A bundle the flashed key does not verify is refused at flash time; one
that fails on the box is set aside and the box falls back to indexing its manuals."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.device import ROOT, DeviceServer, run_cli, write_toml

pytest.importorskip("cryptography")

SCRIPT = ROOT / "firmware" / "nic-edge-firstboot.sh"
COOLING = """SECTION 4: COOLING

Para 4-1: Radiator Cap
Never open the radiator cap while the engine is hot. Replace the cap gasket every two years.
"""
LOCAL = """SECTION 9: LIGHTS

Para 9-1: Headlamp Aim
Aim the headlamps with the vehicle unloaded, on level ground, ten metres from a wall.
"""


def fleet(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, module="nic_edge.cli.fleet", timeout=240,
                   env={"SOURCE_DATE_EPOCH": "1767225600"})


@pytest.fixture(scope="module")
def keys_and_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    ws = tmp_path_factory.mktemp("fleet")
    assert fleet("keygen", "--signing", "--out", str(ws / "signing.key")).returncode == 0
    assert fleet("keygen", "--out", str(ws / "fleet.key")).returncode == 0
    cfg = write_toml(ws / "fleet.toml", {"fleet": {"key_file": str(ws / "fleet.key"),
                                                   "signing_key_file": str(ws / "signing.key")}})
    (ws / "cooling.txt").write_text(COOLING)
    r = fleet("--config", str(cfg), "content", "build", str(ws / "cooling.txt"), "--out", str(ws / "cooling.nicb"))
    assert r.returncode == 0, r.stderr
    return cfg, ws / "cooling.nicb"


def _flash(tmp_path: Path, fleet_cfg: Path, bundle: Path) -> subprocess.CompletedProcess[str]:
    ws = tmp_path / "dev"
    ws.mkdir(exist_ok=True)
    (ws / "manuals").mkdir(exist_ok=True)
    (ws / "manuals" / "lights.txt").write_text(LOCAL)
    write_toml(ws / "device.toml", {"device": {"id": "box-7"}, "http": {"port": 0}})
    boot = tmp_path / "root" / "boot" / "firmware"
    boot.mkdir(parents=True, exist_ok=True)
    (boot / "cmdline.txt").write_text("console=tty1 root=PARTUUID=1 rootwait\n")
    return fleet("--config", str(fleet_cfg), "flash", "--boot", str(boot), "--device-config", str(ws / "device.toml"),
                 "--manuals", str(ws / "manuals"), "--content", str(bundle))


def _first_boot(root: Path) -> None:
    env = {"PATH": os.environ["PATH"], "NIC_EDGE_ROOT": str(root), "NIC_EDGE_FIRSTBOOT_FAKE": "1"}
    r = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_a_flashed_bundle_is_served_without_indexing(tmp_path: Path, keys_and_bundle: tuple[Path, Path]) -> None:
    fleet_cfg, bundle = keys_and_bundle
    r = _flash(tmp_path, fleet_cfg, bundle)
    assert r.returncode == 0, r.stderr
    root = tmp_path / "root"
    assert (root / "boot" / "firmware" / "nic-edge" / "content.nicb").read_bytes() == bundle.read_bytes()
    _first_boot(root)
    state = root / "var" / "lib" / "nic-edge"
    flashed = state / "content" / "flashed.nicb"
    assert flashed.read_bytes() == bundle.read_bytes()
    assert stat.S_IMODE(flashed.stat().st_mode) == 0o640
    assert stat.S_IMODE((state / "content").stat().st_mode) == 0o750
    assert not (root / "boot" / "firmware" / "nic-edge" / "content.nicb").exists()  # moved off the card

    box = DeviceServer(root / "etc" / "nic-edge" / "device.toml", state).start(timeout=120)
    try:
        st = box.get("/api/status")
        assert st["content"]["applied_version"] == 1767225600
        assert st["content"]["last_report"]["status"] == "applied"
        ans = box.post("/api/ask", {"question": "When should the radiator cap gasket be replaced?"})
        assert not ans["abstained"] and ans["citations"][0]["source"] == "cooling.txt"
        log = "".join(box.log)
        assert "applying the content bundle flashed with the config" in log
        # the bundle owns the manual set: the flashed manuals folder is not indexed on top of it
        assert "a pushed content bundle owns the manual set" in log
    finally:
        box.stop()
    r = run_cli("manuals", "--json", "--data-dir", str(state))
    assert r.returncode == 0, r.stderr
    assert [m["source"] for m in json.loads(r.stdout)["manuals"]] == ["cooling.txt"]
    assert not flashed.exists()  # applied: the index holds it now
    box = DeviceServer(root / "etc" / "nic-edge" / "device.toml", state).start(timeout=120)
    try:  # a restart applies nothing again and still answers from the bundle
        assert box.get("/api/status")["content"]["applied_version"] == 1767225600
        assert "applying the content bundle" not in "".join(box.log)
    finally:
        box.stop()


def test_a_bundle_the_flashed_key_does_not_verify_is_refused_at_flash(
        tmp_path: Path, keys_and_bundle: tuple[Path, Path]) -> None:
    fleet_cfg, bundle = keys_and_bundle
    other = tmp_path / "other"
    other.mkdir()
    assert fleet("keygen", "--signing", "--out", str(other / "signing.key")).returncode == 0
    cfg = write_toml(other / "fleet.toml", {"fleet": {"key_file": str(fleet_cfg.parent / "fleet.key"),
                                                      "signing_key_file": str(other / "signing.key")}})
    r = _flash(tmp_path, cfg, bundle)
    assert r.returncode != 0 and "--content" in r.stderr and "signature" in r.stderr, r.stderr
    assert not (tmp_path / "root" / "boot" / "firmware" / "nic-edge").exists()  # nothing written


def test_a_bundle_refused_on_the_box_is_set_aside_and_the_manuals_indexed(
        tmp_path: Path, keys_and_bundle: tuple[Path, Path]) -> None:
    fleet_cfg, bundle = keys_and_bundle
    assert _flash(tmp_path, fleet_cfg, bundle).returncode == 0
    root = tmp_path / "root"
    _first_boot(root)
    state = root / "var" / "lib" / "nic-edge"
    flashed = state / "content" / "flashed.nicb"
    data = bytearray(flashed.read_bytes())
    data[len(data) // 2] ^= 0xFF  # damaged on the card
    flashed.write_bytes(bytes(data))
    box = DeviceServer(root / "etc" / "nic-edge" / "device.toml", state).start(timeout=180)
    try:
        st = box.get("/api/status")
        assert st["content"]["applied_version"] is None
        assert st["content"]["last_report"]["status"] == "rejected"
        assert "bundle refused" in st["content"]["last_report"]["reason"]
        ans = box.post("/api/ask", {"question": "How far from the wall should the headlamps be aimed?"})
        assert not ans["abstained"] and ans["citations"][0]["source"] == "lights.txt"
    finally:
        box.stop()
    assert not flashed.exists() and (state / "content" / "flashed.nicb.rejected").exists()
    shutil.rmtree(root)
