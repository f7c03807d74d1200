"""L2 value format: msgpack [format, stored_at, fingerprint, raw_size, compressed, body].

``body`` is the msgpack-encoded answer, zlib-compressed only when it is at least
``compress_min_bytes`` long AND the compressed form is smaller (short or already dense answers
would grow). ``raw_size`` lets decode detect a damaged body.
"""

from __future__ import annotations

import zlib
from typing import Any

FORMAT = 1


def to_builtin(obj: Any) -> Any:
    """msgpack ``default``: numpy scalars/arrays sneak into answers; store plain types."""
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return obj.item()
        except ValueError:
            pass
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot encode {type(obj).__name__} in a cached answer")


def encode_entry(msgpack: Any, answer: dict, fingerprint: str, stored_at: float,
                 compress_min_bytes: int, raw: bytes | None = None) -> tuple[bytes, int, bool]:
    """(value, raw_size, compressed); ``raw`` is the answer's msgpack when already known."""
    if raw is None:
        raw = msgpack.packb(answer, use_bin_type=True, default=to_builtin)
    body, compressed = raw, False
    if len(raw) >= compress_min_bytes:
        packed = zlib.compress(raw, 6)
        if len(packed) < len(raw):
            body, compressed = packed, True
    value = msgpack.packb([FORMAT, stored_at, fingerprint, len(raw), compressed, body],
                          use_bin_type=True)
    return value, len(raw), compressed


def decode_entry(msgpack: Any, value: bytes) -> tuple[dict, str, float]:
    """(answer, fingerprint, stored_at); ValueError for anything malformed."""
    try:
        fmt, stored_at, fp, raw_size, compressed, body = msgpack.unpackb(value, raw=False)
        if fmt != FORMAT or not isinstance(body, bytes):
            raise ValueError("unknown entry format")
        raw = zlib.decompress(body) if compressed else body
        if len(raw) != raw_size:
            raise ValueError("size mismatch")
        answer = msgpack.unpackb(raw, raw=False)
    except (ValueError, TypeError, zlib.error, msgpack.UnpackException) as exc:
        raise ValueError(f"bad cache entry: {exc}") from exc
    if not isinstance(answer, dict) or not isinstance(fp, str):
        raise ValueError("bad cache entry: not an answer")
    return answer, fp, float(stored_at)


def entry_stored_at(msgpack: Any, value: bytes) -> float:
    """stored_at of an entry, 0.0 when unreadable (its index key is then simply not found)."""
    try:
        return float(msgpack.unpackb(value, raw=False)[1])
    except (ValueError, TypeError, IndexError, msgpack.UnpackException):
        return 0.0
