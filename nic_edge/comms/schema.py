"""THE MQTT contract: topics and payloads, used by the device and by the fleet side alike.

Topics are ``<prefix>/<device>/<kind>`` (DESIGN.md, MQTT). Payloads are JSON on the wire
(``status`` is the bare word ``online``/``offline``). Every ``encode_*`` validates and returns
bytes; every ``parse_*`` takes untrusted bytes and returns a validated dict or raises
SchemaError (a ValueError) whose message is the reason, fit for a ``rejected`` report.

Telemetry payloads (info, metrics, alerts) tolerate unknown extra keys so an older aggregator
can read a newer box; the signed desired state is strict. Pure stdlib: the aggregator imports
this on a box without the model, numpy or lmdb.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

from nic_edge.comms import checks as c
from nic_edge.core.config import TIER_NAMES, device_id_problem
from nic_edge.errors import NicEdgeError

STATUS, INFO, METRICS, ALERTS = "status", "info", "metrics", "alerts"
DESIRED, REPORTED = "tier/desired", "tier/reported"
# Content updates (payloads: comms/content_schema.py).
CONTENT_DESIRED, CONTENT_REPORTED = "content/desired", "content/reported"
KINDS = (STATUS, INFO, METRICS, ALERTS, DESIRED, REPORTED, CONTENT_DESIRED, CONTENT_REPORTED)
RETAINED = frozenset({STATUS, INFO, DESIRED, REPORTED, CONTENT_DESIRED, CONTENT_REPORTED})
ONLINE, OFFLINE = b"online", b"offline"

# Largest payload accepted per kind. Metrics carry several latency sketches (a few KiB each);
# desired is tiny and signed, so anything big there is hostile.
MAX_PAYLOAD_BYTES: dict[str, int] = {STATUS: 16, INFO: 16 * 1024, METRICS: 256 * 1024, ALERTS: 8 * 1024,
                                      DESIRED: 1024, REPORTED: 2048,
                                      CONTENT_DESIRED: 4096, CONTENT_REPORTED: 2048}
SEVERITIES = ("info", "warning", "critical")
ALERT_STATES = ("firing", "resolved")
REPORT_STATUSES = ("applied", "rejected", "cleared", "ignored")
# Plain numbers a snapshot may carry for dashboards and Home Assistant (no sketch maths there).
SUMMARY_KEYS = ("latency_p50_ms", "latency_p95_ms", "cache_hit_rate", "memory_mib",
                "cpu_temp_c", "cpu_percent", "alerts_active")
_MAX_ID = 128


class SchemaError(NicEdgeError, ValueError):
    """A topic or payload does not follow the MQTT contract; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "see DESIGN.md, MQTT section (nic_edge/comms/schema.py)")

    def __str__(self) -> str:
        return self.message


# -- topics -----------------------------------------------------------------------------------
def topic(prefix: str, device: str, kind: str) -> str:
    if kind not in KINDS:
        raise SchemaError(f"unknown topic kind {kind!r}")
    if device_id_problem(device):
        raise SchemaError(f"device id {device[:100]!r} is not usable in a topic: {device_id_problem(device)}")
    return f"{prefix}/{device}/{kind}"


def status_topic(prefix: str, device: str) -> str:
    return topic(prefix, device, STATUS)


def info_topic(prefix: str, device: str) -> str:
    return topic(prefix, device, INFO)


def metrics_topic(prefix: str, device: str) -> str:
    return topic(prefix, device, METRICS)


def alerts_topic(prefix: str, device: str) -> str:
    return topic(prefix, device, ALERTS)


def desired_topic(prefix: str, device: str) -> str:
    return topic(prefix, device, DESIRED)


def reported_topic(prefix: str, device: str) -> str:
    return topic(prefix, device, REPORTED)


