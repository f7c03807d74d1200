"""Issue 19: signed content bundles pushed over a real mosquitto and a real HTTP server.

Every bad update is rejected with its reason in the retained ``content/reported``, and the
device keeps answering from its current index, answers unchanged.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import gzip
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from nic_edge.comms import content_schema as cs
from nic_edge.comms import schema
from nic_edge.core import bundle as bundle_file
from nic_edge.core import ed25519
from nic_edge.core.config import parse_config
from nic_edge.engine import bundle_build
from nic_edge.engine.store import FORMAT
from nic_edge.fleet import content as fleet_content
from nic_edge.fleet.content_server import BundleServer
from nic_edge.fleet.tools import FleetClient
from tests.engine.test_engine_support import MANUAL, HashEmbedder, fake_load, write_manual
from tests.support.broker import Broker
from tests.support.content_device import FAKE_MODEL, SimDevice

pytest.importorskip("cryptography")

NEW_MANUAL = MANUAL.replace("85-95 ft-lbs", "120 ft-lbs").replace(
    "SECTION 2: WHEELS", "SECTION 2: WHEELS\n\nPara 2-0: Coolant Flush\nFlush the coolant every 30,000 miles with "
    "a 50/50 glycol mix.")
QUESTION = "What torque for the lug nuts?"


class Kit:
    """Keys, bundles, the bundle server and the fleet config for one test."""

    def __init__(self, tmp: Path, broker: Broker) -> None:
        self.tmp, self.broker = tmp, broker
        ed25519.generate(tmp / "signing.key")
        ed25519.generate(tmp / "wrong.key")
        self.key = ed25519.load_private(tmp / "signing.key")
        self.wrong = ed25519.load_private(tmp / "wrong.key")
        self.pub = tmp / "signing.key.pub"
        self.served = tmp / "served"
        self.served.mkdir()
        self.server = BundleServer(self.served)
        self.server.start()
        self.fleet_cfg = parse_config({"mqtt": broker.client_settings(), "fleet": {"report_timeout_s": 20.0}},
                                      check_files=False)

    def bundle(self, name: str, text: str, version: int, key: Any = None, model: str = FAKE_MODEL) -> Path:
        src = self.tmp / f"src-{name}"
        src.mkdir()
        manual = write_manual(src, "manual.txt", text)
        out = self.served / f"{name}.nicb"
        bundle_build.build([manual], key or self.key, out, HashEmbedder(model), version=version,
                           env={"SOURCE_DATE_EPOCH": "1767225600"}, loader=fake_load)
        return out

    def url(self, path: Path) -> str:
        return f"{self.server.url}/{path.name}"

    def push(self, dev: str, path: Path, url: str | None = None, wait: bool = True) -> tuple[int, list[str]]:
        lines: list[str] = []
        rc = fleet_content.push(self.fleet_cfg, path, [dev], self.key, url or self.url(path), 20.0, not wait,
                                out=lines.append)
        return rc, lines

    def announce(self, dev: str, body: dict[str, Any], key: Any = None) -> None:
        """Publish a hand-made announcement (what a broken or hostile sender could do)."""
        signed = cs.sign_desired(body, dev, key or self.key)
        fc = FleetClient(self.fleet_cfg, "test")
        fc.connect([])
        try:
            fc.publish(schema.topic(self.fleet_cfg.mqtt.topic_prefix, dev, schema.CONTENT_DESIRED),
                       cs.encode_desired(signed), retain=True)
        finally:
            fc.close()

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def kit(tmp_path: Path, mosquitto: Broker) -> Iterator[Kit]:
    k = Kit(tmp_path, mosquitto)
    yield k
    k.close()


@pytest.fixture
def device(kit: Kit, tmp_path: Path) -> Iterator[SimDevice]:
    d = SimDevice("dev-a", tmp_path / "dev-a", kit.broker.client_settings(), kit.pub)
    d.engine.index_paths([write_manual(tmp_path, "local.txt", MANUAL)])  # the box's own index
    d.start()
    deadline = time.monotonic() + 10
    while d.publisher.status()["state"] != "connected" and time.monotonic() < deadline:
        time.sleep(0.05)
    yield d
    d.stop()


def wait_report(d: SimDevice, version: int | None, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rep = d.updater.last_report
        if rep is not None and rep["version"] == version:
            return rep
        time.sleep(0.05)
    raise AssertionError(f"no report for version {version}; last {d.updater.last_report}")


def answer_key(a: dict[str, Any]) -> tuple:
    return (a["answer"], [(c["source"], c["chunk_id"]) for c in a["citations"]])


def test_push_applies_switches_atomically_and_a_second_push_moves_no_bytes(kit: Kit, device: SimDevice) -> None:
    before = device.ask(QUESTION)
    assert "85-95 ft-lbs" in (before["answer"] or "")
    v2 = kit.bundle("v2", NEW_MANUAL, 2)
    rc, lines = kit.push("dev-a", v2)
    assert rc == 0, lines
    assert lines[-1] == "dev-a: applied"
    after = device.ask(QUESTION)
    assert "120 ft-lbs" in (after["answer"] or "") and "85-95" not in (after["answer"] or "")
    assert device.sources() == ["manual.txt"]  # the pushed bundle replaced the set
    assert device.engine.manuals()[0]["file"] == "bundle:manual.txt"
    st = device.updater.status()
    assert st["applied_version"] == 2 and st["last_report"]["status"] == "applied"
    # the previous generation is kept for a roll-back
    gens = sorted(p.name for p in (device.data / "index").iterdir() if p.name.startswith("gen-"))
    assert len(gens) == 2
    served = kit.server.bytes_served
    assert served == v2.stat().st_size
    rc, lines = kit.push("dev-a", v2)
    assert rc == 0 and lines[-1] == "dev-a: applied (already applied)"
    assert kit.server.bytes_served == served  # same version again: no bytes moved
    rows = fleet_content.collect(kit.fleet_cfg, 1.0)
    assert rows["dev-a"]["desired"]["version"] == 2
    assert rows["dev-a"]["reported"]["status"] == "applied" and rows["dev-a"]["reported"]["applied_version"] == 2


def _reject(kit: Kit, device: SimDevice, version: int, publish: Any) -> dict[str, Any]:
    before, gen = answer_key(device.ask(QUESTION)), device.engine.store.current_name()
    publish()
    rep = wait_report(device, version)
    assert rep["status"] in ("rejected", "failed"), rep
    assert answer_key(device.ask(QUESTION)) == before
    assert device.engine.store.current_name() == gen
    return rep


def test_tampered_bundle_is_rejected(kit: Kit, device: SimDevice) -> None:
    good = kit.bundle("v3", NEW_MANUAL, 3)
    tampered = kit.served / "v3-tampered.nicb"
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    tampered.write_bytes(bytes(raw))
    # the announcement names the good file's sha256; the server hands out an altered one
    rep = _reject(kit, device, 3, lambda: kit.push("dev-a", good, url=kit.url(tampered)))
    assert rep["status"] == "rejected" and "sha256 mismatch" in rep["reason"]
    assert not list((device.data / "content" / "download").glob("*.part"))


def _retar(src: Path, dst: Path, change: Any) -> None:
    """Rewrite a bundle with one member changed (signature and manifest kept)."""
    with tarfile.open(src, "r:gz") as tin, gzip.GzipFile(dst, "wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tout:
        for ti in tin:
            data = tin.extractfile(ti).read()  # type: ignore[union-attr]
            data = change(ti.name, data)
            ti.size = len(data)
            tout.addfile(ti, io.BytesIO(data))


def test_member_altered_after_signing_is_rejected(kit: Kit, device: SimDevice) -> None:
    good = kit.bundle("v4", NEW_MANUAL, 4)
    evil = kit.served / "v4-evil.nicb"
    _retar(good, evil, lambda name, data: data.replace(b"120 ft-lbs", b"999 ft-lbs"))
    sha, size = bundle_file.file_digest(evil)
    body = cs.make_desired(4, kit.url(evil), size, sha, FAKE_MODEL, FORMAT)  # sha of the evil file
    rep = _reject(kit, device, 4, lambda: kit.announce("dev-a", body))
    assert rep["status"] == "rejected" and "texts.bin" in rep["reason"] and "signed manifest" in rep["reason"]


def test_wrong_key_is_rejected(kit: Kit, device: SimDevice) -> None:
    bad = kit.bundle("v5", NEW_MANUAL, 5, key=kit.wrong)
    body = fleet_content.announcement(bad, kit.url(bad))
    rep = _reject(kit, device, 5, lambda: kit.announce("dev-a", body, key=kit.wrong))
    assert rep["status"] == "rejected" and "content/desired: signature does not verify" in rep["reason"]
    assert kit.server.bytes_served == 0  # refused before downloading anything
    # announced with the trusted key, but the bundle itself is signed with another one
    rep = _reject(kit, device, 6, lambda: kit.announce("dev-a", dict(body, version=6)))
    assert "bundle manifest: signature does not verify" in rep["reason"]


def test_bundle_for_another_model_and_wrong_model_sha_are_rejected(kit: Kit, device: SimDevice) -> None:
    other = kit.bundle("v7", NEW_MANUAL, 7, model="another-model")
    rep = _reject(kit, device, 7, lambda: kit.push("dev-a", other))
    assert "bundle is for model another-mod" in rep["reason"] and "this box runs fake-model-1" in rep["reason"]
    assert kit.server.bytes_served == 0
    # an announcement that lies about the model: caught against the signed bundle manifest
    body = dict(fleet_content.announcement(other, kit.url(other)), model_sha256=FAKE_MODEL, version=8)
    rep = _reject(kit, device, 8, lambda: kit.announce("dev-a", body))
    assert "bundle version 7 differs from the announced 8" in rep["reason"] or "model sha256" in rep["reason"]
    body = dict(body, version=7)
    rep = _reject(kit, device, 7, lambda: kit.announce("dev-a", body))
    assert "bundle model sha256 another-model differs from the announced fake-model-1" in rep["reason"]


def test_truncated_download_is_rejected(kit: Kit, device: SimDevice) -> None:
    good = kit.bundle("v9", NEW_MANUAL, 9)
    short = kit.served / "v9-short.nicb"
    short.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    rep = _reject(kit, device, 9, lambda: kit.push("dev-a", good, url=kit.url(short)))
    assert rep["status"] == "rejected" and "truncated download" in rep["reason"]
    # the real file appears later: the same announcement, pushed again, resumes and applies
    shutil.copyfile(good, short)
    rc, lines = kit.push("dev-a", good, url=kit.url(short))
    assert rc == 0, lines
    assert kit.server.bytes_served < 2 * good.stat().st_size  # resumed, not restarted


def test_replayed_older_version_is_rejected(kit: Kit, device: SimDevice) -> None:
    v10, v11 = kit.bundle("v10", MANUAL, 10), kit.bundle("v11", NEW_MANUAL, 11)
    assert kit.push("dev-a", v11)[0] == 0
    rep = _reject(kit, device, 10, lambda: kit.push("dev-a", v10))
    assert rep["reason"] == "replayed version 10 < applied 11" and rep["applied_version"] == 11
    # the applied version survives a restart: the replay is still refused
    device.stop()
    again = SimDevice("dev-a", device.data, kit.broker.client_settings(), kit.pub).start()
    try:
        assert again.updater.applied_version() == 11
        rep = wait_report(again, 10)  # the retained (replayed) announcement, re-delivered
        assert rep["status"] == "rejected"
    finally:
        again.stop()


def test_offline_device_applies_latest_retained_on_reconnect(kit: Kit, tmp_path: Path) -> None:
    v12, v13 = kit.bundle("v12", MANUAL, 12), kit.bundle("v13", NEW_MANUAL, 13)
    for path in (v12, v13):  # the box is off: both announcements go out, the later one stays
        assert kit.push("dev-b", path, wait=False)[0] == 0
    d = SimDevice("dev-b", tmp_path / "dev-b", kit.broker.client_settings(), kit.pub).start()
    try:
        rep = wait_report(d, 13)
        assert rep["status"] == "applied"
        assert kit.server.bytes_served == v13.stat().st_size  # only the latest was fetched
        assert "120 ft-lbs" in (d.ask(QUESTION)["answer"] or "")
    finally:
        d.stop()


def test_no_trusted_key_refuses_updates(kit: Kit, tmp_path: Path) -> None:
    v = kit.bundle("v14", NEW_MANUAL, 14)
    d = SimDevice("dev-c", tmp_path / "dev-c", kit.broker.client_settings(), None).start()
    try:
        kit.push("dev-c", v, wait=False)
        rep = wait_report(d, 14)
        assert rep["status"] == "rejected" and "holds no signing public key" in rep["reason"]
    finally:
        d.stop()


def test_bundle_sha_is_what_the_announcement_names(kit: Kit) -> None:
    v = kit.bundle("v15", NEW_MANUAL, 15)
    body = fleet_content.announcement(v, "http://x/v15.nicb")
    assert body["sha256"] == hashlib.sha256(v.read_bytes()).hexdigest() and body["size"] == v.stat().st_size
    assert body["format"] == FORMAT and body["model_sha256"] == FAKE_MODEL


def test_push_all_reaches_every_device_with_a_retained_status(kit: Kit, device: SimDevice) -> None:
    v = kit.bundle("v16", NEW_MANUAL, 16)
    lines: list[str] = []
    rc = fleet_content.push(kit.fleet_cfg, v, None, kit.key, kit.url(v), 20.0, False, out=lines.append)
    assert rc == 0 and "to 1 device(s)" in lines[0] and lines[-1] == "dev-a: applied"
