"""Payloads of ``content/desired`` and ``content/reported`` (topics: comms/schema.py).

``content/desired`` is retained and signed by the fleet tool with the Ed25519 content signing
key: ``sig`` is base64 over ``core.signing.canonical_bytes`` (sorted-key compact JSON of the
payload minus ``sig``, plus the device id), so one device's announcement cannot be replayed to
another. Strict: unknown keys are refused. ``content/reported`` is the box's answer; it may
carry ``applied_version`` (what the box runs now) next to the version it answers.
Pure stdlib (the fleet side imports it).
"""

from __future__ import annotations

from typing import Any

from nic_edge.comms import checks as c
from nic_edge.comms.schema import CONTENT_DESIRED, CONTENT_REPORTED, SchemaError, _validate, dumps, loads
from nic_edge.core import ed25519, signing

CONTENT_STATUSES = ("applied", "rejected", "failed")


def _hex64(v: Any) -> str | None:
    ok = isinstance(v, str) and len(v) == 64 and all(ch in "0123456789abcdef" for ch in v)
    return None if ok else "must be 64 lowercase hex characters (sha256)"


def _url(v: Any) -> str | None:
    if not isinstance(v, str) or not v.startswith(("http://", "https://")) or len(v) > 2048:
        return "must be an http:// or https:// URL (at most 2048 characters)"
    if any(ch.isspace() or not ch.isprintable() for ch in v):
        return "must not contain spaces or control characters"
    return None


def _b64sig(v: Any) -> str | None:
    ok = isinstance(v, str) and 80 <= len(v) <= 100
    return None if ok else "must be a base64 Ed25519 signature"


_DESIRED_FIELDS: dict[str, c.Check] = {
    "version": c.integer(0), "url": _url, "size": c.integer(0), "sha256": _hex64,
    "model_sha256": c.string(128), "format": c.integer(1), "sig": _b64sig,
}
_REPORTED_FIELDS: dict[str, c.Check] = {
    "version": c.nullable(c.integer(0)), "status": c.one_of(CONTENT_STATUSES),
    "reason": c.nullable(c.string(c.MAX_STR, empty=True)), "ts": c.number,
}


def make_desired(version: int, url: str, size: int, sha256: str, model_sha256: str,
                 fmt: int) -> dict[str, Any]:
    return {"version": int(version), "url": url, "size": int(size), "sha256": sha256,
            "model_sha256": model_sha256, "format": int(fmt)}


def sign_desired(body: dict[str, Any], device: str, private_key: Any) -> dict[str, Any]:
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    return dict(unsigned, sig=ed25519.sign(private_key, signing.canonical_bytes(unsigned, device)))


def verify_desired(desired: dict[str, Any], device: str, public_keys: list[Any]) -> None:
    """SignatureError unless a trusted key signed this announcement for this device."""
    ed25519.require(public_keys, signing.canonical_bytes(desired, device), desired.get("sig", ""),
                    "content/desired")


def encode_desired(d: dict[str, Any]) -> bytes:
    return dumps(_validate(d, CONTENT_DESIRED, _DESIRED_FIELDS, strict=True), CONTENT_DESIRED)


def parse_desired(payload: bytes) -> dict[str, Any] | None:
    """None for an empty payload (a deleted retained message: nothing to do)."""
    if len(payload) == 0:
        return None
    return _validate(loads(payload, CONTENT_DESIRED), CONTENT_DESIRED, _DESIRED_FIELDS, strict=True)


def make_reported(version: int | None, status: str, reason: str | None, ts: float,
                  applied_version: int | None = None) -> dict[str, Any]:
    return {"version": version, "status": status, "reason": reason, "ts": ts,
            "applied_version": applied_version}


def encode_reported(d: dict[str, Any]) -> bytes:
    return dumps(_validate(d, CONTENT_REPORTED, _REPORTED_FIELDS), CONTENT_REPORTED)


def parse_reported(payload: bytes) -> dict[str, Any]:
    d = _validate(loads(payload, CONTENT_REPORTED), CONTENT_REPORTED, _REPORTED_FIELDS)
    av = d.get("applied_version")
    if av is not None and (isinstance(av, bool) or not isinstance(av, int)):
        raise SchemaError("content/reported.applied_version: must be an integer or null")
    return d
