"""Latest state per device, de-duplication, and the hand-off to the time-series store.

One ``FleetState`` holds a ``DeviceState`` per box: online/offline (retained status and Last
Will), info, reported tier, a compact summary of the last metrics snapshot, active alerts and
a bounded alert history. ``(device, seq)`` de-dup uses a sliding bitmap of the last ``SEQ_WINDOW``
sequence numbers per device, persisted with the series in the same LMDB transaction (see
series.py), so a replay after a crash adds nothing twice. Alerts are also de-duplicated on
``alert_id`` + ``state`` (a box may re-send an event under a new seq after a restart). Which
alerts stay active across device restarts and lost resolves: active_alerts.py. The overview
summary is the snapshot with the highest seq (not the latest ``ts``: a box clock must not pin it).

All public methods take the lock; the MQTT thread applies, the service thread flushes/renders.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator import active_alerts
from nic_edge.fleet.aggregator.buckets import Point
from nic_edge.fleet.aggregator.device_state import HISTORY, DeviceState, last_activity, unknown
from nic_edge.fleet.aggregator.series import SeriesStore

log = logging.getLogger(__name__)

SEQ_WINDOW = 1024
# A forward seq jump must be explainable by the time since the device was last heard: at most
# SEQ_JUMP_BASE + SEQ_JUMP_RATE per second of silence (a box sends a snapshot every few seconds;
# its outbox replays what it kept). One forged seq of 2**62 would otherwise make every later real
# snapshot a "duplicate".
SEQ_JUMP_BASE = 10_000
SEQ_JUMP_RATE = 10.0
_MASK = (1 << SEQ_WINDOW) - 1
WINDOW_S = 600          # the "recent latency" window the overview shows (5-minute buckets)


class FleetState:
    """``max_devices`` caps the ids held: over the cap the oldest *unknown* device (one that never
    sent info or a snapshot, e.g. a forged ``status``) makes room, else the new id is refused.
    Unknown devices silent for ``unknown_expire_s`` are forgotten (``expire``)."""

    def __init__(self, store: SeriesStore, clock: Callable[[], float] = time.time,
                 max_devices: int = 2000, unknown_expire_s: float = 3600.0) -> None:
        self.store = store
        self.clock = clock
        self.max_devices = max_devices
        self.unknown_expire_s = unknown_expire_s
        self.version = 0                       # bumped by every applied message: "anything new?"
        self.forgotten: set[str] = set()       # device pages the renderer removes
        self._refused_logged = 0.0
        self._doomed: set[str] = set()         # evicted unknown devices whose record the next flush deletes
        self._unknown_order: OrderedDict[str, None] = OrderedDict()  # eviction candidates, oldest first
        self.lock = store.lock  # one lock for the state and the store's in-memory buckets
        self.devices: dict[str, DeviceState] = {}
        self._dirty: set[str] = set()          # device records to persist
        self._alert_puts: list[tuple[str, bytes, bytes]] = []
        self.changed = threading.Event()       # something worth an immediate re-render
        self.urgent: set[str] = set()          # device pages to re-render at once
        self.touched: set[str] = set()         # device pages with new data
        self.stats = {"messages": 0, "duplicates": 0, "bad": 0, "alerts": 0, "stale": 0, "refused": 0,
                      "forgotten": 0, "seq_jumps": 0}
        # MqttIngest with ack_after_commit: PUBACKs wait for the commit of what they acknowledge
        self.ack_gate: Any = None
        self._load()
        store.recover(clock())

    def _load(self) -> None:
        for _, raw in self.store.items("devices"):
            try:
                st = DeviceState.from_record(raw, self.store.unpack)
            except (ValueError, TypeError, KeyError) as exc:
                log.error("skipping unreadable device record: %s", exc)
                continue
            self.devices[st.id] = st
            if unknown(st):
                self._unknown_order[st.id] = None
            for _, a in self.store.prefix_items("alerts", st.id.encode() + b"\x00")[-HISTORY:]:
                ev = self.store.unpack(a)
                st.history.append(ev)
                st.alert_seen[ev["alert_id"]] = active_alerts.ENDED if ev.get("inferred") else ev["state"]
        if self.devices:
            log.info("loaded %d devices from the aggregator store", len(self.devices))

    # -- roster: cap, expiry, forget -------------------------------------------------------
    def admit(self, dev: str) -> bool:
        """Whether a message of ``dev`` may be applied (the device cap); counts a refusal."""
        with self.lock:
            self.version += 1
            if dev in self.devices or len(self.devices) < self.max_devices:
                return True
            while self._unknown_order:  # oldest first; entries that became known are skipped
                cand = self._unknown_order.popitem(last=False)[0]
                st = self.devices.get(cand)
                if st is not None and unknown(st):
                    self._forget(cand, stored=False)
                    return True
            self.stats["refused"] += 1
            now = time.monotonic()
            if now - self._refused_logged >= 60.0:  # a flood of new ids must not flood the log
                self._refused_logged = now
                log.warning("device cap (aggregator.max_devices = %d) reached: ignoring new device %r "
                            "(%d refused so far); raise the cap or `nic-fleet forget` old devices",
                            self.max_devices, dev[:64], self.stats["refused"])
            return False

    def forget(self, dev: str) -> bool:
        """Drop a device: state, stored records, history and (at the next render) its page."""
        with self.lock:
            if dev not in self.devices:
                return False
            self._forget(dev)
            return True

    def expire(self) -> list[str]:
        """Forget unknown devices silent for ``unknown_expire_s``; returns their ids."""
        with self.lock:
            cutoff = self.clock() - self.unknown_expire_s
            gone = [d for d, st in self.devices.items() if unknown(st) and last_activity(st) < cutoff]
            for dev in gone:
                self._forget(dev, stored=False)
        if gone:
            log.info("forgot %d unknown device(s) silent for %.0fs", len(gone), self.unknown_expire_s)
        return gone

    def _forget(self, dev: str, stored: bool = True) -> None:  # under the lock
        """``stored=False``: an unknown device has no series or alerts, only its record, which the
        next flush deletes together with others (a flood of fake ids costs one commit, not 3 each)."""
        del self.devices[dev]
        self._dirty.discard(dev)
        self._alert_puts = [p for p in self._alert_puts if not p[1].startswith(dev.encode() + b"\x00")]
        self.urgent.discard(dev)
        self.touched.discard(dev)
        self.forgotten.add(dev)
        self.stats["forgotten"] += 1
        self.changed.set()
        if not stored:
            self._doomed.add(dev)
            return
        self.store.delete_device(dev)
        self.store.delete_side("devices", [dev.encode()])
        self.store.delete_side("alerts", [dev.encode() + b"\x00"], prefix=True)

    def device(self, dev: str) -> DeviceState:
        st = self.devices.get(dev)
        if st is None:
            self.forgotten.discard(dev)
            self._doomed.discard(dev)
            st = self.devices[dev] = DeviceState(dev, first_seen=self.clock())
            self._unknown_order[dev] = None
            self.changed.set()
            self.urgent.add(dev)
        return st

    # -- de-dup --------------------------------------------------------------------------
    def _accept_seq(self, st: DeviceState, seq: int) -> bool:
        mx = st.seq_max
        now = self.clock()
        plausible = mx is not None and seq - mx <= SEQ_JUMP_BASE + SEQ_JUMP_RATE * max(0.0, now - (st.last_seen or now))
        if mx is None or (st.resync and (not plausible or mx - seq >= SEQ_WINDOW)):
            # first seq, or the box reconnected with a count that does not follow (its data dir
            # was reset, or an earlier forged seq got in): start afresh from this one
            if mx is not None and st.alerts_active:  # its alerts were of the old count: over
                self._end_alerts(st, active_alerts.end_all(st), now)
            st.seq_max, st.seq_bits, st.resync = seq, 1, False
            return True
        if seq > mx and not plausible:
            st.seq_rejected += 1
            self.stats["seq_jumps"] += 1
            if st.seq_rejected in (1, 100) or st.seq_rejected % 10_000 == 0:
                log.warning("device %s: seq jump %d -> %d is not plausible; ignored (%d so far)",
                            st.id, mx, seq, st.seq_rejected)
            return False
        st.resync = False
        if seq > mx:
            shift = seq - mx
            st.missing += shift - 1
            st.seq_bits = ((st.seq_bits << shift) | 1) & _MASK if shift < SEQ_WINDOW else 1
            st.seq_max = seq
            return True
        d = mx - seq
        if d >= SEQ_WINDOW:
            self.stats["stale"] += 1
            return False
        bit = 1 << d
        if st.seq_bits & bit:
            return False
        st.seq_bits |= bit
        st.missing = max(0, st.missing - 1)
        return True

    def bad_payload(self, dev: str, kind: str, reason: str) -> None:
        with self.lock:
            st = self.device(dev)
            st.counts["bad"] += 1
            self.stats["bad"] += 1
            self._dirty.add(dev)
            if not st.bad_logged:  # once per device: a broken box must not flood the log
                st.bad_logged = True
                log.warning("device %s: bad %s payload (%s); further bad payloads only counted", dev, kind, reason)

    # -- apply ---------------------------------------------------------------------------
    def apply_status(self, dev: str, online: bool, retained: bool) -> None:
        with self.lock:
            st = self.device(dev)
            now = self.clock()
            if online and not retained:
                st.resync = True  # a (re)connect: its next seq may legitimately not follow
            if st.online != online:
                st.online, st.status_ts = online, now
                self.changed.set()
                self.urgent.add(dev)
            if online and not retained:
                st.last_seen = now
            self._dirty.add(dev)

    def apply_info(self, dev: str, info: dict[str, Any]) -> None:
        with self.lock:
            st = self.device(dev)
            if st.info is None or st.info.get("tier") != info.get("tier") or st.info.get("version") != info.get("version"):
                self.changed.set()
                self.urgent.add(dev)
            st.info = info
            self._dirty.add(dev)

    def apply_reported(self, dev: str, rep: dict[str, Any]) -> None:
        self._apply_report(dev, "reported", rep)

    def apply_content(self, dev: str, rep: dict[str, Any]) -> None:
        self._apply_report(dev, "content", rep)

    def _apply_report(self, dev: str, attr: str, rep: dict[str, Any]) -> None:
        with self.lock:
            st = self.device(dev)
            if getattr(st, attr) != rep:
                setattr(st, attr, rep)
                self.changed.set()
                self.urgent.add(dev)
                self._dirty.add(dev)

    def apply_metrics(self, dev: str, m: dict[str, Any], point: Point, summary: dict[str, Any]) -> bool:
        """False for a duplicate (device, seq)."""
        with self.lock:
            st = self.device(dev)
            if not self._accept_seq(st, m["seq"]):
                st.counts["duplicates"] += 1
                self.stats["duplicates"] += 1
                return False
            now = self.clock()
            st.counts["messages"] += 1
            self.stats["messages"] += 1
            st.last_seen = now
            if m["seq"] == st.seq_max:  # the newest snapshot (a late or replayed one is history)
                st.metrics = summary
            ended = active_alerts.reconcile(st, m["seq"], summary.get("alerts_active"))
            if ended:
                self._end_alerts(st, ended, summary["ts"])
            self.store.add(dev, point, now)
            self._dirty.add(dev)
            self.touched.add(dev)
            return True

    def apply_alert(self, dev: str, a: dict[str, Any]) -> bool:
        """True when the event is new (not a duplicate seq nor a repeated alert_id + state, nor a
        firing that a newer episode of its rule has superseded already)."""
        with self.lock:
            st = self.device(dev)
            if not self._accept_seq(st, a["seq"]):
                st.counts["duplicates"] += 1
                self.stats["duplicates"] += 1
                return False
            st.last_seen = self.clock()
            self._dirty.add(dev)
            seen = st.alert_seen.get(a["alert_id"])
            if seen == a["state"] or (a["state"] == "firing" and seen in ("resolved", active_alerts.ENDED)):
                st.counts["duplicates"] += 1
                self.stats["duplicates"] += 1
                return False
            st.alert_seen[a["alert_id"]] = a["state"]
            while len(st.alert_seen) > 4 * HISTORY:
                st.alert_seen.popitem(last=False)
            ev = {k: a.get(k) for k in ("alert_id", "rule", "severity", "state", "value", "threshold", "ts",
                                         "message", "replayed", "seq")}
            ev["device"] = dev
            ev["received"] = self.clock()
            self._record_alert(st, ev)
            active = True
            if a["state"] == "firing":
                active, ended = active_alerts.fire(st, ev)
                if ended or not active:  # older episodes of its rule; or this one, when a newer one is active
                    self._end_alerts(st, ended if active else [ev], float(a["ts"]))
            else:
                st.alerts_active.pop(a["alert_id"], None)
            self.stats["alerts"] += 1
            self.changed.set()
            self.urgent.add(dev)
            return active  # a firing already superseded when it arrives is history, not news

    def _record_alert(self, st: DeviceState, ev: dict[str, Any]) -> None:  # under the lock
        st.history.append(ev)
        k = f"{st.id}\x00{float(ev['ts']):017.3f}\x00{ev['alert_id']}\x00{ev['state']}".encode()
        self._alert_puts.append(("alerts", k, self.store.pack(ev)))

    def _end_alerts(self, st: DeviceState, ended: list[dict[str, Any]], ts: float) -> None:  # under the lock
        """Record episodes that ended without a resolve from the device (active_alerts.py)."""
        now = self.clock()
        for ev in ended:
            st.alert_seen[ev["alert_id"]] = active_alerts.ENDED
            self._record_alert(st, active_alerts.ended_event(ev, ts, now))
        log.info("device %s: %d alert(s) %s: %s", st.id, len(ended), active_alerts.REASON,
                 ", ".join(str(ev["alert_id"])[:80] for ev in ended[:5]))
        self._dirty.add(st.id)
        self.changed.set()
        self.urgent.add(st.id)

    # -- persistence ---------------------------------------------------------------------
    def flush(self) -> int:
        """Persist device records (de-dup windows), alert events and series in one transaction."""
        taken: list[Any] = []

        def collect() -> list[tuple[str, bytes, bytes]]:  # called by the store under the lock
            pack = self.store.pack
            puts = [("devices", d.encode(), self.devices[d].record(pack)) for d in self._dirty if d in self.devices]
            taken[:] = [set(self._dirty), self._alert_puts]
            puts += self._alert_puts
            self._dirty.clear()
            self._alert_puts = []
            return puts
        gate = self.ack_gate
        token = None
        if gate is not None:
            with self.lock:  # every message applied before this point is in the snapshot below
                token = gate.ack_mark()
        errors = self.store.flush_errors
        try:
            n = self.store.flush(collect, self.clock())
        finally:
            if taken and self.store.flush_errors != errors:  # not written: again next time
                with self.lock:
                    self._dirty |= taken[0]
                    self._alert_puts = taken[1] + self._alert_puts
        if gate is not None and self.store.flush_errors == errors:
            gate.release_acks(token)  # committed: the broker may forget them now
        with self.lock:
            doomed, self._doomed = self._doomed, set()
        if doomed:
            self.store.delete_side("devices", [d.encode() for d in doomed])
        return n

    def prune(self) -> int:
        with self.lock:
            return self.store.prune(self.clock(), list(self.devices))

    def recent_sketch(self, dev: str) -> LatencySketch:
        """Answer latency over the last ~10 minutes (the 5-minute buckets touching the window)."""
        with self.lock:
            now = self.clock()
            return self.store.merged_sketch(dev, "5m", now - WINDOW_S, now)

    def alert_history(self, dev: str, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.store.prefix_items("alerts", dev.encode() + b"\x00")[-limit:]
        return [self.store.unpack(v) for _, v in rows]
