"""ContentUpdater logic without a broker: crash recovery from the generation marker, schema rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from nic_edge.comms import content_schema as cs  # noqa: E402
from nic_edge.core import bundle as bundle_file  # noqa: E402
from nic_edge.core import ed25519  # noqa: E402
from nic_edge.engine import bundle_build, bundle_install  # noqa: E402
from nic_edge.engine.store import FORMAT, WRITER_LOCK  # noqa: E402
from tests.engine.test_engine_support import HashEmbedder, fake_load, write_manual  # noqa: E402
from tests.support.content_device import SimDevice  # noqa: E402


def test_switch_done_but_not_recorded_is_recovered_from_the_marker(tmp_path: Path) -> None:
    ed25519.generate(tmp_path / "old")
    ed25519.generate(tmp_path / "new")
    key = ed25519.load_private(tmp_path / "old")
    pems = [(tmp_path / "old.pub").read_bytes(), (tmp_path / "new.pub").read_bytes()]
    bundle_build.build([write_manual(tmp_path)], key, tmp_path / "b.nicb", HashEmbedder(), version=5, env={},
                       loader=fake_load, trusted_keys=pems)
    dev = SimDevice("d", tmp_path / "d", {"host": "127.0.0.1", "port": 1}, tmp_path / "old.pub")
    try:
        # what a kill -9 right after the CURRENT swap leaves: new generation, no state, old keys
        dev.engine.install(lambda store: bundle_install.install(store, bundle_file.read_bundle(tmp_path / "b.nicb", None)))
        assert dev.updater.applied_version() is None and len(dev.updater.public_keys) == 1
        dev.updater.reconcile()
        assert dev.updater.applied_version() == 5
        assert len(dev.updater.public_keys) == 2  # the rotation ring the bundle carried
        # the retained announcement, seen again after the restart: a no-op, nothing downloaded
        body = cs.sign_desired(cs.make_desired(5, "http://127.0.0.1:1/b.nicb", 1, "0" * 64, "fake-model-1", FORMAT), "d", key)
        rep = dev.updater.handle(cs.encode_desired(body))
        assert rep["status"] == "applied" and rep["reason"] == "already applied"
    finally:
        dev.publisher.outbox.close()


def test_malformed_announcements_are_rejected_with_the_reason(tmp_path: Path) -> None:
    dev = SimDevice("d", tmp_path / "d", {"host": "127.0.0.1", "port": 1}, None)
    try:
        assert dev.updater.handle(b"") is None  # a deleted retained message: nothing to say
        rep = dev.updater.handle(b'{"version": 1}')
        assert rep["status"] == "rejected" and "missing" in rep["reason"]
        rep = dev.updater.handle(b"not json")
        assert rep["status"] == "rejected" and "not JSON" in rep["reason"]
    finally:
        dev.publisher.outbox.close()


def test_bundle_applied_flag(tmp_path: Path) -> None:
    from nic_edge.app.content import bundle_applied

    assert not bundle_applied(tmp_path)
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "state.json").write_text('{"applied_version": 3}')
    assert bundle_applied(tmp_path)
    (tmp_path / "content" / "state.json").write_text("garbage")
    assert not bundle_applied(tmp_path)


def test_disk_full_while_unpacking_is_failed_and_applies_once_space_is_freed(tmp_path: Path) -> None:
    """A full disk is `failed` (retrying helps), never `rejected` as a damaged bundle."""
    from tests.support.tmpfs import fill, tmpfs

    ed25519.generate(tmp_path / "k")
    bundle_build.build([write_manual(tmp_path)], ed25519.load_private(tmp_path / "k"), tmp_path / "b.nicb",
                       HashEmbedder(), version=3, env={}, loader=fake_load)
    with tmpfs(tmp_path / "d" / "index", "512k") as index:
        dev = SimDevice("d", tmp_path / "d", {"host": "127.0.0.1", "port": 1}, tmp_path / "k.pub")
        try:
            filler = fill(index)
            rep = dev.updater.apply_file(tmp_path / "b.nicb")
            assert rep["status"] == "failed" and "No space left" in rep["reason"], rep
            assert dev.updater.applied_version() is None
            # the half-unpacked files are gone (the index writers' lock file may stay)
            assert [p.name for p in index.iterdir() if p.name != WRITER_LOCK] == [filler.name]
            filler.unlink()
            rep = dev.updater.apply_file(tmp_path / "b.nicb")
            assert rep["status"] == "applied" and dev.updater.applied_version() == 3, rep
        finally:
            dev.publisher.outbox.close()