# Every retained topic of a device (DESIGN.md MQTT table), status last: ``nic-fleet forget`` clears
# them in this order, and an aggregator forgets a device when its retained status is cleared.
SHADOW_KINDS = ("content/desired", "content/reported", "software/desired", "software/reported")
FORGET_KINDS = (INFO, DESIRED, REPORTED, *SHADOW_KINDS, STATUS)


def retained_topics(prefix: str, device: str) -> list[str]:
    topic(prefix, device, STATUS)  # the device id rule
    return [f"{prefix}/{device}/{k}" for k in FORGET_KINDS]


def subscription(prefix: str, kind: str | None = None) -> str:
    """Wildcard filter over every device: ``nic/+/metrics``, or ``nic/#`` for all kinds."""
    if kind is None:
        return f"{prefix}/#"
    if kind not in KINDS:
        raise SchemaError(f"unknown topic kind {kind!r}")
    return f"{prefix}/+/{kind}"


def parse_topic(name: str, prefix: str = "nic") -> tuple[str, str]:
    """``nic/dev-a/tier/reported`` -> ("dev-a", "tier/reported"); SchemaError otherwise."""
    head = prefix + "/"
    if not name.startswith(head):
        raise SchemaError(f"topic {name!r} is not under prefix {prefix!r}")
    device, sep, kind = name[len(head):].partition("/")
    if not sep or not device or kind not in KINDS:
        raise SchemaError(f"topic {name[:200]!r} is not <prefix>/<device>/<kind>")
    problem = device_id_problem(device)  # e.g. a 600-character id would break LMDB keys downstream
    if problem:
        raise SchemaError(f"topic {name[:100]!r}: device id {problem}")
    return device, kind


# -- wire helpers ------------------------------------------------------------------------------
def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise SchemaError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise SchemaError(f"{name} is not allowed")


# Stateless decoders, built once. Metrics (a fleet aggregator's hot path) skip the duplicate-key
# hook: harmless there (last wins); signed and control payloads stay strict.
_decode_telemetry = json.JSONDecoder(parse_constant=_no_constant).decode
_decode_strict = json.JSONDecoder(object_pairs_hook=_no_dupes, parse_constant=_no_constant).decode


def loads(payload: bytes | bytearray | str, kind: str) -> Any:
    """Size check, strict UTF-8, strict JSON (no NaN, no duplicate keys, bounded nesting)."""
    raw = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    limit = MAX_PAYLOAD_BYTES[kind]
    if len(raw) > limit:
        raise SchemaError(f"{kind} payload too large ({len(raw)} > {limit} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SchemaError(f"{kind} payload is not valid UTF-8") from None
    try:
        return (_decode_telemetry if kind == METRICS else _decode_strict)(text)
    except RecursionError:
        raise SchemaError(f"{kind} payload nests too deeply") from None
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{kind} payload is not JSON: {exc.msg} at {exc.pos}") from None


def dumps(obj: Any, kind: str) -> bytes:
    try:
        raw = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"{kind} payload is not JSON-able: {exc}") from None
    if len(raw) > MAX_PAYLOAD_BYTES[kind]:
        raise SchemaError(f"{kind} payload too large ({len(raw)} > {MAX_PAYLOAD_BYTES[kind]} bytes)")
    return raw


def _validate(d: Any, kind: str, fields: dict[str, c.Check], strict: bool = False) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise SchemaError(f"{kind} payload must be a JSON object")
    missing = [k for k in fields if k not in d]
    if missing:
        raise SchemaError(f"{kind}: missing {', '.join(missing)}")
    if strict:
        extra = sorted(set(d) - set(fields))
        if extra:
            raise SchemaError(f"{kind}: unknown keys {', '.join(extra)}")
    for key, check in fields.items():
        msg = check(d[key])
        if msg:
            raise SchemaError(f"{kind}.{key}: {msg}")
    return d


# -- status ------------------------------------------------------------------------------------
def encode_status(online: bool) -> bytes:
    return ONLINE if online else OFFLINE


