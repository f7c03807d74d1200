"""Issue 19: rotating the content signing key through bundles, with an overlap window."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.core import ed25519
from nic_edge.engine import bundle_build
from nic_edge.errors import NicEdgeError
from nic_edge.fleet import content as fleet_content
from nic_edge.fleet import rotation
from tests.engine.test_engine_support import MANUAL, HashEmbedder, fake_load, write_manual
from tests.integration.test_content_updates import NEW_MANUAL, Kit, kit, device, wait_report  # noqa: F401
from tests.support.content_device import FAKE_MODEL, SimDevice

pytest.importorskip("cryptography")


def build(kit: Kit, key_path: Path, name: str, text: str, version: int) -> Path:
    src = kit.tmp / f"src-{name}"
    src.mkdir()
    out = kit.served / f"{name}.nicb"
    m = bundle_build.build([write_manual(src, "manual.txt", text)], ed25519.load_private(key_path), out,
                           HashEmbedder(FAKE_MODEL), version=version, env={"SOURCE_DATE_EPOCH": "1767225600"},
                           loader=fake_load, trusted_keys=rotation.trusted_pems(key_path))
    rotation.note_build(key_path, m["version"])
    return out


def push(kit: Kit, key_path: Path, path: Path, dev: str = "dev-a") -> list[str]:
    lines: list[str] = []
    fleet_content.push(kit.fleet_cfg, path, [dev], ed25519.load_private(key_path), kit.url(path), 20.0, False,
                       out=lines.append)
    return lines


def test_rotation_overlap_then_finish_retires_the_old_key(kit: Kit, device: SimDevice) -> None:
    key = kit.tmp / "signing.key"
    old_id = ed25519.key_id(ed25519.load_private(key))
    rec = rotation.start(key)
    assert rec["old_key_id"] == old_id and rotation.next_path(key).exists()
    with pytest.raises(NicEdgeError, match="already in progress"):
        rotation.start(key)
    with pytest.raises(NicEdgeError, match="no bundle carrying the new key"):
        rotation.finish(key, {}, force=False)
    # overlap: signed with the old key, carries both
    v1 = build(kit, key, "v1", NEW_MANUAL, 1)
    assert push(kit, key, v1)[-1] == "dev-a: applied"
    assert device.updater.status()["keys"] == [old_id, rec["new_key_id"]]
    reports = {dev: row["reported"] for dev, row in fleet_content.collect(kit.fleet_cfg, 1.0).items()}
    reports["dev-offline"] = None  # a box that never reported
    rows = {r["id"]: r for r in rotation.device_rows(rotation.read_record(key), reports)}
    assert rows["dev-a"]["has_new_key"] and not rows["dev-offline"]["has_new_key"]
    with pytest.raises(NicEdgeError, match="1 device"):
        rotation.finish(key, reports, force=False)
    del reports["dev-offline"]
    rotation.finish(key, reports, force=False)
    assert ed25519.key_id(ed25519.load_private(key)) == rec["new_key_id"]
    assert rotation.read_record(key)["history"][-1]["old_key_id"] == old_id
    # after the finish: signed with the new key, lists only it
    v2 = build(kit, key, "v2", MANUAL, 2)
    assert push(kit, key, v2)[-1] == "dev-a: applied"
    assert device.updater.status()["keys"] == [rec["new_key_id"]]
    # the retired key no longer works, even though the flashed .pub still holds it
    retired = next(kit.tmp.glob("signing.key.retired-*[!b]"))
    src = kit.tmp / "src-v3"
    src.mkdir()
    v3 = kit.served / "v3.nicb"
    bundle_build.build([write_manual(src, "manual.txt", NEW_MANUAL)], ed25519.load_private(retired), v3,
                       HashEmbedder(FAKE_MODEL), version=3, env={}, loader=fake_load)
    kit.announce("dev-a", fleet_content.announcement(v3, kit.url(v3)), key=ed25519.load_private(retired))
    rep = wait_report(device, 3)
    assert rep["status"] == "rejected" and "signature does not verify" in rep["reason"]
    # and the adopted ring survives a restart
    device.stop()
    again = SimDevice("dev-a", device.data, kit.broker.client_settings(), kit.pub)
    assert again.updater.status()["keys"] == [rec["new_key_id"]]
    again.publisher.outbox.close()


def test_fleet_hmac_key_rotation_reaches_boxes_through_a_bundle(kit: Kit, tmp_path: Path) -> None:
    from nic_edge.comms import key_ring
    from nic_edge.core import signing
    from nic_edge.core.config import parse_config
    from nic_edge.fleet import tools

    fleet_key = tmp_path / "fleet.key"
    signing.write_key(fleet_key, signing.generate_key())
    k0 = signing.read_key(fleet_key)
    devs = {d: SimDevice(d, tmp_path / d, kit.broker.client_settings(), kit.pub,
                         device_key=signing.derive_device_key(k0, d)).start() for d in ("dev-h", "dev-x")}
    fcfg = parse_config({"mqtt": kit.broker.client_settings(), "fleet": {"report_timeout_s": 15.0}}, check_files=False)

    def set_tier(dev: str, tier: str) -> dict:
        assert tools.set_tier(fcfg, [dev], tier, signing.read_key(fleet_key), 15.0, False) in (0, 1)
        return devs[dev].overrides.last_report

    try:
        assert set_tier("dev-h", "lite")["status"] == "applied"
        rec = rotation.start_hmac(fleet_key, ["dev-h"])  # dev-x is not part of it
        wrapped = rotation.wrapped_device_keys(fleet_key)
        assert set(wrapped) == {"dev-h"} and rotation.wrapped_device_keys(fleet_key) == wrapped  # deterministic
        src = kit.tmp / "src-h"
        src.mkdir()
        bundle = kit.served / "h.nicb"
        m = bundle_build.build([write_manual(src, "manual.txt", NEW_MANUAL)], kit.key, bundle, HashEmbedder(FAKE_MODEL),
                               version=20, env={}, loader=fake_load, device_keys=wrapped)
        rotation.note_build(fleet_key, m["version"])
        assert k0.hex() not in bundle.read_bytes().hex()  # no key in the clear
        for d in devs:
            assert push(kit, kit.tmp / "signing.key", bundle, d)[-1] == f"{d}: applied"
        assert devs["dev-h"].overrides.key_count == 2 and devs["dev-x"].overrides.key_count == 1
        ring = tmp_path / "dev-h" / key_ring.RING_FILE
        assert ring.stat().st_mode & 0o777 == 0o600
        assert set_tier("dev-h", "standard")["status"] == "applied"  # overlap: the old key still works
        reports = {d: row["reported"] for d, row in fleet_content.collect(kit.fleet_cfg, 1.0).items() if d == "dev-h"}
        rotation.finish(fleet_key, reports, force=False)
        assert signing.read_key(fleet_key) != k0
        assert set_tier("dev-h", "full")["status"] == "applied"  # the new key
        assert devs["dev-h"].overrides.key_count == 1  # ... which retired the old one
        assert key_ring.load(tmp_path / "dev-h") == [signing.derive_device_key(signing.read_key(fleet_key), "dev-h")]
        assert tools.set_tier(fcfg, ["dev-h"], "lite", k0, 15.0, False) == 1
        assert devs["dev-h"].overrides.last_report["status"] == "rejected"
        assert rec["new_key_id"] == rotation.read_record(fleet_key)["history"][-1]["new_key_id"]
    finally:
        for d in devs.values():
            d.stop()
