"""Wrap a box's next HMAC device key under its current one (AES-256-GCM, ``cryptography``).

A fleet HMAC key rotation must reach each box without reflashing, and the new per-device key is
a secret: the fleet tool encrypts it with the key the box already holds (only that box and the
fleet know it), binds it to the device id (associated data), and ships the blobs inside the next
signed content bundle. The nonce is derived from the two keys (HMAC-SHA256), so a bundle stays
byte-identical for the same inputs; a (key, nonce) pair is only ever reused for the same
plaintext, which reveals nothing new.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from nic_edge.core.ed25519 import need_cryptography
from nic_edge.errors import SignatureError

_AAD = b"nic-edge device key rotation v1\x00"


def _aesgcm(kek: bytes):  # type: ignore[no-untyped-def]
    need_cryptography()
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    return AESGCM(hashlib.sha256(b"nic-edge kek v1\x00" + kek).digest())


def wrap(kek: bytes, key: bytes, device_id: str) -> str:
    nonce = hmac.new(kek, b"nic-edge wrap nonce v1\x00" + key, hashlib.sha256).digest()[:12]
    ct = _aesgcm(kek).encrypt(nonce, key, _AAD + device_id.encode("utf-8"))
    return base64.b64encode(nonce + ct).decode("ascii")


def unwrap(keks: list[bytes], blob: str, device_id: str) -> bytes:
    """The wrapped key, with whichever of ``keks`` it was wrapped under; SignatureError otherwise."""
    from cryptography.exceptions import InvalidTag

    try:
        raw = base64.b64decode(blob.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise SignatureError("wrapped device key is not base64") from exc
    if len(raw) < 12 + 16 + 16:
        raise SignatureError("wrapped device key is too short")
    for kek in keks:
        try:
            return _aesgcm(kek).decrypt(raw[:12], raw[12:], _AAD + device_id.encode("utf-8"))
        except InvalidTag:
            continue
    raise SignatureError("wrapped device key does not open with this box's key",
                         hint="the box missed an earlier rotation: re-flash its device key")
