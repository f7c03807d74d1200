"""The signed content bundle file: one deterministic tar.gz holding an index generation.

Members, in this order::

    bundle.json     manifest (sorted-key JSON): version, created_at, model_sha256,
                    index_format, sources [{source, file, sha256, chunks}], files
                    {name: {sha256, size}}, total_bytes, chunks
    bundle.sig      base64 Ed25519 signature over the exact bytes of bundle.json
    index/<name>    every file of the generation directory, sorted by name

Every file of the generation travels (whatever the engine writes there: calibration, future
columns), and the manifest pins each one by sha256, so the single signature covers them all.
Byte-identical for the same inputs and key: sorted names, mtime = created_at, uid/gid 0, no
user names, gzip header mtime 0, and Ed25519 signatures are deterministic.

Stdlib plus ``core.ed25519``: the fleet side (verify, push) reads bundles without the engine.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from nic_edge.core import ed25519
from nic_edge.errors import NicEdgeError, SignatureError

BUNDLE_KIND = "nic-content-bundle"
BUNDLE_FORMAT = 1
MANIFEST, SIGNATURE, INDEX_DIR = "bundle.json", "bundle.sig", "index/"
log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_CHUNK = 1 << 20


class BundleError(NicEdgeError):
    """A bundle is malformed or does not match what was announced; ``reason`` is report-ready."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict[str, Any]
    manifest_bytes: bytes
    signature: str

    @property
    def version(self) -> int:
        return int(self.manifest["version"])

    @property
    def model_sha256(self) -> str | None:
        return self.manifest.get("model_sha256")

    @property
    def index_format(self) -> int:
        return int(self.manifest["index_format"])


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=True).encode("ascii") + b"\n"


def file_digest(path: Path) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
            n += len(block)
    return h.hexdigest(), n


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = size, mtime, 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def write_bundle(out: Path, gen_dir: Path, manifest: dict[str, Any], private_key: Any) -> dict[str, Any]:
    """Pack ``gen_dir`` with ``manifest`` (``files``/``total_bytes`` filled here), sign, write
    ``out`` atomically. Returns the final manifest."""
    names = sorted(p.name for p in gen_dir.iterdir() if p.is_file())
    files = {}
    for name in names:
        sha, size = file_digest(gen_dir / name)
        files[name] = {"sha256": sha, "size": size}
    manifest = dict(manifest, kind=BUNDLE_KIND, bundle_format=BUNDLE_FORMAT, files=files,
                    total_bytes=sum(f["size"] for f in files.values()))
    mbytes = manifest_bytes(manifest)
    sig = ed25519.sign(private_key, mbytes).encode("ascii")
    mtime = int(manifest["created_at"])
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as raw:
        # filename="" and mtime=0 keep the gzip header free of anything that varies.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
                tar.addfile(_tarinfo(MANIFEST, len(mbytes), mtime), io.BytesIO(mbytes))
                tar.addfile(_tarinfo(SIGNATURE, len(sig), mtime), io.BytesIO(sig))
                for name in names:
                    with open(gen_dir / name, "rb") as fh:
                        tar.addfile(_tarinfo(INDEX_DIR + name, files[name]["size"], mtime), fh)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, out)
    return manifest


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:gz")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise BundleError(f"not a readable bundle: {exc}", hint="rebuild it with nic-fleet content build") from exc


