"""Device backup/restore on real data dirs: what goes in, what is refused, nothing half-done."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from nic_edge.app.backup import DeviceBackup
from nic_edge.app.restore import restore_device
from nic_edge.comms.outbox import Outbox
from nic_edge.core.config import load_config
from nic_edge.errors import BackupError
from tests.support.device import prepare_data_dir, run_cli, write_toml

SECRET = "tok-" + "s" * 28


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dev")
    data = root / "data"
    prepare_data_dir(data, root / "manuals")
    r = run_cli("ask", "How do I adjust the carburetor?", "--data-dir", str(data), "--json")
    assert r.returncode == 0, r.stderr
    ob = Outbox(data / "outbox", 1 << 20, first_seq=1000)
    for i in range(3):
        ob.enqueue("metrics", {"ts": float(i)})
    ob.close()
    (data / "tier_override.json").write_text(json.dumps({"tier": "lite", "source": "fleet"}))
    (data / "calibration.json").write_text('{"a": 1.5}')
    (root / "cfg").mkdir()
    (root / "cfg/token").write_text(SECRET)
    (root / "cfg/device.key").write_text("ab" * 32)
    write_toml(root / "cfg/device.toml", {"device": {"id": "box-1"},
                                          "http": {"token_file": "token"}, "fleet": {"key_file": "device.key"}})
    return {"root": root, "data": data, "config": root / "cfg/device.toml"}


def _backup(device: dict[str, Path], out: Path, secrets: bool = False) -> dict:
    cfg = load_config(device["config"])
    return DeviceBackup(device["data"], cfg, secrets, "box-1").run(out)


def test_backup_contents_and_secrets(device: dict[str, Path], tmp_path: Path) -> None:
    s = _backup(device, tmp_path / "b.tar")
    assert s["stores"] == ["cache", "outbox"]
    with tarfile.open(tmp_path / "b.tar") as tar:
        names = tar.getnames()
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())  # type: ignore[union-attr]
    assert "data/tier_override.json" in names and "data/calibration.json" in names
    assert "data/audit.jsonl" in names and "config/device.toml" in names
    assert not any(n.endswith("lock.mdb") for n in names)
    assert SECRET.encode() not in blob, "a secret went into a backup without --include-secrets"
    s2 = _backup(device, tmp_path / "s.tar", secrets=True)
    assert s2["secrets_included"]
    with tarfile.open(tmp_path / "s.tar") as tar:
        assert "config/refs/http.token_file/token" in tar.getnames()


def test_restore_roundtrip(device: dict[str, Path], tmp_path: Path) -> None:
    _backup(device, tmp_path / "b.tar", secrets=True)
    target = tmp_path / "restored"
    s = restore_device(tmp_path / "b.tar", target, config_out=tmp_path / "cfg-out")
    assert s["device_id"] == "box-1"
    for rel in ("tier_override.json", "calibration.json", "audit.jsonl", "index/CURRENT"):
        assert (target / rel).read_bytes() == (device["data"] / rel).read_bytes()
    ob = Outbox(target / "outbox", 1 << 20)
    try:
        assert [r.seq for r in ob.peek(10)] == [1000, 1001, 1002]
        assert ob.enqueue("metrics", {"ts": 9.0}) == 1003  # seq continues, no gap, no reuse
    finally:
        ob.close()
    assert (tmp_path / "cfg-out/device.toml").read_text() == device["config"].read_text()
    assert (tmp_path / "cfg-out/refs/http.token_file/token").read_text() == SECRET
    a = run_cli("manuals", "--json", "--data-dir", str(device["data"]))
    b = run_cli("manuals", "--json", "--data-dir", str(target))
    assert a.returncode == 0 and a.stdout == b.stdout


def test_refuses_other_model_and_writes_nothing(device: dict[str, Path], tmp_path: Path) -> None:
    _backup(device, tmp_path / "b.tar")
    with pytest.raises(BackupError, match="embedded with model"):
        restore_device(tmp_path / "b.tar", tmp_path / "t", model_sha="f" * 64)
    assert not (tmp_path / "t").exists()


def test_refuses_other_index_format(device: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "copy"
    restore_device(_backup(device, tmp_path / "b.tar") and tmp_path / "b.tar", data)
    gen = data / "index" / (data / "index/CURRENT").read_text().strip()
    m = json.loads((gen / "manifest.json").read_text())
    m["format"] = 99
    (gen / "manifest.json").write_text(json.dumps(m))
    DeviceBackup(data, None).run(tmp_path / "f.tar")
    with pytest.raises(BackupError, match="index format 99 is not supported"):
        restore_device(tmp_path / "f.tar", tmp_path / "t")
    assert not (tmp_path / "t").exists()
    from nic_edge.engine import store
    older = [f for f in getattr(store, "READABLE_FORMATS", ()) if f != store.FORMAT]
    if older:  # an older format the engine still reads is restored
        m["format"] = older[0]
        (gen / "manifest.json").write_text(json.dumps(m))
        DeviceBackup(data, None).run(tmp_path / "old.tar")
        restore_device(tmp_path / "old.tar", tmp_path / "t")
        assert (tmp_path / "t/index/CURRENT").is_file()


def test_target_rules_and_nothing_half_restored(device: dict[str, Path], tmp_path: Path) -> None:
    _backup(device, tmp_path / "b.tar")
    target = tmp_path / "t"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(BackupError, match="not empty"):
        restore_device(tmp_path / "b.tar", target)
    # a damaged file with --force: refused before anything is touched
    raw = bytearray((tmp_path / "b.tar").read_bytes())
    raw[512 + 10] ^= 1  # inside the first member's data
    (tmp_path / "bad.tar").write_bytes(bytes(raw))
    with pytest.raises(BackupError, match="digest mismatch"):
        restore_device(tmp_path / "bad.tar", target, force=True)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if ".restore-" in p.name or ".pre-restore-" in p.name]
    restore_device(tmp_path / "b.tar", target, force=True)
    assert not (target / "keep.txt").exists() and (target / "index/CURRENT").is_file()
    assert not [p for p in tmp_path.iterdir() if ".restore-" in p.name or ".pre-restore-" in p.name]


def test_cli_errors_are_one_line(device: dict[str, Path], tmp_path: Path) -> None:
    r = run_cli("backup", "--data-dir", str(device["data"]), "--out", str(tmp_path / "b.tar"))
    assert r.returncode == 0, r.stderr
    raw = bytearray((tmp_path / "b.tar").read_bytes())
    raw[-100] ^= 1  # in the zero padding after the seal
    (tmp_path / "b.tar").write_bytes(bytes(raw))
    r = run_cli("restore", str(tmp_path / "b.tar"), "--data-dir", str(tmp_path / "t"))
    assert r.returncode == 1 and "digest mismatch" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "t").exists()
    for cmd in ("backup", "restore"):
        assert run_cli(cmd, "--help").returncode == 0


def test_backup_while_reindexing_is_never_torn(tmp_path: Path) -> None:
    """The indexer swaps generations (and deletes the old one) while backups copy the index."""
    import threading

    data = tmp_path / "data"
    prepare_data_dir(data, tmp_path / "manuals")
    extra = tmp_path / "manuals" / "extra.txt"
    extra.write_text("SECTION 9: LIGHTS\n\nPara 9-1: Headlamp\nReplace the headlamp bulb with the switch off.\n")
    stop = threading.Event()
    swaps = []

    def churn() -> None:
        while not stop.is_set():
            args = ("index", "--remove", "extra.txt") if len(swaps) % 2 else ("index", str(extra))
            r = run_cli(*args, "--data-dir", str(data), "--quiet")
            swaps.append(r.returncode)

    t = threading.Thread(target=churn)
    t.start()
    try:
        outs = []
        while len(swaps) < 3:  # back to back, for as long as three generation swaps take
            out = tmp_path / f"b{len(outs) % 6}.tar"
            DeviceBackup(data, None).run(out)
            outs.append(out)
    finally:
        stop.set()
        t.join()
    assert swaps.count(0) >= 3 and len(outs) >= 3
    for i, out in enumerate(sorted(set(outs))):
        target = tmp_path / f"r{i}"
        restore_device(out, target)
        r = run_cli("manuals", "--json", "--data-dir", str(target))
        assert r.returncode == 0, r.stderr
        names = sorted(m["source"] for m in json.loads(r.stdout)["manuals"])
        assert names in (["tiny_manual.txt"], ["extra.txt", "tiny_manual.txt"]), names


def _first_current_read_says(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Path]:
    """The first read of an index's CURRENT file returns ``name``, later ones the file; returns
    the list of CURRENT reads made."""
    real = Path.read_text
    reads: list[Path] = []

    def read_text(self: Path, *a: object, **kw: object) -> str:
        if self.name == "CURRENT":
            reads.append(self)
            if len(reads) == 1:
                return name + "\n"
        return real(self, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    return reads


def test_generation_replaced_mid_listing_is_retried(device: dict[str, Path], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # As if the indexer swapped CURRENT and deleted the generation just read from it: the first
    # read of CURRENT names a generation that no longer exists, the next one the live one.
    real = Path.read_text
    reads = _first_current_read_says(monkeypatch, "gen-deleted-meanwhile")
    s = DeviceBackup(device["data"], None).run(tmp_path / "b.tar")
    # read (deleted), read (live), and the check once its files are open
    assert len(reads) == 3 and s["index"]["generation"] == real(device["data"] / "index/CURRENT").strip()
    monkeypatch.undo()
    restore_device(tmp_path / "b.tar", tmp_path / "t")
    assert (tmp_path / "t/index/CURRENT").read_text() == (device["data"] / "index/CURRENT").read_text()


@pytest.mark.parametrize("left", [["texts.bin"], ["manifest.json", "texts.bin"]])
def test_generation_torn_while_listed_is_never_backed_up(device: dict[str, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         left: list[str]) -> None:
    # CURRENT named a generation that two quick re-indexes then replaced and began to delete:
    # the listing sees only what is left of it (with or without its manifest). The backup must
    # notice (CURRENT has moved on by the time the files are open) and copy the live one; it
    # once died on the missing manifest (StopIteration), or could have copied the torn rest.
    index = device["data"] / "index"
    live = (index / "CURRENT").read_text().strip()
    torn = index / f"gen-1{len(left)}"   # the device fixture is shared: removed at the end
    torn.mkdir()
    for name in left:
        (torn / name).write_bytes((index / live / name).read_bytes())
    _first_current_read_says(monkeypatch, torn.name)
    try:
        s = DeviceBackup(device["data"], None).run(tmp_path / "b.tar")
    finally:
        monkeypatch.undo()
        shutil.rmtree(torn)
    assert s["index"]["generation"] == live and s["index"]["chunks"] > 0
    restore_device(tmp_path / "b.tar", tmp_path / "t")
    assert (tmp_path / "t/index/CURRENT").read_text().strip() == live
    assert sorted(p.name for p in (tmp_path / "t/index" / live).iterdir()) == \
        sorted(p.name for p in (index / live).iterdir())
