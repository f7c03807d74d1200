"""Fleet keys and HMAC-SHA256 signatures for desired-state messages.

The fleet key never leaves the admin's machine. Each device holds only a key derived from the
fleet key and its own id (HMAC-SHA256(fleet_key, "nic-edge device key v1" || device_id)), so a
key stolen from one box cannot sign overrides for another box.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from nic_edge.errors import NicEdgeError, SignatureError

KEY_BYTES = 32
_DERIVE_LABEL = b"nic-edge device key v1\x00"


def generate_key() -> bytes:
    """A fresh random fleet key."""
    return secrets.token_bytes(KEY_BYTES)


def derive_device_key(fleet_key: bytes, device_id: str) -> bytes:
    """The per-device key a box holds; derived, so the fleet tool can recompute it."""
    if not device_id:
        raise NicEdgeError("device id is empty", hint="give the device an id (device.id)")
    return hmac.new(fleet_key, _DERIVE_LABEL + device_id.encode("utf-8"), hashlib.sha256).digest()


def canonical_bytes(payload: dict[str, Any], device_id: str) -> bytes:
    """Canonical encoding signed: sorted-key compact JSON of the payload minus ``sig``, plus id."""
    body = {k: v for k, v in payload.items() if k != "sig"}
    body["device"] = device_id
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign(payload: dict[str, Any], device_id: str, device_key: bytes) -> str:
    """Hex HMAC-SHA256 of the canonical encoding."""
    return hmac.new(device_key, canonical_bytes(payload, device_id), hashlib.sha256).hexdigest()


def verify(payload: dict[str, Any], device_id: str, device_key: bytes) -> None:
    """Raise SignatureError unless ``payload['sig']`` is the right signature."""
    sig = payload.get("sig")
    if not isinstance(sig, str) or not sig:
        raise SignatureError("missing signature", hint="sign the desired state with nic-fleet")
    expected = sign(payload, device_id, device_key)
    if not hmac.compare_digest(sig.lower(), expected):
        raise SignatureError("bad signature", hint="the sender's key does not match this device's key")


def write_key(path: Path, key: bytes) -> None:
    """Write a key as hex, mode 0600, atomically; refuses to overwrite an existing key."""
    if path.exists():
        raise NicEdgeError(f"{path} already exists", hint="remove it first or choose another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key.hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_key(path: Path) -> bytes:
    """Read a hex key file written by write_key."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise NicEdgeError(f"cannot read key file {path}: {exc}", hint="check fleet.key_file") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise NicEdgeError(f"key file {path} is not hex", hint="create it with nic-fleet keygen") from exc
    if len(key) < 16:
        raise NicEdgeError(f"key in {path} is too short", hint="create it with nic-fleet keygen")
    return key
