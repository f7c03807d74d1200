"""The bundle file format: deterministic, signed, every member pinned by the manifest."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from nic_edge.core import bundle as b  # noqa: E402
from nic_edge.core import ed25519  # noqa: E402


@pytest.fixture
def keys(tmp_path: Path):
    ed25519.generate(tmp_path / "k")
    ed25519.generate(tmp_path / "other")
    return (ed25519.load_private(tmp_path / "k"), ed25519.load_public_keys(tmp_path / "k.pub"),
            ed25519.load_public_keys(tmp_path / "other.pub"))


def gen_dir(tmp_path: Path) -> Path:
    d = tmp_path / "gen"
    d.mkdir()
    (d / "manifest.json").write_text('{"format": 1}')
    (d / "texts.bin").write_bytes(b"hello world" * 100)
    (d / "calibration.json").write_text('{"a": 1}')  # any file of the generation travels
    return d


def test_same_inputs_same_bytes_and_roundtrip(tmp_path: Path, keys) -> None:
    key, pub, _ = keys
    d = gen_dir(tmp_path)
    m = {"version": 3, "created_at": 1767225600, "index_format": 1, "model_sha256": "x"}
    b.write_bundle(tmp_path / "one", d, m, key)
    (d / "texts.bin").touch()  # a newer mtime on disk changes nothing in the bundle
    b.write_bundle(tmp_path / "two", d, m, key)
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes()
    bun = b.read_bundle(tmp_path / "one", pub)
    assert bun.version == 3 and set(bun.manifest["files"]) == {"manifest.json", "texts.bin", "calibration.json"}
    b.check_files(bun)
    out = tmp_path / "out"
    out.mkdir()
    b.extract(bun, out)
    assert (out / "texts.bin").read_bytes() == b"hello world" * 100
    with tarfile.open(tmp_path / "one") as t:
        assert all(ti.uid == 0 and ti.gid == 0 and ti.mtime == 1767225600 and ti.uname == "" for ti in t)


def test_wrong_key_and_altered_member(tmp_path: Path, keys) -> None:
    key, pub, other = keys
    d = gen_dir(tmp_path)
    b.write_bundle(tmp_path / "one", d, {"version": 1, "created_at": 1, "index_format": 1}, key)
    with pytest.raises(b.BundleError, match="signature does not verify"):
        b.read_bundle(tmp_path / "one", other)
    # rewrite with one member changed, manifest + signature kept
    evil = tmp_path / "evil"
    with tarfile.open(tmp_path / "one", "r:gz") as tin, gzip.GzipFile(evil, "wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tout:
        for ti in tin:
            data = tin.extractfile(ti).read()
            if ti.name == "index/texts.bin":
                data = data.replace(b"world", b"WORLD")
            tout.addfile(ti, io.BytesIO(data))
    bun = b.read_bundle(evil, pub)  # the manifest itself is intact
    with pytest.raises(b.BundleError, match="texts.bin: sha256 differs"):
        b.check_files(bun)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(b.BundleError):
        b.extract(bun, out)


def test_truncated_and_foreign_files(tmp_path: Path, keys) -> None:
    key, pub, _ = keys
    d = gen_dir(tmp_path)
    b.write_bundle(tmp_path / "one", d, {"version": 1, "created_at": 1, "index_format": 1}, key)
    raw = (tmp_path / "one").read_bytes()
    (tmp_path / "short").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(b.BundleError):
        b.check_files(b.read_bundle(tmp_path / "short", pub))
    (tmp_path / "junk").write_bytes(b"not a bundle")
    with pytest.raises(b.BundleError):
        b.read_bundle(tmp_path / "junk", pub)


def test_a_failing_destination_is_an_os_error_not_damage(tmp_path: Path, keys) -> None:
    """Disk full while unpacking is the box's problem (report `failed`, retry later), not a
    damaged bundle (`rejected`): the kernel's own ENOSPC, from /dev/full."""
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full not available")
    key, pub, _ = keys
    b.write_bundle(tmp_path / "one", gen_dir(tmp_path), {"version": 1, "created_at": 1, "index_format": 1}, key)
    bun = b.read_bundle(tmp_path / "one", pub)
    out = tmp_path / "out"
    out.mkdir()
    (out / "texts.bin").symlink_to("/dev/full")
    with pytest.raises(OSError, match="No space left") as info:
        b.extract(bun, out)
    assert not isinstance(info.value, b.BundleError)
