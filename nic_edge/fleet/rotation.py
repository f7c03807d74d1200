"""``nic-fleet rotate-key``: replace the content signing key (or, with ``--hmac``, the fleet
HMAC key of tier overrides) without reflashing any box.

Boxes learn public keys from the bundles themselves: every bundle carries ``trusted_keys`` in
its signed manifest, and a box that applies it trusts exactly those keys from then on (the
flashed ``fleet.signing_pub_file`` only bootstraps a box that has applied no bundle yet).

1. ``rotate-key`` (start) writes the next key pair beside the current one (``KEY.next``,
   ``KEY.next.pub``) and a record ``KEY.rotation.json``. From now on ``content build`` signs with
   the current key and lists both public keys: the overlap window, both accepted.
2. Build and push a bundle. ``rotate-key --status`` lists, per device, whether it has applied a
   bundle that carries the new key (its reported ``applied_version`` >= the first such version).
3. ``rotate-key --finish`` (refused while a known device lacks the new key, unless ``--force``)
   makes the next key current (the old files are kept as ``KEY.retired-<time>``). Bundles are
   now signed with the new key and list only it, so applying one retires the old key on the box.

The fleet HMAC key (``--hmac DEVICE... | --all``) goes the same way: ``KEY.next`` is a new fleet
key; while the rotation is open every bundle carries, per listed device, its next derived key
wrapped under its current one (core/keywrap.py); a box that applies the bundle accepts tier
overrides signed with either key, and retires the old one at the first override signed with
the new one. ``--finish`` makes the new fleet key current for ``set-tier``.
Fleet-side: core and the payload schema only.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from nic_edge.core import ed25519, keywrap, signing
from nic_edge.core.storage import atomic_write_bytes
from nic_edge.errors import NicEdgeError


def next_path(key: Path) -> Path:
    return key.with_name(key.name + ".next")


def record_path(key: Path) -> Path:
    return key.with_name(key.name + ".rotation.json")


def read_record(key: Path) -> dict[str, Any] | None:
    try:
        return json.loads(record_path(key).read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise NicEdgeError(f"rotation record {record_path(key)} unreadable: {exc}", hint="fix or remove it") from exc


def _write_record(key: Path, rec: dict[str, Any]) -> None:
    atomic_write_bytes(record_path(key), json.dumps(rec, indent=1).encode("utf-8"))


def trusted_pems(key: Path) -> list[bytes]:
    """Public keys a bundle signed with ``key`` lists: the key's own, plus the next during a rotation."""
    pems = [ed25519.public_pem(ed25519.load_private(key))]
    nxt = next_path(key)
    if nxt.exists():
        pems.append(ed25519.public_pem(ed25519.load_private(nxt)))
    return pems


def wrapped_device_keys(fleet_key: Path) -> dict[str, str] | None:
    """During an HMAC rotation: {device: its next device key wrapped under its current one}."""
    rec = read_record(fleet_key)
    if rec is None or rec.get("state") != "overlap" or rec.get("kind") != "hmac":
        return None
    old, new = signing.read_key(fleet_key), signing.read_key(next_path(fleet_key))
    return {dev: keywrap.wrap(signing.derive_device_key(old, dev), signing.derive_device_key(new, dev), dev)
            for dev in rec["devices"]}


def start_hmac(key: Path, devices: list[str], now: float | None = None) -> dict[str, Any]:
    if not key.exists():
        raise NicEdgeError(f"no fleet key at {key}", hint="check fleet.key_file")
    if not devices:
        raise NicEdgeError("no devices for the HMAC key rotation", hint="name them or pass --all")
    rec = read_record(key)
    if rec is not None and rec.get("state") == "overlap":
        raise NicEdgeError("a rotation is already in progress", hint="nic-fleet rotate-key --hmac --status / --finish")
    signing.write_key(next_path(key), signing.generate_key())
    rec = {"kind": "hmac", "state": "overlap", "started_at": now or time.time(),
           "old_key_id": _hmac_id(signing.read_key(key)), "new_key_id": _hmac_id(signing.read_key(next_path(key))),
           "devices": sorted(set(devices)), "first_version": None, "history": (rec or {}).get("history", [])}
    _write_record(key, rec)
    return rec


def _hmac_id(key: bytes) -> str:
    import hashlib
    return hashlib.sha256(b"nic-edge key id\x00" + key).hexdigest()[:16]


def note_build(key: Path, version: int) -> None:
    """Called by ``content build``: the first bundle carrying the next key is what boxes need."""
    rec = read_record(key)
    if rec is None or rec.get("state") != "overlap":
        return
    if rec.get("first_version") is None or version < rec["first_version"]:
        rec["first_version"] = version
        _write_record(key, rec)


def start(key: Path, now: float | None = None) -> dict[str, Any]:
    if not key.exists():
        raise NicEdgeError(f"no signing key at {key}", hint="nic-fleet keygen --signing --out FILE first")
    rec = read_record(key)
    if rec is not None and rec.get("state") == "overlap":
        raise NicEdgeError("a rotation is already in progress", hint="nic-fleet rotate-key --status / --finish")
    ed25519.generate(next_path(key))
    rec = {"kind": "signing", "state": "overlap", "started_at": now or time.time(),
           "old_key_id": ed25519.key_id(ed25519.load_private(key)),
           "new_key_id": ed25519.key_id(ed25519.load_private(next_path(key))), "first_version": None,
           "history": (rec or {}).get("history", [])}
    _write_record(key, rec)
    return rec


def device_rows(rec: dict[str, Any], reports: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Per device: has it applied a bundle carrying the new key?"""
    first = rec.get("first_version")
    # An HMAC rotation names its devices: each must get the new key, reported or not.
    reports = {**{dev: None for dev in rec.get("devices", [])}, **reports}
    rows = []
    for dev, rep in sorted(reports.items()):
        applied = (rep or {}).get("applied_version")
        has = first is not None and isinstance(applied, int) and applied >= first
        rows.append({"id": dev, "applied_version": applied, "has_new_key": has})
    return rows


def finish(key: Path, reports: dict[str, dict[str, Any] | None], force: bool, now: float | None = None) -> dict[str, Any]:
    rec = read_record(key)
    if rec is None or rec.get("state") != "overlap":
        raise NicEdgeError("no rotation in progress", hint="start one with nic-fleet rotate-key")
    missing = [r["id"] for r in device_rows(rec, reports) if not r["has_new_key"]]
    if rec.get("first_version") is None:
        raise NicEdgeError("no bundle carrying the new key was built yet",
                           hint="nic-fleet content build ... then content push, before --finish")
    if missing and not force:
        raise NicEdgeError(f"{len(missing)} device(s) lack the new key: {', '.join(missing[:10])}",
                           hint="push a bundle to them first, or --force (they then need reflashing)")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now or time.time()))
    nxt = next_path(key)
    for suffix in ("",) if rec.get("kind") == "hmac" else ("", ".pub"):
        old, new = Path(str(key) + suffix), Path(str(nxt) + suffix)
        os.replace(old, Path(f"{key}.retired-{stamp}{suffix}"))
        os.replace(new, old)
    rec["history"] = rec.get("history", []) + [{
        "old_key_id": rec["old_key_id"], "new_key_id": rec["new_key_id"], "started_at": rec["started_at"],
        "finished_at": now or time.time(), "first_version": rec["first_version"], "forced_without": missing}]
    rec.update(state="finished", finished_at=now or time.time())
    _write_record(key, rec)
    return rec
