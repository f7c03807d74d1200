"""``nic-fleet`` commands that talk to the broker: set-tier/clear-tier, status, alerts.

Fleet-side code: imports only core and the MQTT payload schema (never the engine). What a device
sent is untrusted: payloads are parsed by the schema (one bad box is skipped and named, never the
end of the command), an alert counts for its topic's device only (as in the aggregator), and
text printed for a person goes out without control characters.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import socket
import sys
import threading
import time
from typing import Any

from nic_edge.comms import content_schema, schema
from nic_edge.core import signing
from nic_edge.core.config import Config
from nic_edge.core.mqtt_client import connect_kwargs, make_client
from nic_edge.errors import NicEdgeError
from nic_edge.fleet.reports import summarize

log = logging.getLogger(__name__)

# C0 and C1 control characters, DEL included: a device's text must not drive the operator's
# terminal (ANSI escapes that recolour, retitle or hide lines)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(v: Any) -> str:
    """Device-sent text fit for a terminal line: control characters become "?"."""
    return _CONTROL.sub("?", "" if v is None else str(v))


def utc(ts: Any) -> str:
    """``YYYY-MM-DD HH:MM:SSZ``, or "?" for a time the platform cannot show (a box's broken clock
    must not end the command for the whole fleet; the schema bounds it, this is the last guard)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"
    except (OverflowError, OSError, ValueError, TypeError):
        return "?"


