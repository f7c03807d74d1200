"""MQTT publisher service: status/info, then the outbox drained oldest first with QoS 1.

One named thread owns the paho client and runs its network loop (``client.loop``), so every
paho callback runs on that thread and the in-flight bookkeeping needs no lock. Producers call
``submit_metrics``/``submit_alert``: they only write the durable outbox and return; a dead
broker never slows the caller.

Reconnects are our own loop, with a fresh paho client per attempt: paho re-sends its own
queued QoS 1 messages after a reconnect, which would interleave with our ordered replay from
the outbox (the single source of truth). Backoff doubles from 1 s up to
``mqtt.reconnect_max_s`` with "equal jitter" (a delay in [d/2, d]) so a fleet does not
reconnect in lockstep after a broker restart.

A record leaves the outbox only after its PUBACK (``on_publish``). Records that were already
in the outbox when a connection came up are the backlog: sent first (seq order), flagged
``replayed: true`` and paced by ``mqtt.replay_rate_per_s``; newer records follow unpaced.

Without an outbox (it could not be opened: a full or read-only disk) the publisher still
connects: status, info, tier/content reports and the desired subscriptions work; metrics are
counted as dropped and the last alerts held in memory (``spool_gate``) until ``attach_outbox``
hands over the store the runtime re-opened.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable

from nic_edge import __version__
from nic_edge.comms import schema
from nic_edge.comms.backoff import backoff_delay, describe_connect_error
from nic_edge.comms.outbox import Outbox
from nic_edge.comms.spool_gate import SpoolGate, held_file
from nic_edge.core.config import Config, read_secret
from nic_edge.core.mqtt_client import make_client
from nic_edge.core.lifecycle import Service
from nic_edge.errors import StorageError

log = logging.getLogger(__name__)

CONNACK_TIMEOUT_S = 10.0
OFFLINE_ACK_TIMEOUT_S = 2.0
LOOP_TIMEOUT_S = 0.05


class MqttPublisher(Service):
    """Store-and-forward telemetry publisher; see the module docstring."""

    name = "mqtt"

    def __init__(self, cfg: Config, outbox: Outbox | None, *,
                 info_fn: Callable[[], dict[str, Any]] | None = None,
                 on_desired: Callable[[bytes], None] | None = None,
                 discovery_fn: Callable[[dict[str, Any]], list[tuple[str, bytes]]] | None = None,
                 clock: Callable[[], float] = time.time, rnd: Callable[[], float] = random.random,
                 max_inflight: int = 16, ack_batch_s: float = 0.25,
                 storage_error: str | None = None) -> None:
        super().__init__()
        self._config = cfg
        self.cfg = cfg.mqtt
        self.device = cfg.device_id
        self.prefix = cfg.mqtt.topic_prefix
        self.client_id = cfg.mqtt.client_id or f"nic-edge-{self.device}"
        self._gate = SpoolGate(outbox, storage_error, held_file())
        self.enabled = bool(cfg.mqtt.host)
        self.threaded = self.enabled
        self._password = read_secret(cfg, "mqtt.password_file") if cfg.mqtt.password_file else None
        self._info_fn = info_fn
        self._on_desired = on_desired
        self._discovery_fn = discovery_fn
        if discovery_fn is None and cfg.mqtt.ha_discovery:
            from nic_edge.comms.discovery import discovery_messages  # noqa: PLC0415

            self._discovery_fn = lambda info: discovery_messages(self.prefix, cfg.mqtt.ha_prefix,
                                                                 self.device, info)
        self._clock = clock
        self._rnd = rnd
        self.max_inflight = max(1, max_inflight)
        self._ack_batch_s = ack_batch_s
        self._topics = {k: schema.topic(self.prefix, self.device, k) for k in schema.KINDS}
        # Shared with other threads (plain attribute reads/writes; status() is a snapshot).
        self._state = "disabled" if not self.enabled else "disconnected"
        self._last_error: str | None = None
        self._logged: tuple[str, str | None] | None = None
        self._sent = 0
        self._rejected = 0
        self._reported: bytes | None = None
        self._handlers: dict[str, Callable[[bytes], None]] = {}  # topic -> handler (other desired kinds)
        self._retained: dict[str, bytes] = {}  # topic -> payload republished on every connect
        self._dirty = threading.Event()  # info or reported changed: republish them
        # Owned by the publisher thread.
        self._client: Any = None
        self._inflight: dict[int, int] = {}
        self._pumping: Outbox | None = None  # the outbox this session's bookkeeping refers to
        self._acks: list[int] = []
        self._last_flush = 0.0
        self._sent_upto = -1
        self._replay_upto = -1
        self._tokens = 1.0
        self._last_refill = time.monotonic()
        self._connack: str | None = None  # "ok" or an error text
        self._lost: str | None = None

    # -- producer API (any thread; never touches the network) ------------------------------
    def submit_metrics(self, snapshot: dict[str, Any]) -> int | None:
        """Validate and store a snapshot; returns its seq (None when MQTT is off or disk fails)."""
        if not self.enabled:
            return None
        body = schema.build_metrics(snapshot, seq=0, device=self.device, ts=self._clock())
        schema.encode_metrics(body)  # a malformed snapshot is a bug in the producer: raise now
        return self._gate.enqueue(schema.METRICS, body)

    def submit_alert(self, event: dict[str, Any]) -> int | None:
        if not self.enabled:
            return None
        body = schema.build_alert(event, seq=0, device=self.device)
        schema.encode_alert(body)
        return self._gate.enqueue(schema.ALERTS, body)

    @property
    def storage_error(self) -> str | None:
        """The outbox write failure of the last submit (e.g. disk full), or why there is no
        outbox; None once writes work."""
        return self._gate.problem

    @property
    def outbox(self) -> Outbox | None:
        return self._gate.outbox

    def outbox_off(self, problem: str) -> None:
        """There is no outbox (it could not be opened) and ``problem`` says why."""
        self._gate.off(problem)

    def attach_outbox(self, outbox: Outbox) -> None:
        """Spool into ``outbox`` from now on (re-opened after it could not be at start); its
        backlog goes out as replayed."""
        self._gate.attach(outbox)

    def set_reported(self, report: dict[str, Any] | None) -> None:
        """Publish retained ``tier/reported`` now if connected, and again on every connect.
        None (OverrideManager.handle had nothing to report): the last report stays."""
        if report is None:
            return
        self._reported = schema.encode_reported(report)
        self._dirty.set()

    def add_handler(self, kind: str, handler: Callable[[bytes], None]) -> None:
        """Subscribe to this device's ``kind`` topic (e.g. ``content/desired``) from the next
        connect; ``handler`` runs on the MQTT thread, so it must only hand the payload over."""
        self._handlers[self._topics[kind]] = handler

    def set_retained(self, kind: str, payload: bytes) -> None:
        """Publish a retained ``kind`` message now if connected, and again on every connect."""
        self._retained[self._topics[kind]] = payload
        self._dirty.set()

    def refresh_info(self) -> None:
        """Republish retained ``info`` (e.g. after a tier switch)."""
        self._dirty.set()

    def status(self) -> dict[str, Any]:
        outbox = self.outbox
        st = outbox.stats() if outbox is not None else {}
        # Records produced with no outbox are dropped too (counted there once it opens).
        dropped = {k: st.get("dropped", {}).get(k, 0) + n for k, n in self._gate.unstored().items()}
        return {"state": self._state, "last_error": self._last_error or self._gate.problem,
                "spool": "on" if outbox is not None else "off",
                "backlog": st.get("backlog", 0) + self._gate.held(), "sent": self._sent,
                "dropped": sum(dropped.values()), "dropped_by_kind": dropped,
                "rejected": self._rejected, "seq": st.get("seq"),
                "broker": f"{self.cfg.host}:{self.cfg.port}" if self.cfg.host else None}

    # -- state reporting -------------------------------------------------------------------
    def _set_state(self, state: str, error: str | None = None) -> None:
        self._state = state
        if error is not None or state == "connected":
            self._last_error = error
        key = (state, error)
        if key == self._logged or state == "connecting":
            return
        self._logged = key
        if error:
            log.warning("mqtt %s:%s %s: %s", self.cfg.host, self.cfg.port, state, error)
        else:
            log.info("mqtt %s:%s %s", self.cfg.host, self.cfg.port, state)

    # -- thread body -----------------------------------------------------------------------
    def run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._set_state("connecting")
            error = self._connect()
            if self._stop.is_set():
                break
            if error is None:
                attempt = 0
                error = self._session()
                if self._stop.is_set():
                    break
            self._set_state("disconnected", error)
            if self.wait(backoff_delay(attempt, self.cfg.reconnect_max_s, self._rnd)):
                break
            attempt += 1
        self._state = "disconnected"

    def _new_client(self) -> Any:
        client = make_client(self._config, self.client_id, password=self._password,
                             reconnect_on_failure=False)
        client.will_set(self._topics[schema.STATUS], schema.OFFLINE, qos=1, retain=True)
        client.max_inflight_messages_set(self.max_inflight + 8)  # + status/info/reported
        client.max_queued_messages_set(0)
        client.connect_timeout = 5.0
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _connect(self) -> str | None:
        client = self._new_client()
        self._connack = self._lost = None
        try:
            if self.cfg.protocol == "5":
                client.connect(self.cfg.host, self.cfg.port, self.cfg.keepalive, clean_start=True)
            else:
                client.connect(self.cfg.host, self.cfg.port, self.cfg.keepalive)
        except (OSError, ValueError) as exc:  # ssl.SSLError and socket.gaierror are OSErrors
            return describe_connect_error(exc, self.cfg.host, self.cfg.port)
        deadline = time.monotonic() + CONNACK_TIMEOUT_S
        while self._connack is None and self._lost is None and not self._stop.is_set():
            if client.loop(LOOP_TIMEOUT_S) != 0 and self._connack is None:
                self._lost = "connection closed before CONNACK; does the broker expect TLS (mqtt.tls)?"
            if time.monotonic() > deadline:
                self._lost = "no CONNACK from the broker within %.0fs" % CONNACK_TIMEOUT_S
        if self._connack != "ok":
            client.disconnect()
            return self._connack or self._lost or "stopped"
        self._client = client
        return None

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            auth = rc.value in (4, 5, 134, 135)  # bad user name or password / not authorized
            hint = "check mqtt.username and mqtt.password_file" if auth else "check the broker settings"
            self._connack = f"broker refused the connection: {rc}; {hint}"
            return
        self._connack = "ok"

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure or rc.value:
            self._lost = f"connection lost: broker stopped or network down (paho: {rc})"
        else:
            self._lost = "disconnected"

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return  # status/info/reported/discovery
        if rc.is_failure:  # MQTT 5 only: the broker refused this message; retrying cannot help
            self._rejected += 1
            log.warning("mqtt broker rejected record seq %d: %s; dropped", seq, rc)
        else:
            self._sent += 1
        self._acks.append(seq)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        handler = self._handlers.get(msg.topic)
        if handler is None and msg.topic == self._topics[schema.DESIRED]:
            handler = self._on_desired
        if handler is None:
            return
        try:
            handler(bytes(msg.payload))
        except Exception:  # boundary: a bad override handler must not kill telemetry
            log.exception("mqtt: on_desired handler failed")

    def _session(self) -> str:
        """Connected: announce, then pump the outbox until the link drops or stop is set."""
        client = self._client
        self._set_state("connected")
        self._inflight.clear()
        self._sent_upto = -1
        self._pumping = self.outbox
        self._replay_upto = self._pumping.last_seq if self._pumping is not None else -1
        self._tokens, self._last_refill = 1.0, time.monotonic()
        client.publish(self._topics[schema.STATUS], schema.ONLINE, qos=1, retain=True)
        self._publish_state(client, discovery=True)
        if self._on_desired is not None:
            client.subscribe(self._topics[schema.DESIRED], qos=1)
        for topic in self._handlers:
            client.subscribe(topic, qos=1)
        try:
            while not self._stop.is_set():
                if self._dirty.is_set():
                    self._publish_state(client, discovery=False)
                self._pump(client)
                if client.loop(LOOP_TIMEOUT_S) != 0 or self._lost is not None:
                    break
                self._flush_acks(force=False)
            else:
                self._shutdown(client)
        finally:
            self._flush_acks(force=True)
            self._inflight.clear()
            self._client = None
        return self._lost or "connection lost"

    def _publish_state(self, client: Any, discovery: bool) -> None:
        self._dirty.clear()
        info = self._info()
        client.publish(self._topics[schema.INFO], schema.encode_info(info), qos=1, retain=True)
        if self._reported is not None:
            client.publish(self._topics[schema.REPORTED], self._reported, qos=1, retain=True)
        for topic, payload in list(self._retained.items()):
            client.publish(topic, payload, qos=1, retain=True)
        if discovery and self._discovery_fn is not None:
            for topic, payload in self._discovery_fn(info):
                client.publish(topic, payload, qos=1, retain=True)

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"device": self.device, "version": __version__, "ts": self._clock(),
                                "board": None, "ram_bytes": None, "tier": None, "index": {}}
        if self._info_fn is not None:
            try:
                info.update(self._info_fn())
            except Exception:  # boundary: a broken info source must not stop telemetry
                log.exception("mqtt: info_fn failed; publishing minimal info")
        return info

    def _pump(self, client: Any) -> None:
        outbox = self.outbox
        if outbox is None:
            return  # nothing is spooled: metrics are counted as dropped, alerts held (spool_gate)
        if outbox is not self._pumping:  # attached during this session: its backlog is replayed
            self._pumping, self._sent_upto, self._replay_upto = outbox, -1, self._gate.attached_upto
        room = self.max_inflight - len(self._inflight)
        if room <= 0:
            return
        now = time.monotonic()
        rate = self.cfg.replay_rate_per_s
        burst = max(1.0, min(rate, float(self.max_inflight)))
        self._tokens = min(burst, self._tokens + (now - self._last_refill) * rate)
        self._last_refill = now
        for rec in outbox.peek(room, after=self._sent_upto):
            replayed = rec.seq <= self._replay_upto
            if replayed:
                if self._tokens < 1.0:
                    break
                self._tokens -= 1.0
            body = dict(rec.payload, seq=rec.seq, replayed=replayed)
            try:
                data = schema.ENCODERS[rec.kind](body)
            except schema.SchemaError as exc:  # cannot happen for records we validated; never wedge
                log.error("mqtt: outbox record seq %d is invalid (%s); dropped", rec.seq, exc)
                self._acks.append(rec.seq)
                self._sent_upto = rec.seq
                continue
            info = client.publish(self._topics[rec.kind], data, qos=1, retain=False)
            if info.rc != 0:
                break
            self._inflight[info.mid] = rec.seq
            self._sent_upto = rec.seq

    def _flush_acks(self, force: bool) -> None:
        if not self._acks:
            return
        now = time.monotonic()
        if not force and len(self._acks) < 64 and now - self._last_flush < self._ack_batch_s:
            return
        assert self._pumping is not None  # acks exist only for records peeked from it
        try:
            self._pumping.ack_many(self._acks)
        except StorageError as exc:  # boundary: records stay and are re-sent (duplicates are fine)
            log.error("mqtt outbox: %s", exc)
        self._acks = []
        self._last_flush = now

    def _shutdown(self, client: Any) -> None:
        """Clean stop: retained ``offline`` (acknowledged), then DISCONNECT (no Last Will)."""
        info = client.publish(self._topics[schema.STATUS], schema.OFFLINE, qos=1, retain=True)
        deadline = time.monotonic() + OFFLINE_ACK_TIMEOUT_S
        while not info.is_published() and time.monotonic() < deadline:
            if client.loop(LOOP_TIMEOUT_S) != 0:
                break
        client.disconnect()
        client.loop(LOOP_TIMEOUT_S)
