"""``nic-fleet content verify / push / status``: announce signed bundles, read the reports.

Fleet-side: core (bundle format, Ed25519) and the MQTT payload schema only, never the engine.
``push`` publishes one retained, signed ``content/desired`` per device (signed for that device
id), so a box that is offline today applies the latest announcement when it reconnects; it then
waits for the ``content/reported`` answering that version.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from nic_edge.comms import content_schema as cs
from nic_edge.comms import schema
from nic_edge.core import bundle as bundle_file
from nic_edge.core import ed25519
from nic_edge.core.config import Config
from nic_edge.errors import NicEdgeError
from nic_edge.fleet.reports import summarize
from nic_edge.fleet.tools import FleetClient


def verify(path: Path, public_keys: list[Any]) -> dict[str, Any]:
    """Signature, manifest and every file's sha256; returns the manifest."""
    b = bundle_file.read_bundle(path, public_keys)
    bundle_file.check_files(b)
    return b.manifest


def describe(m: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m["created_at"]))
    return (f"version {m['version']}, created {when}Z, {len(m.get('sources', []))} source(s), "
            f"{m.get('chunks')} chunks, {m['total_bytes']} bytes of index, model {str(m.get('model_sha256'))[:12]}, "
            f"index format {m['index_format']}")


def announcement(path: Path, url: str) -> dict[str, Any]:
    """The unsigned ``content/desired`` body for a bundle file served at ``url``."""
    b = bundle_file.read_bundle(path, None)
    sha, size = bundle_file.file_digest(path)
    return cs.make_desired(b.version, url, size, sha, str(b.model_sha256), b.index_format)


def bundle_url(cfg: Config, path: Path, url: str | None) -> str:
    if url:
        return url
    if not cfg.fleet.content_url:
        raise NicEdgeError("no URL for the bundle", hint="pass --url or set fleet.content_url (the served folder's base URL)")
    return cfg.fleet.content_url.rstrip("/") + "/" + path.name


def _devices_seen(fc: FleetClient, prefix: str, wait: float) -> list[str]:
    seen = set()
    for topic, _payload, _ in fc.drain(time.monotonic() + wait):
        try:
            dev, kind = schema.parse_topic(topic, prefix)
        except schema.SchemaError:
            continue
        if kind in (schema.STATUS, schema.INFO):
            seen.add(dev)
    return sorted(seen)


def known_devices(cfg: Config, wait: float = 1.5) -> list[str]:
    """Every device with a retained status or info on the broker."""
    prefix = cfg.mqtt.topic_prefix
    fc = FleetClient(cfg, "devices")
    fc.connect([schema.subscription(prefix, schema.STATUS), schema.subscription(prefix, schema.INFO)])
    try:
        return _devices_seen(fc, prefix, wait)
    finally:
        fc.close()


def push(cfg: Config, path: Path, devices: list[str] | None, private_key: Any, url: str | None,
         timeout: float | None, no_wait: bool, out: Any = print) -> int:
    """Publish to ``devices`` (None: every device with a retained status/info); exit 1 unless all applied."""
    prefix = cfg.mqtt.topic_prefix
    ring = [private_key.public_key()]
    bundle_file.read_bundle(path, ring)  # refuse to announce a bundle this key did not sign
    body = announcement(path, bundle_url(cfg, path, url))
    fc = FleetClient(cfg, "content-push")
    subs = [schema.subscription(prefix, schema.CONTENT_REPORTED)]
    if devices is None:
        subs += [schema.subscription(prefix, schema.STATUS), schema.subscription(prefix, schema.INFO)]
    fc.connect(subs)
    try:
        if devices is None:
            devices = _devices_seen(fc, prefix, 1.5)
            if not devices:
                raise NicEdgeError("no devices seen on the broker", hint="name the devices, or check mqtt settings")
        for dev in devices:
            signed = cs.sign_desired(body, dev, private_key)
            fc.publish(schema.topic(prefix, dev, schema.CONTENT_DESIRED), cs.encode_desired(signed), retain=True)
        out(f"announced content version {body['version']} ({body['size']} bytes, {body['url']}) to {len(devices)} device(s)")
        if no_wait:
            return 0
        results = _wait_reports(fc, prefix, set(devices), body["version"],
                                timeout if timeout is not None else cfg.fleet.report_timeout_s)
    finally:
        fc.close()
    return summarize(devices, results, "no report yet (offline or still downloading); the retained "
                     "announcement applies when it can", out=out)


def _wait_reports(fc: FleetClient, prefix: str, devices: set[str], version: int,
                  timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(devices) and time.monotonic() < deadline:
        for topic, payload, retained in fc.drain(min(deadline, time.monotonic() + 0.2)):
            try:
                dev, kind = schema.parse_topic(topic, prefix)
                # A retained report predates this push (e.g. an earlier try of the same version).
                if retained or kind != schema.CONTENT_REPORTED or dev not in devices:
                    continue
                rep = cs.parse_reported(payload)
            except schema.SchemaError:
                continue
            if rep.get("version") == version:
                results[dev] = rep
    return results


def collect(cfg: Config, wait: float) -> dict[str, dict[str, Any]]:
    """Per device: the retained desired version and the retained report."""
    prefix = cfg.mqtt.topic_prefix
    fc = FleetClient(cfg, "content-status")
    fc.connect([schema.subscription(prefix, schema.CONTENT_DESIRED),
                schema.subscription(prefix, schema.CONTENT_REPORTED)])
    try:
        msgs = fc.drain(time.monotonic() + wait)
    finally:
        fc.close()
    rows: dict[str, dict[str, Any]] = {}
    for topic, payload, _ in msgs:
        try:
            dev, kind = schema.parse_topic(topic, prefix)
            row = rows.setdefault(dev, {"id": dev, "desired": None, "reported": None})
            if kind == schema.CONTENT_DESIRED and payload:
                row["desired"] = cs.parse_desired(payload)
            elif kind == schema.CONTENT_REPORTED:
                row["reported"] = cs.parse_reported(payload)
        except schema.SchemaError:
            continue
    return rows


def status(cfg: Config, as_json: bool, wait: float, out: Any = print) -> int:
    rows = [r for _, r in sorted(collect(cfg, wait).items())]
    if as_json:
        out(json.dumps({"devices": [{"id": r["id"], "desired_version": (r["desired"] or {}).get("version"),
                                     "reported": r["reported"]} for r in rows]}, indent=2))
        return 0
    if not rows:
        out("no content announcements or reports on the broker")
        return 0
    out(f"{'DEVICE':<20} {'DESIRED':>12} {'APPLIED':>12} {'LAST':<9} REASON")
    for r in rows:
        rep = r["reported"] or {}
        desired = (r["desired"] or {}).get("version")
        last = f"{rep.get('status', '-')}" + ("" if rep.get("version") in (None, desired) else f"@{rep['version']}")
        out(f"{r['id']:<20} {str(desired if desired is not None else '-'):>12} "
            f"{str(rep.get('applied_version') if rep.get('applied_version') is not None else '-'):>12} "
            f"{last:<9} {rep.get('reason') or ''}")
    return 0


def public_ring(paths: list[Path]) -> list[Any]:
    keys: list[Any] = []
    for p in paths:
        keys.extend(ed25519.load_public_keys(p))
    return keys