class FleetClient:
    """A short-lived MQTT session: connect, subscribe, collect messages into a queue."""

    def __init__(self, cfg: Config, purpose: str) -> None:
        self.cfg = cfg
        self.prefix = cfg.mqtt.topic_prefix
        cid = f"nic-fleet-{purpose}-{socket.gethostname()}-{os.getpid()}"[:64]
        self.client = make_client(cfg, cid)
        self.messages: "queue.Queue[tuple[str, bytes, bool]]" = queue.Queue()
        self._connected = threading.Event()
        self._error: str | None = None
        self._subs: list[str] = []
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            self._error = f"broker refused the connection: {reason_code}"
        else:
            for t in self._subs:
                client.subscribe(t, qos=1)
        self._connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.messages.put((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def connect(self, subscriptions: list[str], timeout: float = 10.0) -> None:
        self._subs = subscriptions
        kw = connect_kwargs(self.cfg)
        try:
            self.client.connect(kw["host"], kw["port"], kw["keepalive"])
        except (OSError, ValueError) as exc:
            raise NicEdgeError(f"cannot reach broker {kw['host']}:{kw['port']}: {exc}",
                               hint="check mqtt.host/mqtt.port and that the broker runs") from exc
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise NicEdgeError(f"no answer from broker {kw['host']}:{kw['port']} within {timeout:.0f}s",
                               hint="check mqtt.tls and the port")
        if self._error:
            self.close()
            raise NicEdgeError(self._error, hint="check mqtt.username / mqtt.password_file")

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            raise NicEdgeError(f"publishing to {topic} was not acknowledged", hint="check the broker ACLs")

    def drain(self, until: float) -> list[tuple[str, bytes, bool]]:
        out = []
        while True:
            left = until - time.monotonic()
            try:
                out.append(self.messages.get(timeout=max(0.0, left)) if left > 0 else self.messages.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def set_tier(cfg: Config, devices: list[str], tier: str | None, fleet_key: bytes,
             timeout: float | None, no_wait: bool) -> int:
    """Publish signed desired states, wait for each device's report; exit 1 unless all applied."""
    prefix = cfg.mqtt.topic_prefix
    fc = FleetClient(cfg, "set-tier")
    fc.connect([schema.reported_topic(prefix, d) for d in devices])
    try:
        # Versions must grow; milliseconds since the epoch do, and stay above what a device has
        # reported (an admin machine with a slow clock must not be taken for a replay).
        last: dict[str, int] = {}
        for topic, payload, _ in fc.drain(time.monotonic() + 0.5):
            try:
                dev, _kind = schema.parse_topic(topic, prefix)
                rep = schema.parse_reported(payload)
            except schema.SchemaError:
                continue
            if isinstance(rep.get("version"), int):
                last[dev] = max(last.get(dev, 0), rep["version"])
        now = time.time()
        wanted: dict[str, int] = {}
        for dev in devices:
            version = max(int(now * 1000), last.get(dev, 0) + 1)
            body = schema.make_desired(tier, version, now)
            body["sig"] = signing.sign(body, dev, signing.derive_device_key(fleet_key, dev))
            fc.publish(schema.desired_topic(prefix, dev), schema.encode_desired(body), retain=True)
            wanted[dev] = version
        if no_wait:
            for dev in devices:
                print(f"{dev}: published version {wanted[dev]}")
            return 0
        deadline = time.monotonic() + (timeout if timeout is not None else cfg.fleet.report_timeout_s)
        results: dict[str, dict[str, Any]] = {}
        while len(results) < len(devices) and time.monotonic() < deadline:
            for topic, payload, _ in fc.drain(min(deadline, time.monotonic() + 0.2)):
                try:
                    dev, _kind = schema.parse_topic(topic, prefix)
                    rep = schema.parse_reported(payload)
                except schema.SchemaError:
                    continue
                if dev in wanted and rep.get("version") == wanted[dev] and rep["status"] != "ignored":
                    results[dev] = rep
        return summarize(devices, results, "no report within the timeout (device offline?); desired state is "
                         "retained and applies when it connects",
                         lambda rep: f": tier {rep['tier']} from {rep['source']}",
                         want="cleared" if tier is None else "applied")
    finally:
        fc.close()


def collect_status(cfg: Config, wait: float) -> dict[str, dict[str, Any]]:
    prefix = cfg.mqtt.topic_prefix
    fc = FleetClient(cfg, "status")
    kinds = (schema.STATUS, schema.INFO, schema.REPORTED, schema.CONTENT_REPORTED)
    fc.connect([schema.subscription(prefix, k) for k in kinds])
    try:
        msgs = fc.drain(time.monotonic() + wait)
    finally:
        fc.close()
    devices: dict[str, dict[str, Any]] = {}
    for topic, payload, _ in msgs:
        try:
            dev, kind = schema.parse_topic(topic, prefix)
            d = devices.setdefault(dev, {"id": dev, "online": None, "tier": None, "source": None,
                                         "last_report": None, "version": None, "content": None})
            if kind == schema.STATUS:
                d["online"] = schema.parse_status(payload)
            elif kind == schema.INFO:
                info = schema.parse_info(payload)
                d["tier"] = d["tier"] or info.get("tier")
                d["info_ts"] = info.get("ts")
            elif kind == schema.REPORTED:
                rep = schema.parse_reported(payload)
                d.update(tier=rep["tier"], source=rep["source"], version=rep["version"],
                         last_report={"status": rep["status"], "reason": rep["reason"], "ts": rep["ts"]})
            elif kind == schema.CONTENT_REPORTED:
                d["content"] = content_schema.parse_reported(payload)
        except schema.SchemaError as exc:
            log.warning("ignoring %s: %s", topic, exc)
    return devices


def status(cfg: Config, as_json: bool, wait: float) -> int:
    devices = collect_status(cfg, wait)
    rows = [devices[k] for k in sorted(devices)]
    if as_json:
        print(json.dumps({"devices": rows}, indent=2))
        return 0
    if not rows:
        print("no devices seen (nothing retained under %s/+/status)" % cfg.mqtt.topic_prefix)
        return 0
    print(f"{'DEVICE':<20} {'STATE':<8} {'TIER':<11} {'SOURCE':<9} {'CONTENT':>12} LAST REPORT")
    for d in rows:
        state = {True: "online", False: "offline", None: "?"}[d["online"]]
        lr = d["last_report"]
        last = "-" if not lr else f"{plain(lr['status'])} {utc(lr['ts'])}"
        content = (d["content"] or {}).get("applied_version")
        print(f"{plain(d['id']):<20} {state:<8} {plain(d['tier'] or '-'):<11} {plain(d['source'] or '-'):<9} "
              f"{'-' if content is None else plain(content):>12} {last}")
    return 0


def alerts(cfg: Config, follow: bool, wait: float, as_json: bool) -> int:
    prefix = cfg.mqtt.topic_prefix
    fc = FleetClient(cfg, "alerts")
    fc.connect([schema.subscription(prefix, schema.ALERTS)])
    seen: set[tuple[str, str, str]] = set()
    impostors: set[str] = set()
    try:
        end = None if follow else time.monotonic() + wait
        while end is None or time.monotonic() < end:
            step = time.monotonic() + 0.5 if end is None else min(end, time.monotonic() + 0.5)
            for topic, payload, _ in fc.drain(step):
                try:
                    dev, _ = schema.parse_topic(topic, prefix)
                    a = schema.parse_alert(payload)
                except schema.SchemaError:
                    continue
                if a["device"] != dev:  # the topic is the device's identity (broker ACL), not the payload
                    if topic not in impostors:  # once per topic: --follow must not flood the terminal
                        impostors.add(topic)
                        log.warning("ignoring alerts on %s that claim to come from %r", topic, a["device"][:64])
                    continue
                key = (dev, a["alert_id"], a["state"])
                if key in seen:  # replayed or re-delivered: de-duplicate on alert_id + state
                    continue
                seen.add(key)
                if as_json:
                    print(json.dumps(a), flush=True)
                else:
                    print(f"{utc(a['ts'])} {plain(dev)} {a['severity'].upper():<8} {a['state']:<8} "
                          f"{plain(a['rule'])}: {plain(a['message'])}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        fc.close()
    if not seen and not follow:
        print("no alerts received", file=sys.stderr)
    return 0


def forget(cfg: Config, devices: list[str]) -> int:
    """Delete every retained message of each device (status last); a running aggregator drops
    the device, its history and page when it sees the status deleted. A box that is still
    running publishes its status again on its next connect and reappears."""
    prefix = cfg.mqtt.topic_prefix
    topics = {dev: schema.retained_topics(prefix, dev) for dev in devices}  # the id rule, before any write
    fc = FleetClient(cfg, "forget")
    fc.connect([])
    try:
        for dev, names in topics.items():
            for t in names:
                fc.publish(t, b"", retain=True)  # an empty retained publish deletes it at the broker
            print(f"{dev}: forgotten (retained topics cleared; aggregators drop it)")
    finally:
        fc.close()
    return 0
