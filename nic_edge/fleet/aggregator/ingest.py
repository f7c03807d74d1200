"""MQTT ingestion: subscribe to the fleet's topics, validate with the schema, feed FleetState.

``Ingestor.handle(topic, payload, retained)`` is the whole pipeline for one message and has no
MQTT dependency (the benchmark and tests feed it directly). ``MqttIngest`` is the service that
owns the paho client: plain ``nic/+/<kind>`` filters, or MQTT 5 shared subscriptions
``$share/<group>/nic/+/<kind>`` when ``aggregator.shared_group`` is set, so several aggregators
behind a clustered broker split the fleet. A bad payload is counted and logged once per device;
nothing a device sends can stop ingestion. Beyond the schema (which bounds device clocks), a
latency sketch of another accuracy is refused (it could never be merged) and a gauge outside its
plausible range is dropped, so nothing derived from it later (ratios, means) overflows.

Decoding: metrics and alerts are the hot path. With ``orjson`` installed they are decoded by it
(3x faster than ``json`` on sketch-heavy snapshots) and then checked by the same
``schema.validate_*``; orjson rejects invalid UTF-8, NaN/Infinity and deep nesting like the
schema does, but keeps the last of duplicate keys where ``schema.loads`` refuses them.
``strict=True`` always uses ``schema.parse_*``. Received PUBLISH packets take the lean path of
netbuf.py (paho keeps the session); ``MqttIngest.buffered = False`` gives paho's own path.

Acknowledgement: with ``aggregator.ack_after_commit`` (auto: on with MQTT 5) a PUBACK leaves only
once the LMDB commit holding the message's data is done (``FleetState.flush`` marks and releases
through ``ack_mark``/``release_acks``), so a killed aggregator loses nothing: the broker re-sends
what was not acknowledged. The broker must let ~a commit interval of traffic wait
unacknowledged: the CONNECT asks for MQTT 5's Receive Maximum of 65,535.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Callable

from nic_edge.comms import content_schema, schema
from nic_edge.core.config import Config
from nic_edge.core.lifecycle import Service
from nic_edge.core.mqtt_client import connect_kwargs, make_client
from nic_edge.core.sketch import LatencySketch
from nic_edge.errors import ConfigError
from nic_edge.fleet.aggregator.buckets import FLEET_GAMMA, Point, mergeable
from nic_edge.fleet.aggregator.netbuf import buffered_client_class
from nic_edge.fleet.aggregator.device_state import num, small_count
from nic_edge.fleet.aggregator.state import FleetState

log = logging.getLogger(__name__)

SUBSCRIBED_KINDS = (schema.STATUS, schema.INFO, schema.METRICS, schema.ALERTS, schema.REPORTED,
                    schema.CONTENT_REPORTED)
# (gauge, resources key, lowest, highest plausible value): a value outside is dropped, so that
# derived numbers (memory / budget, fleet means, chart scales) stay finite and meaningful
_EXA = 1e18
_RES_KEYS = (("rss", "rss_bytes", 0.0, _EXA), ("budget", "memory_budget_bytes", 1.0, _EXA),
             ("temp", "cpu_temp_c", -273.15, 1000.0), ("cpu", "cpu_percent", 0.0, 1e5),
             ("disk_free", "disk_free_bytes", 0.0, _EXA), ("disk_total", "disk_total_bytes", 0.0, _EXA))
_NUM = (int, float)  # exact types: bool is not a number here


def _fast_loads() -> Callable[[bytes], Any] | None:
    try:
        import orjson  # noqa: PLC0415 - optional accelerator
    except ImportError:
        return None
    return orjson.loads


def _sketch_of(entry: Any) -> tuple[LatencySketch | None, dict[str, Any] | None, tuple[float, float, float] | None]:
    """A snapshot's latency entry is ``{p50,..,sketch}``; a bare sketch dict is accepted too.

    The entry's own p50/p95/p99 are kept only when they agree with the sketch's count and
    extremes, so a box cannot make its charts disagree with its histogram.
    """
    if type(entry) is not dict:
        return None, None, None
    d = entry.get("sketch", entry if "v" in entry else None)
    if d is None:
        return None, None, None
    sk = LatencySketch.from_dict(d)
    if not mergeable(sk):  # from_dict takes any gamma; the store and the fleet merge only ours
        raise schema.SchemaError(f"latency sketch gamma {sk.gamma:g} is not the fleet's {FLEET_GAMMA:g} "
                                 "(alpha 1 %): it cannot be merged")
    pct = entry.get("p50"), entry.get("p95"), entry.get("p99")
    ok = sk.count and entry.get("count") == sk.count and all(type(x) in _NUM for x in pct) \
        and sk.min <= pct[0] <= pct[1] <= pct[2] <= sk.max
    return sk, d, (pct if ok else None)  # type: ignore[return-value]


def _count(entry: Any) -> int:
    """Observations of one outcome: ``[p50, p95, p99, count, sum]`` (schema.light_entry) or the
    dict form older boxes send (``{"count"}``, or a bare sketch's ``n``)."""
    if type(entry) is list:
        c = entry[3] if len(entry) == len(schema.LIGHT_FIELDS) else None
    elif type(entry) is dict:
        c = entry.get("count", entry.get("n"))
    else:
        return 0
    return c if type(c) is int and c >= 0 else 0


def _str_or_none(v: Any) -> str | None:
    return v if type(v) is str else None


def to_point(m: dict[str, Any]) -> tuple[Point, dict[str, Any]]:
    """(series point, overview summary) of one validated metrics body; ValueError if malformed."""
    lat = m["latency"]
    sk, raw, pct = _sketch_of(lat.get("answer"))
    outcomes = lat.get("outcomes")
    if type(outcomes) is dict and outcomes:
        an, ab, er = _count(outcomes.get("answered")), _count(outcomes.get("abstained")), _count(outcomes.get("error"))
        q = an + ab + er
    else:
        an = ab = er = 0
        q = sk.count if sk is not None else 0
    res, summ = m["resources"], m.get("summary") or {}
    gauges: dict[str, float] = {}
    for g, k, lo, hi in _RES_KEYS:
        v = res.get(k)
        # float() first: an integer beyond float range is a bad payload (OverflowError), as before
        if type(v) in _NUM and lo <= (v := float(v)) <= hi:  # NaN fails every comparison
            gauges[g] = v
    hit = summ.get("cache_hit_rate")
    hit = float(hit) if type(hit) in _NUM and 0 <= hit <= 1 else None
    if hit is not None:
        gauges["hit"] = hit
    ts = float(m["ts"])
    point = Point(ts, q, an, ab, er, sk, gauges, raw, pct)
    spool = m.get("spool")
    backlog = (spool if type(spool) is dict else {}).get("backlog", res.get("spool_backlog"))
    drops = m["drops"]
    summary: dict[str, Any] = {
        "seq": m["seq"], "ts": ts, "replayed": m["replayed"], "questions": q, "abstained": ab,
        "tier": _str_or_none(m.get("tier")), "mode": _str_or_none(m.get("mode")),
        "p95_ms": num(summ.get("latency_p95_ms")), "cache_hit_rate": hit,
        "rss_bytes": gauges.get("rss"), "budget_bytes": gauges.get("budget"),
        "cpu_temp_c": gauges.get("temp"), "cpu_percent": gauges.get("cpu"),
        "disk_free_bytes": gauges.get("disk_free"), "disk_total_bytes": gauges.get("disk_total"),
        "memory_state": _str_or_none(res.get("memory_state")), "backlog": num(backlog),
        "drops": sum(drops.values()) if drops else 0, "alerts_active": small_count(summ.get("alerts_active")),
    }
    return point, summary


class Ingestor:
    """Topic + payload -> validated -> FleetState; counts and swallows bad input."""

    def __init__(self, state: FleetState, prefix: str = "nic", strict: bool = False,
                 on_alert: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.state = state
        self.prefix = prefix
        self.on_alert = on_alert
        self._loads = None if strict else _fast_loads()
        self.ignored = 0

    def _decode(self, payload: bytes, kind: str) -> Any:
        if self._loads is None:
            return schema.loads(payload, kind)
        if len(payload) > schema.MAX_PAYLOAD_BYTES[kind]:
            raise schema.SchemaError(f"{kind} payload too large")
        try:
            return self._loads(payload)
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            raise schema.SchemaError(f"{kind} payload is not JSON: {exc}") from None

    def handle(self, topic: str, payload: bytes, retained: bool = False) -> bool:
        """Apply one message; False when it was ignored, a duplicate or bad."""
        try:
            dev, kind = schema.parse_topic(topic, self.prefix)
        except schema.SchemaError:  # incl. device ids breaking the device rule (1-64 printable)
            self.ignored += 1
            return False
        if not payload and kind in schema.RETAINED:
            # a retained message was deleted; the status last (``nic-fleet forget``): device gone
            return self.state.forget(dev) if kind == schema.STATUS else False
        if not self.state.admit(dev):  # the device cap
            return False
        try:
            if kind == schema.METRICS:
                m = schema.validate_metrics(self._decode(payload, kind))
                self._check_device(dev, m)
                point, summary = to_point(m)
                return self.state.apply_metrics(dev, m, point, summary)
            if kind == schema.ALERTS:
                a = schema.validate_alert(self._decode(payload, kind))
                self._check_device(dev, a)
                new = self.state.apply_alert(dev, a)
                if new and self.on_alert is not None:
                    self.on_alert({**a, "device": dev})
                return new
            if kind == schema.STATUS:
                self.state.apply_status(dev, schema.parse_status(payload), retained)
            elif kind == schema.INFO:
                self.state.apply_info(dev, schema.parse_info(payload))
            elif kind == schema.REPORTED:
                self.state.apply_reported(dev, schema.parse_reported(payload))
            elif kind == schema.CONTENT_REPORTED:
                self.state.apply_content(dev, content_schema.parse_reported(payload))
            else:
                self.ignored += 1
                return False
            return True
        except (schema.SchemaError, ValueError, TypeError, KeyError, OverflowError) as exc:
            # OverflowError: an integer beyond float range where a gauge or time is expected
            self.state.bad_payload(dev, kind, str(exc))
            return False

    @staticmethod
    def _check_device(dev: str, body: dict[str, Any]) -> None:
        if body["device"] != dev:  # a box must not write into another box's history
            raise schema.SchemaError(f"payload device {body['device']!r} does not match topic device {dev!r}")


def subscriptions(cfg: Config) -> list[str]:
    group = cfg.aggregator.shared_group
    if group and cfg.mqtt.protocol != "5":
        raise ConfigError([("aggregator.shared_group", "shared subscriptions need MQTT 5: set mqtt.protocol = \"5\"")],
                          cfg.source)
    if group and any(c in group for c in "/+#"):
        raise ConfigError([("aggregator.shared_group", "must not contain '/', '+' or '#'")], cfg.source)
    filters = [schema.subscription(cfg.mqtt.topic_prefix, k) for k in SUBSCRIBED_KINDS]
    return [f"$share/{group}/{f}" for f in filters] if group else filters


class MqttIngest(Service):
    """The paho client (its own network thread via loop_start) feeding an Ingestor."""

    name = "aggregator-mqtt"
    threaded = False

    def __init__(self, cfg: Config, ingestor: Ingestor, client_id: str | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.ingestor = ingestor
        self.filters = subscriptions(cfg)
        self.client_id = client_id or cfg.mqtt.client_id or f"nic-aggregator-{socket.gethostname()}"
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._client: Any = None
        self._logged: str | None = None
        self._connected_at = -1e18  # monotonic time of the last CONNACK
        # shown on the dashboard: an unreachable broker must not read as an empty fleet
        self.broker: dict[str, Any] = {"address": f"{cfg.mqtt.host}:{cfg.mqtt.port}", "state": "connecting",
                                       "since": time.time(), "error": None, "failures": 0}
        self.buffered = True  # netbuf.BufferedClient: ~3x less CPU per received message than paho's path
        mode = cfg.aggregator.ack_after_commit
        # PUBACK only once committed: a killed aggregator loses nothing (the broker re-sends).
        # Needs the broker to let many messages wait unacknowledged: MQTT 5's Receive Maximum.
        self.hold_acks = mode == "on" or (mode == "auto" and cfg.mqtt.protocol == "5")
        # paho's own receive path (TLS, websockets) with held acks: paho's manual acks, the
        # (mid, qos) of each message in order, and a connection generation (mids are per connection)
        self._manual = False
        self._manual_lock = threading.Lock()
        self._manual_q: list[tuple[int, int]] = []
        self._manual_total = 0   # entries ever queued in this generation
        self._manual_acked = 0   # entries ever acknowledged in this generation
        self._generation = 0

    def on_start(self) -> None:
        # A persistent session (fixed client id, clean_session off / session expiry on MQTT 5):
        # the broker queues QoS 1 traffic while the aggregator restarts.
        client = make_client(self.cfg, self.client_id, clean_session=False,
                             client_class=buffered_client_class() if self.buffered else None)
        if self.buffered:
            client.fast_publish = self._on_publish  # the lean receive path (netbuf.py)
        log.info("snapshots are acknowledged %s", "after their LMDB commit" if self.hold_acks else
                 "on arrival (aggregator.ack_after_commit; with MQTT 5 they would wait for the commit)")
        if self.hold_acks:
            client.hold_acks = True  # netbuf's path; paho's own path: manual acks (_on_connect)
            self.ingestor.state.ack_gate = self
            if self.cfg.mqtt.protocol != "5":
                log.warning("aggregator.ack_after_commit is on with MQTT 3.1.1: the broker sends at most its "
                            "in-flight window of unacknowledged messages (mosquitto max_inflight_messages, "
                            "default 20) per commit interval; raise it, or use mqtt.protocol = \"5\"")
        client.reconnect_delay_set(1, int(max(1, self.cfg.mqtt.reconnect_max_s)))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = lambda *a: self.subscribed.set()
        client.on_message = self._on_message
        kw = connect_kwargs(self.cfg)
        if self.cfg.mqtt.protocol == "5":
            from paho.mqtt.packettypes import PacketTypes  # noqa: PLC0415 - lazy paho
            from paho.mqtt.properties import Properties  # noqa: PLC0415
            props = Properties(PacketTypes.CONNECT)
            # the broker queues QoS 1 traffic while we restart (or are killed)
            props.SessionExpiryInterval = self.cfg.aggregator.session_expiry_s
            if self.hold_acks:
                props.ReceiveMaximum = 65535  # unacknowledged messages the broker may send us
            kw.update(clean_start=False, properties=props)
        client.connect_async(**kw)
        client.loop_start()
        self._client = client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if rc.is_failure:
            self._set_broker("refused", str(rc))
            self._log_once(f"broker {self.broker['address']} refused the connection: {rc}")
            return
        self._logged = None
        self._connected_at = time.monotonic()
        self._set_broker("connected", None)
        log.info("connected to %s:%s, subscribing to %s", self.cfg.mqtt.host, self.cfg.mqtt.port, self.filters)
        if self.hold_acks:
            # netbuf holds the PUBACKs of a plain TCP connection; anything else takes paho's own
            # path, where paho's manual acks hold them (mids of an old connection are void now)
            manual = not (hasattr(client, "can_hold_acks") and client.can_hold_acks())
            with self._manual_lock:
                self._generation += 1
                self._manual_q, self._manual_total, self._manual_acked = [], 0, 0
                self._manual = manual
            client.manual_ack_set(manual)
        self.connected.set()
        client.subscribe([(f, 1) for f in self.filters])

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            self._set_broker("disconnected", str(rc))
            # MQTT 5 "Session taken over" (142), or (mosquitto 2.0 just closes the socket) a
            # connection dropped within seconds of its CONNACK: most likely a second client with
            # the same client id, i.e. two aggregators sharing one; they would take turns forever
            taken = getattr(rc, "value", None) == 142 or time.monotonic() - self._connected_at < 10.0
            self._log_once(f"disconnected from broker {self.broker['address']}: {rc}; reconnecting" + (
                f" (dropped right after connecting: does another client use the client id {self.client_id!r}? "
                "give each aggregator its own, --client-id or mqtt.client_id)" if taken else ""))

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        # paho's retry loop swallows the OSError (refused, no route, DNS): say so, once per state
        self._set_broker("unreachable", "cannot connect")
        self._log_once(f"cannot connect to broker {self.broker['address']}; retrying every "
                       f"{max(1, self.cfg.mqtt.reconnect_max_s):.0f} s at most (mqtt.host, mqtt.port)")

    def _set_broker(self, state: str, error: str | None) -> None:
        b = dict(self.broker)
        if b["state"] != state:
            b["since"] = time.time()
        b["failures"] = 0 if state == "connected" else b["failures"] + 1
        b["state"], b["error"] = state, error
        self.broker = b  # one assignment: readers on the render thread see old or new, never half

    def _log_once(self, msg: str) -> None:
        if msg != self._logged:
            self._logged = msg
            log.warning("%s", msg)

    def _on_publish(self, topic: str | None, payload: bytes, retain: bool) -> None:
        if topic is None:  # not UTF-8: not one of ours
            self.ingestor.ignored += 1
            return
        try:
            self.ingestor.handle(topic, payload, retain)
        except Exception:  # boundary: the network thread must survive anything (e.g. LMDB I/O error)
            log.exception("aggregator: message on %s could not be applied", topic)

    # the ack gate FleetState.flush uses (hold_acks): mark before the snapshot, release after commit
    def ack_mark(self) -> Any:
        client = self._client
        if client is None:
            return None
        with self._manual_lock:
            if self._manual:
                return ("manual", self._generation, self._manual_total)
        return client.ack_mark() if hasattr(client, "ack_mark") else None

    def release_acks(self, token: Any) -> None:
        client = self._client
        if client is None or token is None:
            return
        if token[0] != "manual":
            client.release_acks(token)
            return
        with self._manual_lock:
            if token[1] != self._generation:
                return  # a reconnect since: the broker re-sends those instead
            k = token[2] - self._manual_acked
            if k <= 0:
                return
            due, self._manual_q = self._manual_q[:k], self._manual_q[k:]
            self._manual_acked += k
        for mid, qos in due:  # paho queues them for its network thread (thread-safe)
            client.ack(mid, qos)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._on_publish(msg.topic, msg.payload, bool(msg.retain))  # paho's own receive path
        if self._manual and msg.qos:
            with self._manual_lock:
                if self._manual:
                    self._manual_q.append((msg.mid, msg.qos))
                    self._manual_total += 1

    def on_stop(self) -> None:
        if self._client is not None:
            if self.hold_acks:  # commit, so the PUBACKs leave before DISCONNECT (else: re-sent next time)
                self.ingestor.state.flush()
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
