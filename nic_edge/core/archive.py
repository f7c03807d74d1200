"""Sealed archives: a plain tar whose last member is a sha256 over every byte before it.

Used by ``nic-edge backup`` and ``nic-aggregator backup``. Layout of a sealed file::

    <members...>             regular files only
    manifest.json            what the archive holds (sha256 + size per member), written last
                             because the sizes and digests are known only once members are in
    SEAL                     "nic-seal-v1 <sha256 hex of bytes [0, O)> <O>\\n", O = offset of SEAL's header
    <end-of-archive zeros>   tar's two zero blocks, padded to the 10 KiB record

Why a tar member and not a trailer: the file stays a valid tar (``tar tvf`` lists it). Why the
tail is compared byte for byte: the sha256 covers everything before the seal, and the seal
itself plus the tar padding after it is rebuilt from (digest, O) by the same code that wrote it,
so a flipped byte anywhere in the file -- data, headers, the seal, the final zero blocks -- is
caught. Members are read back only after ``verify_sealed`` passed, and each is checked again
against the manifest while it is extracted (the file could change between the two reads).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import IO, Any, Iterator

from nic_edge.errors import BackupError

MANIFEST = "manifest.json"
SEAL = "SEAL"
_SEAL_TAG = "nic-seal-v1"
_BLOCK = 1 << 20


class _HashingWriter:
    """File-like sink that hashes and counts what tarfile writes."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.sha.update(data)
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset


def _info(name: str, size: int) -> tarfile.TarInfo:
    # Fixed owner/mode/mtime: the archive does not leak the box's users, and the seal member is
    # reproducible from (digest, offset) alone.
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mode = 0o600
    ti.mtime = 0
    ti.uname = ti.gname = ""
    return ti


def _seal_text(digest: str, offset: int) -> bytes:
    return f"{_SEAL_TAG} {digest} {offset}\n".encode("ascii")


def _seal_tail(digest: str, offset: int) -> bytes:
    """The exact bytes that follow offset O in a sealed file (seal member + tar end padding)."""
    # tarfile pads the archive to a multiple of its record size counted from the start, so only
    # O modulo the record size matters for the padding (no need to hold O bytes in memory).
    lead = offset % tarfile.RECORDSIZE
    buf = io.BytesIO()
    buf.write(b"\0" * lead)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.offset = lead
        text = _seal_text(digest, offset)
        tar.addfile(_info(SEAL, len(text)), io.BytesIO(text))
    return buf.getvalue()[lead:]


