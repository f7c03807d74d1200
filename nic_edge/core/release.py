"""Release bundles: the format shared by ``nic-fleet release`` (build, push) and the updater.

A bundle is a plain tar::

    release.json     {"format", "name", "version", "python", "arch", "platforms", "requirement",
                      "files": {"wheels/<file>.whl": {"sha256", "size"}}}   (sorted-key JSON)
    release.sig      base64 Ed25519 signature of release.json's bytes (fleet signing key)
    wheels/*.whl     the project's wheel and every dependency's, for one python + platform

The announcement on ``nic/<id>/software/desired`` carries the bundle's sha256 and size and is
signed too (over the payload and the device id, so one box's announcement cannot be replayed
to another). A box verifies, in order: announcement signature, bundle sha256/size, release.json
signature, then every wheel against release.json, and rejects members release.json does not
list. Nothing is installed before all of that passed.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import tarfile
from pathlib import Path
from typing import Any

from nic_edge.core import ed25519, signing
from nic_edge.errors import ReleaseError

FORMAT = "nic-edge-release/1"
MANIFEST, SIGNATURE = "release.json", "release.sig"
_VERSION_RE = re.compile(r"^[0-9][0-9A-Za-z.+!_-]{0,63}$")
_WHEEL_RE = re.compile(r"^wheels/[A-Za-z0-9_.+!-]+\.whl$")


def check_version(version: object) -> str:
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise ReleaseError(f"invalid release version {version!r}", "versions look like 1.2.3")
    return version


def version_key(version: str) -> tuple[Any, ...]:
    """Order versions: PEP 440 through ``packaging`` when present, else numeric dot parts."""
    try:
        from packaging.version import Version  # noqa: PLC0415 - optional; pip vendors it too
        return (0, Version(version))
    except ImportError:
        pass
    except ValueError:
        return (1, version)
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return (0, tuple((0, int(p)) if p.isdigit() else (-1, p) for p in parts))


def is_newer(a: str, b: str) -> bool:
    """True when version ``a`` sorts after ``b``."""
    return bool(version_key(a) > version_key(b))


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, indent=1).encode("utf-8")


def announcement_bytes(payload: dict[str, Any], device_id: str) -> bytes:
    """What the announcement's signature covers: the payload minus ``sig``, plus the device id."""
    return signing.canonical_bytes(payload, device_id)


def sign_announcement(payload: dict[str, Any], device_id: str, key: Any) -> dict[str, Any]:
    body = {k: v for k, v in payload.items() if k != "sig"}
    return dict(body, sig=ed25519.sign(key, announcement_bytes(body, device_id)))


def read_bundle(path: Path, public_keys: list[Any]) -> dict[str, Any]:
    """Verify a bundle's signature and every member; return its manifest. ReleaseError says why."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            members = {m.name: m for m in tar.getmembers()}
            if MANIFEST not in members or SIGNATURE not in members:
                raise ReleaseError("not a release bundle (release.json or release.sig missing)",
                                   "build bundles with nic-fleet release build")
            raw = _read(tar, members[MANIFEST], 1 << 20)
            sig = _read(tar, members[SIGNATURE], 1024).decode("ascii", "replace").strip()
            if not ed25519.verify(public_keys, raw, sig):
                raise ReleaseError("release signature does not verify with the trusted key(s)",
                                   "signed with another fleet's key, or altered after signing")
            manifest = json.loads(raw)
            if manifest.get("format") != FORMAT:
                raise ReleaseError(f"release format {manifest.get('format')!r} is not {FORMAT}",
                                   "update the updater first")
            check_version(manifest.get("version"))
            files: dict[str, Any] = manifest.get("files") or {}
            extra = set(members) - set(files) - {MANIFEST, SIGNATURE}
            if extra:
                raise ReleaseError(f"bundle holds files its manifest does not list: {sorted(extra)[:3]}",
                                   "rebuild the bundle")
            for name, want in files.items():
                m = members.get(name)
                if m is None or not m.isfile() or not _WHEEL_RE.match(name):
                    raise ReleaseError(f"bundle member {name!r} missing or not a wheel", "rebuild the bundle")
                data = _read(tar, m, 1 << 31)
                if len(data) != want.get("size") or hashlib.sha256(data).hexdigest() != want.get("sha256"):
                    raise ReleaseError(f"{name} does not match the signed manifest", "the bundle was altered")
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise ReleaseError(f"unreadable release bundle: {exc}", "download it again") from None
    return dict(manifest)


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    if member.size > limit:
        raise ReleaseError(f"bundle member {member.name} is too large", "rebuild the bundle")
    fh = tar.extractfile(member)
    if fh is None:
        raise ReleaseError(f"bundle member {member.name} is not a file", "rebuild the bundle")
    return fh.read()


def extract_wheels(path: Path, manifest: dict[str, Any], dest: Path) -> list[Path]:
    """Write the (already verified) wheels into ``dest``; checks each again as written."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with tarfile.open(path, mode="r:") as tar:
        for name, want in sorted(manifest["files"].items()):
            data = _read(tar, tar.getmember(name), 1 << 31)
            if hashlib.sha256(data).hexdigest() != want["sha256"]:
                raise ReleaseError(f"{name} changed after verification", "download it again")
            target = dest / Path(name).name
            target.write_bytes(data)
            out.append(target)
    return out


def check_target(manifest: dict[str, Any], python: str | None = None, machine: str | None = None) -> None:
    """Refuse a bundle built for another python or CPU architecture than this box."""
    py = python or ".".join(platform.python_version_tuple()[:2])
    arch = machine or platform.machine()
    if manifest.get("python") and manifest["python"] != py:
        raise ReleaseError(f"bundle is for python {manifest['python']}, this box runs {py}",
                           "build with nic-fleet release build --python-version " + py)
    arches = manifest.get("arch") or []
    if arches and arch not in arches:
        raise ReleaseError(f"bundle is for {', '.join(arches)}, this box is {arch}",
                           f"build with nic-fleet release build --arch {arch}")
