"""Sealed archives: every flipped byte is caught, members are checked, names are safe."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from nic_edge.core.archive import SealedWriter, extract_members, verify_sealed
from nic_edge.errors import BackupError


def _archive(tmp_path: Path) -> Path:
    out = tmp_path / "a.tar"
    w = SealedWriter(out)
    w.add_bytes("data/small.txt", b"hello\n" * 100)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(70_000))
    w.add_file("data/store/data.mdb", big)
    w.finish({"format": "test/1"})
    return out


def test_roundtrip_and_tar_compatible(tmp_path: Path) -> None:
    out = _archive(tmp_path)
    manifest = verify_sealed(out)
    assert manifest["format"] == "test/1"
    assert set(manifest["members"]) == {"data/small.txt", "data/store/data.mdb"}
    names = list(extract_members(out, manifest, tmp_path / "x"))
    assert sorted(names) == ["data/small.txt", "data/store/data.mdb"]
    assert (tmp_path / "x/data/store/data.mdb").read_bytes() == (tmp_path / "big.bin").read_bytes()
    with tarfile.open(out) as tar:  # still a plain tar for standard tools
        assert tar.getnames()[-2:] == ["manifest.json", "SEAL"]


def test_flipped_byte_anywhere_is_caught(tmp_path: Path) -> None:
    out = _archive(tmp_path)
    data = out.read_bytes()
    # data, headers, the manifest, the seal text, and the zero padding at the very end
    offsets = sorted(set(list(range(0, len(data), 1531)) + [0, 100, 148, 512, len(data) // 2,
                                                             len(data) - 1, len(data) - 5000]))
    bad = tmp_path / "bad.tar"
    for off in offsets:
        b = bytearray(data)
        b[off] ^= 0x20
        bad.write_bytes(bytes(b))
        with pytest.raises(BackupError):
            verify_sealed(bad)
    assert len(offsets) > 40


def test_truncated_or_extended_or_foreign_file_rejected(tmp_path: Path) -> None:
    out = _archive(tmp_path)
    data = out.read_bytes()
    bad = tmp_path / "bad.tar"
    for variant in (data[:-512], data[: len(data) // 2], data + b"\0" * 512, b"not a tar" * 100):
        bad.write_bytes(variant)
        with pytest.raises(BackupError):
            verify_sealed(bad)
    # a well-formed tar with no seal
    with tarfile.open(bad, "w") as tar:
        ti = tarfile.TarInfo("manifest.json")
        ti.size = 2
        tar.addfile(ti, io.BytesIO(b"{}"))
    with pytest.raises(BackupError, match="no seal"):
        verify_sealed(bad)


def test_member_changed_after_verify_is_caught_on_extract(tmp_path: Path) -> None:
    out = _archive(tmp_path)
    manifest = verify_sealed(out)
    manifest["members"]["data/small.txt"]["sha256"] = "0" * 64  # as if the file changed in between
    with pytest.raises(BackupError, match="does not match"):
        list(extract_members(out, manifest, tmp_path / "x"))


def test_unsafe_names_refused(tmp_path: Path) -> None:
    out = tmp_path / "evil.tar"
    w = SealedWriter(out)
    w.add_bytes("../escape.txt", b"x")
    w.finish({})
    manifest = verify_sealed(out)  # the seal is fine: the name is what is wrong
    with pytest.raises(BackupError, match="unexpected member"):
        list(extract_members(out, manifest, tmp_path / "x"))
    assert not (tmp_path / "escape.txt").exists()
