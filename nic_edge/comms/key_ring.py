"""The device's HMAC key ring for tier overrides during a fleet key rotation.

``<data_dir>/device-keys`` (hex, one key per line, oldest first, mode 0600) exists only once a
rotation has reached the box; it then wins over the flashed device key. Verification tries the
newest key first and says which key matched, so the caller can retire the older one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nic_edge.core import signing
from nic_edge.core.storage import atomic_write_bytes
from nic_edge.errors import SignatureError

log = logging.getLogger(__name__)

RING_FILE = "device-keys"


def load(data_dir: Path) -> list[bytes] | None:
    try:
        text = (Path(data_dir) / RING_FILE).read_text("ascii")
    except FileNotFoundError:
        return None
    try:
        keys = [bytes.fromhex(line) for line in text.split() if line]
    except ValueError:
        log.error("%s is not hex keys; using the flashed device key", Path(data_dir) / RING_FILE)
        return None
    return keys or None


def save(data_dir: Path, keys: list[bytes]) -> None:
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(data_dir) / RING_FILE, "".join(k.hex() + "\n" for k in keys).encode("ascii"), mode=0o600)


def verify(payload: dict[str, Any], device_id: str, keys: list[bytes]) -> bytes:
    """The key (newest first) whose signature matches; SignatureError from the newest otherwise."""
    error: SignatureError | None = None
    for key in reversed(keys):
        try:
            signing.verify(payload, device_id, key)
            return key
        except SignatureError as exc:
            error = error or exc
    assert error is not None
    raise error


def unwrap(keys: list[bytes], blob: str, device_id: str) -> bytes:
    from nic_edge.core import keywrap

    return keywrap.unwrap(list(reversed(keys)), blob, device_id)
