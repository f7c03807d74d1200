#!/usr/bin/env python3
"""Device simulator: publishes the exact payloads a nic_edge box publishes (no model, no engine).

Payloads are built with ``nic_edge.comms.schema`` (build_metrics/encode_*) and
``LatencySketch`` in the shape ``nic_edge.app.serve.metrics_snapshot`` produces, so the
aggregator sees what a real device sends. Two uses:

* as a library (``SimDevice``) to make payload bytes for tests and benchmarks;
* as a process with a Last Will, driven by lines on stdin, for integration tests::

    python3 tools/device_sim.py --host 127.0.0.1 --port 1883 --device dev-a [--interval 0.2]

  stdin commands: ``metrics`` (one snapshot now), ``alert firing|resolved RULE [VALUE]``,
  ``tier TIER SOURCE [STATUS]``, ``replay SEQ`` (re-send an earlier metrics message flagged
  replayed), ``offline`` (clean retained offline), ``quit``. Prints ``ready`` once connected
  and ``seq N KIND`` per message published. SIGKILL leaves the Last Will (retained offline).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nic_edge.comms import schema  # noqa: E402
from nic_edge.core.sketch import LatencySketch  # noqa: E402
from nic_edge.telemetry.metrics import sketch_entry  # noqa: E402  (simulator only; not fleet code)

STAGES = ("tokenize", "embed", "bm25", "vector", "fuse", "answer", "cache")
BUDGETS = {"ultra_lite": 160, "lite": 320, "standard": 640, "full": 1280}


class SimDevice:
    """One simulated box: seq counter, cumulative counters, resource drift."""

    def __init__(self, device: str, tier: str = "lite", seed: int | None = None,
                 questions_per_interval: int = 12, base_latency_s: float = 0.05,
                 legacy: bool = False) -> None:
        self.device = device
        # legacy=True: the payload boxes sent before the compact wire format (v1 sketch dicts,
        # per-stage entries as unrounded objects, no number rounding), for compatibility tests.
        self.legacy = legacy
        self.tier = tier
        self.rng = random.Random(seed if seed is not None else hash(device) & 0xFFFF)
        self.seq = 0
        self.qpi = questions_per_interval
        self.base = base_latency_s
        self.counters = {"answered": 0, "abstained": 0, "invalid": 0, "error": 0}
        self.cache = {"l1": 0, "l2": 0, "miss": 0}
        self.rss = self.rss_target = (55.0 + self.rng.random() * 30) * 1048576
        self.leak_bytes = 0.0  # per snapshot; > 0 simulates a leak (memory trend tests)
        self.disk_free = 8.0 * 1024 ** 3
        self.temp = 48.0 + self.rng.random() * 4
        self.sent: dict[int, bytes] = {}  # seq -> metrics body (for replay tests), bounded
        self.latency_factor = 1.0
        self.mode = "hybrid"  # "lexical": a box answering from keywords only (degraded)
        self.memory_state = "ok"
        self.firing: set[str] = set()  # rules firing: summary.alerts_active, as a real box counts them

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def snapshot(self, ts: float) -> dict[str, Any]:
        """The body metrics_snapshot() returns (before build_metrics)."""
        rng = self.rng
        ans, outcomes = LatencySketch(), {o: LatencySketch() for o in self.counters}
        stages = {s: LatencySketch() for s in STAGES}
        n = max(0, int(rng.gauss(self.qpi, self.qpi ** 0.5)))
        hits = 0
        for _ in range(n):
            lat = self.base * self.latency_factor * math.exp(rng.gauss(0, 0.5))
            outcome = "abstained" if rng.random() < 0.15 else "answered"
            ans.add(lat)
            outcomes[outcome].add(lat)
            self.counters[outcome] += 1
            level = rng.choice(("l1", "l2", "miss", "miss"))
            self.cache[level] += 1
            hits += level != "miss"
            for s in STAGES:
                stages[s].add(lat / 7.0)
        self.rss_target += self.leak_bytes
        self.rss += (self.rss_target - self.rss) * 0.1 + rng.gauss(0, 0.3) * 1048576
        self.disk_free = max(0.0, self.disk_free - rng.random() * 1e5)
        self.temp += rng.gauss(0, 0.3) + (50.0 - self.temp) * 0.05
        budget = BUDGETS.get(self.tier, 320) * 1048576
        lookups = sum(self.cache.values())
        entry = sketch_entry(ans)
        if not self.legacy:
            entry["sketch"] = ans.to_compact()  # as DeviceMetrics.snapshot sends it
        light = _legacy_entry if self.legacy else schema.light_entry
        return {
            "ts": ts, "tier": self.tier, "mode": self.mode,
            "latency": {"answer": entry, "stages": {s: light(sketch_entry(sk)) for s, sk in stages.items()},
                        "outcomes": {o: light(sketch_entry(sk)) for o, sk in outcomes.items()}},
            "cache": {"l1_hits": self.cache["l1"], "l2_hits": self.cache["l2"], "l1_misses": self.cache["miss"],
                      "hits": self.cache["l1"] + self.cache["l2"],
                      "hit_ratio": round((self.cache["l1"] + self.cache["l2"]) / lookups, 4) if lookups else 0.0,
                      "l1_items": min(64, lookups), "l2_items": lookups},
            "resources": {"ts": ts, "rss_bytes": int(self.rss), "cpu_percent": 5 + rng.random() * 20,
                          "cpu_temp_c": round(self.temp, 1), "throttled": 0, "throttled_now": False,
                          "disk_free_bytes": int(self.disk_free), "disk_total_bytes": 32 * 1024 ** 3,
                          "memory_budget_bytes": budget, "memory_state": self.memory_state},
            "counters": {**{f'nic_edge_questions_total{{{o}}}': float(c) for o, c in self.counters.items()},
                         **{f'nic_edge_cache_lookups_total{{{k}}}': float(c) for k, c in self.cache.items()}},
            "summary": {"latency_p50_ms": None if not n else entry["p50"] * 1000.0,
                        "latency_p95_ms": None if not n else entry["p95"] * 1000.0,
                        "cache_hit_rate": hits / n if n else None, "memory_mib": self.rss / 1048576.0,
                        "cpu_temp_c": round(self.temp, 1), "cpu_percent": 10.0, "alerts_active": len(self.firing)},
        }

    def metrics_payload(self, ts: float | None = None, replayed: bool = False) -> bytes:
        ts = time.time() if ts is None else ts
        seq = self.next_seq()
        if self.legacy:
            body = dict(self.snapshot(ts), seq=seq, device=self.device, replayed=replayed,
                        drops={"metrics": 0, "alerts": 0})
            raw = schema.dumps(schema.validate_metrics(body), schema.METRICS)
        else:
            body = schema.build_metrics(self.snapshot(ts), seq=seq, device=self.device, ts=ts, replayed=replayed)
            raw = schema.encode_metrics(body)
        self.sent[seq] = raw
        if len(self.sent) > 256:
            self.sent.pop(min(self.sent))
        return raw

    def replay_payload(self, seq: int) -> bytes:
        """An earlier metrics message as the outbox would resend it (same seq, replayed)."""
        d = schema.parse_metrics(self.sent[seq])
        d["replayed"] = True
        return schema.encode_metrics(d)

    def alert_payload(self, rule: str, state: str, value: float | None = 1.0, ts: float | None = None,
                      alert_id: str | None = None, severity: str = "warning") -> bytes:
        ts = time.time() if ts is None else ts
        (self.firing.add if state == "firing" else self.firing.discard)(rule)
        event = {"alert_id": alert_id or f"{rule}-{int(ts * 1000)}", "rule": rule, "severity": severity,
                 "state": state, "value": value, "threshold": 0.5, "ts": ts,
                 "message": f"{rule} {state} on {self.device}"}
        return schema.encode_alert(schema.build_alert(event, seq=self.next_seq(), device=self.device))

    def info_payload(self, ts: float | None = None) -> bytes:
        return schema.encode_info({"device": self.device, "version": "0.1.0", "ts": time.time() if ts is None else ts,
                                   "board": "Raspberry Pi 4 Model B (simulated)", "ram_bytes": 2 * 1024 ** 3,
                                   "tier": self.tier, "index": {"chunks": 1200, "sources": 3}})

    def reported_payload(self, tier: str | None, source: str, status: str = "applied",
                         version: int | None = 1, ts: float | None = None) -> bytes:
        if tier:
            self.tier = tier
        return schema.encode_reported(schema.make_reported(tier, source, version, status, None,
                                                           time.time() if ts is None else ts))


def _legacy_entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "sketch"}


def _run_process(args: argparse.Namespace) -> int:
    import paho.mqtt.client as mqtt

    dev = SimDevice(args.device, tier=args.tier, seed=args.seed)
    p = args.prefix
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{args.device}")
    client.will_set(schema.status_topic(p, dev.device), schema.OFFLINE, qos=1, retain=True)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, pr: connected.set()
    client.connect(args.host, args.port, keepalive=5)
    client.loop_start()
    if not connected.wait(10):
        print("error: no connection", flush=True)
        return 1
    lock = threading.Lock()

    def pub(kind: str, payload: bytes, retain: bool = False, seq: int | None = None) -> None:
        with lock:
            client.publish(schema.topic(p, dev.device, kind), payload, qos=1, retain=retain).wait_for_publish(5)
        print(f"seq {seq if seq is not None else '-'} {kind}", flush=True)

    pub(schema.STATUS, schema.ONLINE, retain=True)
    pub(schema.INFO, dev.info_payload(), retain=True)
    pub(schema.REPORTED, dev.reported_payload(args.tier, "detected", "applied", None), retain=True)
    stop = threading.Event()

    def ticker() -> None:
        while not stop.wait(args.interval):
            pub(schema.METRICS, dev.metrics_payload(), seq=dev.seq + 1)

    tick = threading.Thread(target=ticker, daemon=True) if args.interval > 0 else None
    if tick is not None:
        tick.start()
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "metrics":
            pub(schema.METRICS, dev.metrics_payload(), seq=dev.seq + 1)
        elif cmd[0] == "alert":
            value = float(cmd[3]) if len(cmd) > 3 else 1.0
            pub(schema.ALERTS, dev.alert_payload(cmd[2], cmd[1], value, alert_id=f"{cmd[2]}-1"), seq=dev.seq + 1)
        elif cmd[0] == "tier":
            status = cmd[3] if len(cmd) > 3 else "applied"
            pub(schema.REPORTED, dev.reported_payload(cmd[1], cmd[2], status), retain=True)
        elif cmd[0] == "replay":
            pub(schema.METRICS, dev.replay_payload(int(cmd[1])), seq=int(cmd[1]))
        elif cmd[0] == "offline":
            pub(schema.STATUS, schema.OFFLINE, retain=True)
        elif cmd[0] == "quit":
            break
    stop.set()
    if tick is not None:
        # a snapshot in flight is acknowledged (the network loop still runs) and printed before
        # the loop stops: stopped first, the broker had it but "seq N metrics" was never printed,
        # and a test counting the printed lines saw the aggregator store one snapshot more (CI)
        tick.join(10)
    client.loop_stop()
    client.disconnect()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--prefix", default="nic")
    ap.add_argument("--device", required=True)
    ap.add_argument("--tier", default="lite")
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between snapshots; 0 = only on 'metrics'")
    ap.add_argument("--seed", type=int, default=None)
    return _run_process(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