class SealedWriter:
    """Write members, then ``close()`` seals. Use as a context manager; on error the partial
    output is removed (the caller writes to a temp name and renames on success)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "wb")
        self._sink = _HashingWriter(self._fh)
        self._tar = tarfile.open(fileobj=self._sink, mode="w", format=tarfile.PAX_FORMAT)  # type: ignore[call-overload]
        self.members: dict[str, dict[str, Any]] = {}

    def add_bytes(self, name: str, data: bytes) -> None:
        self._tar.addfile(_info(name, len(data)), io.BytesIO(data))
        self.members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def add_file(self, name: str, src: Path | IO[bytes], size: int | None = None) -> None:
        """Add a file (a path, or an open binary handle read up to ``size`` bytes)."""
        fh = open(src, "rb") if isinstance(src, (str, Path)) else src
        try:
            if size is None:
                size = os.fstat(fh.fileno()).st_size
            hashed = _HashedReader(fh, size)
            self._tar.addfile(_info(name, size), hashed)  # type: ignore[arg-type]
            if hashed.read_bytes != size:
                raise BackupError(f"{name} shrank while being copied", "run the backup again")
        finally:
            if isinstance(src, (str, Path)):
                fh.close()
        self.members[name] = {"sha256": hashed.sha.hexdigest(), "size": size}

    def finish(self, manifest: dict[str, Any]) -> str:
        """Add ``manifest`` (plus the member list) and the seal; returns the digest."""
        body = dict(manifest, members=dict(self.members))
        data = json.dumps(body, indent=1, sort_keys=True).encode("utf-8")
        self._tar.addfile(_info(MANIFEST, len(data)), io.BytesIO(data))
        offset = self._sink.offset
        digest = self._sink.sha.hexdigest()
        text = _seal_text(digest, offset)
        self._tar.addfile(_info(SEAL, len(text)), io.BytesIO(text))
        self._tar.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        return digest

    def abort(self) -> None:
        """Close without sealing (the caller deletes the partial file)."""
        self._fh.close()


class _HashedReader:
    """Reads at most ``size`` bytes from ``fh`` and hashes them (tarfile pulls from it)."""

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self.fh, self.left, self.sha, self.read_bytes = fh, size, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.fh.read(n)
        self.left -= len(data)
        self.read_bytes += len(data)
        self.sha.update(data)
        return data


def verify_sealed(path: Path) -> dict[str, Any]:
    """Check the seal over the whole file; return the manifest. BackupError says what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with tarfile.open(path, mode="r:") as tar:
            members = tar.getmembers()
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{path} is not a readable backup archive: {exc}",
                          "the file is damaged or not a nic-edge backup") from None
    if len(members) < 2 or members[-1].name != SEAL or members[-2].name != MANIFEST:
        raise BackupError(f"{path} has no seal (not a nic-edge backup, or cut short)",
                          "copy the backup again from where it was stored")
    seal = members[-1]
    with open(path, "rb") as fh:
        fh.seek(seal.offset_data)
        parts = fh.read(min(seal.size, 256)).decode("ascii", "replace").split()
        if len(parts) != 3 or parts[0] != _SEAL_TAG or not parts[2].isdigit():
            raise BackupError(f"{path}: the seal is damaged", "copy the backup again")
        digest, offset = parts[1], int(parts[2])
        if offset != seal.offset or offset > size:
            raise BackupError(f"{path}: the seal is damaged", "copy the backup again")
        fh.seek(0)
        sha = hashlib.sha256()
        left = offset
        while left:
            block = fh.read(min(_BLOCK, left))
            if not block:
                break
            sha.update(block)
            left -= len(block)
        want_tail = _seal_tail(digest, offset)
        tail = fh.read(len(want_tail) + 1)
    if sha.hexdigest() != digest or tail != want_tail:
        raise BackupError(f"{path}: digest mismatch, the file was changed or damaged",
                          "copy the backup again; do not restore from this file")
    return read_manifest(path)


def read_manifest(path: Path) -> dict[str, Any]:
    with tarfile.open(path, mode="r:") as tar:
        try:
            fh = tar.extractfile(MANIFEST)
        except KeyError:
            fh = None
        if fh is None:
            raise BackupError(f"{path}: manifest missing", "not a nic-edge backup")
        try:
            manifest = json.loads(fh.read().decode("utf-8"))
        except ValueError as exc:
            raise BackupError(f"{path}: manifest unreadable: {exc}", "not a nic-edge backup") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("members"), dict):
        raise BackupError(f"{path}: manifest has no member list", "not a nic-edge backup")
    return manifest


def extract_members(path: Path, manifest: dict[str, Any], dest: Path, prefix: str = "") -> Iterator[str]:
    """Write the manifest's members whose names start with ``prefix`` under ``dest`` (names are
    checked: no absolute paths, no ``..``), checking each one's sha256 and size; yields the names
    written. Any member the manifest does not list makes the archive invalid."""
    expected: dict[str, dict[str, Any]] = manifest["members"]
    wanted = {n for n in expected if n.startswith(prefix)}
    seen: set[str] = set()
    dest = Path(dest)
    with tarfile.open(path, mode="r:") as tar:
        for ti in tar:
            if ti.name in (MANIFEST, SEAL):
                continue
            want = expected.get(ti.name)
            if want is None or not ti.isfile() or not _safe_name(ti.name):
                raise BackupError(f"{path}: unexpected member {ti.name!r}", "not a nic-edge backup")
            if ti.name not in wanted:
                continue
            target = dest / ti.name
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(ti)
            assert src is not None
            sha = hashlib.sha256()
            with open(target, "wb") as out:
                for block in iter(lambda: src.read(_BLOCK), b""):
                    sha.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if sha.hexdigest() != want.get("sha256") or ti.size != want.get("size"):
                raise BackupError(f"{path}: {ti.name} does not match the manifest", "copy the backup again")
            seen.add(ti.name)
            yield ti.name
    missing = sorted(wanted - seen)
    if missing:
        raise BackupError(f"{path}: members missing: {', '.join(missing[:3])}", "copy the backup again")


def _safe_name(name: str) -> bool:
    p = Path(name)
    return not p.is_absolute() and ".." not in p.parts and name == p.as_posix()
