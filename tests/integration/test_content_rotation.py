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