def parse_status(payload: bytes) -> bool:
    """True for ``online``, False for ``offline``."""
    raw = bytes(payload)
    if raw in (ONLINE, OFFLINE):
        return raw == ONLINE
    raise SchemaError("status payload must be 'online' or 'offline'")


# -- info --------------------------------------------------------------------------------------
_INFO_FIELDS: dict[str, c.Check] = {
    "device": c.string(_MAX_ID), "version": c.string(64), "ts": c.timestamp,
    "board": c.nullable(c.string(256, empty=True)), "ram_bytes": c.nullable(c.integer(0)),
    "tier": c.nullable(c.string(32)), "index": c.obj,
}


def encode_info(info: dict[str, Any]) -> bytes:
    return dumps(_validate(info, INFO, _INFO_FIELDS), INFO)


def parse_info(payload: bytes) -> dict[str, Any]:
    return _validate(loads(payload, INFO), INFO, _INFO_FIELDS)


# -- metrics -----------------------------------------------------------------------------------
_METRICS_FIELDS: dict[str, c.Check] = {
    "seq": c.integer(0), "ts": c.timestamp, "replayed": c.boolean, "device": c.string(_MAX_ID),
    "latency": c.fast_map(c.objects, c.obj), "cache": c.obj,
    "resources": c.obj, "counters": c.fast_map(c.finite_numbers, c.number), "drops": c.fast_map(c.naturals, c.integer(0)),
}
_summary_check = c.fast_map(c.finite_numbers, c.scalar)  # numbers mostly; strings and null take the slow path


# Wire precision: plain numbers keep 6 significant digits, integral floats go out as integers.
# The answer entry (percentiles plus its sketch, sent compact: LatencySketch.to_compact) is exact:
# the aggregator checks its percentiles against the sketch and merges the sketch.
LIGHT_FIELDS = ("p50", "p95", "p99", "count", "sum")


def _round(v: Any, digits: int = 6) -> Any:
    if type(v) is not float or not math.isfinite(v):
        return v
    return int(v) if v.is_integer() and abs(v) < 2 ** 53 else v if abs(v) >= 10 ** digits \
        else float(f"{v:.{digits}g}")


def light_entry(entry: dict[str, Any]) -> list[Any]:
    """A per-stage or per-outcome latency entry as ``[p50, p95, p99, count, sum]`` (seconds; null
    percentiles when count is 0), percentiles to 4 significant digits: they come from a sketch with
    1 % relative error. Only ``latency.answer`` carries a sketch (a snapshot stays ~1.7 KB)."""
    return [_round(entry.get(k), 4 if k[0] == "p" else 6) for k in LIGHT_FIELDS]


def build_metrics(snapshot: dict[str, Any], *, seq: int, device: str, ts: float,
                  replayed: bool = False, drops: dict[str, int] | None = None) -> dict[str, Any]:
    """Normalise a producer snapshot into the wire shape (missing sections become empty, plain
    numbers rounded: ``_round``)."""
    out = dict(snapshot)
    for key in ("latency", "cache", "resources", "counters"):
        out.setdefault(key, {})
    for key in ("cache", "resources", "counters", "summary"):
        if isinstance(out.get(key), dict):
            out[key] = {k: _round(v) for k, v in out[key].items()}
    out.update(seq=seq, device=device, replayed=replayed)
    out.setdefault("ts", ts)
    out["drops"] = dict(drops or out.get("drops") or {"metrics": 0, "alerts": 0})
    return out


def validate_metrics(d: Any) -> dict[str, Any]:
    d = _validate(d, METRICS, _METRICS_FIELDS)
    if "summary" in d:
        msg = _summary_check(d["summary"])
        if msg:
            raise SchemaError(f"metrics.summary: {msg}")
    return d


def encode_metrics(d: dict[str, Any]) -> bytes:
    return dumps(validate_metrics(d), METRICS)