def read_bundle(path: Path, public_keys: list[Any] | None) -> Bundle:
    """Read and check the manifest and its signature (``public_keys`` None: skip the signature,
    for tools that only inspect). File contents are checked by ``check_files``/``extract``."""
    path = Path(path)
    try:
        with _open_tar(path) as tar:
            first = tar.next()
            second = tar.next()
            if first is None or second is None or first.name != MANIFEST or second.name != SIGNATURE:
                raise BundleError("bundle does not start with bundle.json and bundle.sig")
            if first.size > MAX_MANIFEST_BYTES or second.size > 1024:
                raise BundleError("bundle manifest or signature is too large")
            mbytes = tar.extractfile(first).read()  # type: ignore[union-attr]
            sig = tar.extractfile(second).read().decode("ascii", "replace").strip()  # type: ignore[union-attr]
    except (OSError, tarfile.TarError, EOFError, ValueError) as exc:
        raise BundleError(f"bundle is damaged: {exc}") from exc
    if public_keys is not None:
        try:
            ed25519.require(public_keys, mbytes, sig, "bundle manifest")
        except SignatureError as exc:
            raise BundleError(exc.message, hint=exc.hint) from exc
    try:
        manifest = json.loads(mbytes)
    except ValueError as exc:
        raise BundleError(f"bundle manifest is not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("kind") != BUNDLE_KIND:
        raise BundleError("not a nic content bundle (bundle.json kind)")
    if manifest.get("bundle_format") != BUNDLE_FORMAT:
        raise BundleError(f"bundle format {manifest.get('bundle_format')} is not supported by this nic-edge",
                          hint="update nic-edge on the box first")
    for key in ("version", "created_at", "index_format", "files"):
        if key not in manifest:
            raise BundleError(f"bundle manifest lacks {key}")
    return Bundle(path, manifest, mbytes, sig)


def _members(bundle: Bundle) -> Iterator[tuple[str, tarfile.TarFile, tarfile.TarInfo]]:
    files = bundle.manifest["files"]
    seen: set[str] = set()
    with _open_tar(bundle.path) as tar:
        for ti in tar:
            if ti.name in (MANIFEST, SIGNATURE):
                continue
            name = ti.name[len(INDEX_DIR):] if ti.name.startswith(INDEX_DIR) else ""
            if not ti.isfile() or not name or "/" in name or name.startswith(".") or name not in files:
                raise BundleError(f"unexpected member {ti.name!r} in bundle")
            if name in seen:
                raise BundleError(f"member {ti.name!r} appears twice")
            seen.add(name)
            yield name, tar, ti
    missing = set(files) - seen
    if missing:
        raise BundleError(f"bundle lacks {len(missing)} file(s) its manifest lists, e.g. {sorted(missing)[0]}")


def _copy_checked(name: str, tar: tarfile.TarFile, ti: tarfile.TarInfo, want: dict[str, Any],
                  sink: Any) -> None:
    if ti.size != want["size"]:
        raise BundleError(f"{name}: size {ti.size} differs from the manifest's {want['size']}")
    src = tar.extractfile(ti)
    assert src is not None
    h = hashlib.sha256()
    for block in iter(lambda: src.read(_CHUNK), b""):
        h.update(block)
        if sink is not None:
            sink.write(block)
    if h.hexdigest() != want["sha256"]:
        raise BundleError(f"{name}: sha256 differs from the signed manifest (altered after signing)")


def check_files(bundle: Bundle) -> None:
    """Every member's size and sha256 against the (signed) manifest."""
    try:
        for name, tar, ti in _members(bundle):
            _copy_checked(name, tar, ti, bundle.manifest["files"][name], None)
    except (OSError, tarfile.TarError, EOFError, zlib_error()) as exc:
        raise BundleError(f"bundle is damaged: {exc}") from exc


class _WriteError(Exception):
    """An OSError writing the destination (disk full, permissions): the box's problem, not the
    bundle's, so it must not become "bundle is damaged" (a report that says retrying won't help)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Dest:
    """One destination file; every OSError from it becomes ``_WriteError``."""

    def __init__(self, path: Path) -> None:
        try:
            self.fh = open(path, "wb")
        except OSError as exc:
            raise _WriteError(exc) from exc

    def write(self, block: bytes) -> None:
        try:
            self.fh.write(block)
        except OSError as exc:
            raise _WriteError(exc) from exc

    def finish(self) -> None:
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
        except OSError as exc:
            raise _WriteError(exc) from exc

    def abandon(self) -> None:
        try:
            self.fh.close()  # may flush buffered bytes and fail again (disk full)
        except OSError as exc:
            # The error already on its way says what went wrong first; this one only adds noise.
            log.debug("closing a half-written file failed too: %s", exc)


def extract(bundle: Bundle, dest: Path) -> None:
    """Write the generation files into ``dest`` (exists, empty), each checked and fsynced.

    BundleError when the bundle is damaged; OSError as raised when writing ``dest`` fails."""
    try:
        for name, tar, ti in _members(bundle):
            out = _Dest(dest / name)
            try:
                _copy_checked(name, tar, ti, bundle.manifest["files"][name], out)
            except BaseException:
                out.abandon()
                raise
            out.finish()
    except _WriteError as exc:
        raise exc.error from None
    except (OSError, tarfile.TarError, EOFError, zlib_error()) as exc:
        raise BundleError(f"bundle is damaged: {exc}") from exc


def zlib_error() -> type[Exception]:
    import zlib
    return zlib.error