def parse_metrics(payload: bytes) -> dict[str, Any]:
    """Validated snapshot; latency values stay dicts (``LatencySketch.from_dict`` each)."""
    return validate_metrics(loads(payload, METRICS))


# -- alerts ------------------------------------------------------------------------------------
_ALERT_FIELDS: dict[str, c.Check] = {
    "alert_id": c.string(_MAX_ID), "rule": c.string(_MAX_ID), "severity": c.one_of(SEVERITIES),
    "state": c.one_of(ALERT_STATES), "value": c.nullable(c.number), "threshold": c.nullable(c.number),
    "ts": c.timestamp, "message": c.string(c.MAX_STR, empty=True), "seq": c.integer(0),
    "device": c.string(_MAX_ID), "replayed": c.boolean,
}
# What a producer (telemetry.alerts.AlertEvent) must give; seq/device/replayed are added here.
ALERT_EVENT_KEYS = ("alert_id", "rule", "severity", "state", "value", "threshold", "ts", "message")


def build_alert(event: dict[str, Any], *, seq: int, device: str, replayed: bool = False) -> dict[str, Any]:
    out = dict(event)
    out.update(seq=seq, device=device, replayed=replayed)
    return out


def validate_alert(d: Any) -> dict[str, Any]:
    return _validate(d, ALERTS, _ALERT_FIELDS)


def encode_alert(d: dict[str, Any]) -> bytes:
    return dumps(validate_alert(d), ALERTS)


def parse_alert(payload: bytes) -> dict[str, Any]:
    return validate_alert(loads(payload, ALERTS))


# -- tier/desired (signed by the fleet tool; strict) -------------------------------------------
def _sig(v: Any) -> str | None:
    ok = isinstance(v, str) and len(v) == 64 and all(ch in "0123456789abcdefABCDEF" for ch in v)
    return None if ok else "must be 64 hex characters (HMAC-SHA256)"


_DESIRED_FIELDS: dict[str, c.Check] = {
    "tier": c.nullable(c.one_of(TIER_NAMES)), "version": c.integer(0), "issued_at": c.number, "sig": _sig,
}


def make_desired(tier: str | None, version: int, issued_at: float) -> dict[str, Any]:
    """The unsigned body; the fleet tool adds ``sig`` (core.signing.sign)."""
    return {"tier": tier, "version": version, "issued_at": issued_at}


def encode_desired(d: dict[str, Any]) -> bytes:
    return dumps(_validate(d, DESIRED, _DESIRED_FIELDS, strict=True), DESIRED)


def parse_desired(payload: bytes) -> dict[str, Any] | None:
    """None for an empty payload (a deleted retained message: ignored by contract)."""
    if len(payload) == 0:
        return None
    return _validate(loads(payload, DESIRED), DESIRED, _DESIRED_FIELDS, strict=True)


# -- tier/reported -----------------------------------------------------------------------------
_REPORTED_FIELDS: dict[str, c.Check] = {
    "tier": c.nullable(c.string(32)), "source": c.string(32), "version": c.nullable(c.integer(0)),
    "status": c.one_of(REPORT_STATUSES), "reason": c.nullable(c.string(c.MAX_STR, empty=True)),
    "ts": c.timestamp,
}


def make_reported(tier: str | None, source: str, version: int | None, status: str,
                  reason: str | None, ts: float) -> dict[str, Any]:
    return {"tier": tier, "source": source, "version": version, "status": status,
            "reason": reason, "ts": ts}


def encode_reported(d: dict[str, Any]) -> bytes:
    return dumps(_validate(d, REPORTED, _REPORTED_FIELDS), REPORTED)


def parse_reported(payload: bytes) -> dict[str, Any]:
    return _validate(loads(payload, REPORTED), REPORTED, _REPORTED_FIELDS)


ENCODERS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    INFO: encode_info, METRICS: encode_metrics, ALERTS: encode_alert,
    DESIRED: encode_desired, REPORTED: encode_reported,
}
