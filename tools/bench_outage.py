"""Broker outage, end to end: the device produces a metrics snapshot every --interval seconds
and an alert every --alert-every snapshots while the broker is stopped for --outage seconds;
the broker comes back on the same port; a subscriber de-duplicates on (device, seq).

Meanwhile a thread asks the real Engine (hybrid mode, int8 model, bundled sample manual) questions
back to back, in the same process as the publisher: answer latency p50 before vs during the
outage shows whether a dead broker slows answers.

    python3 tools/bench_outage.py [--outage 60] [--interval 1] [--before 15] [--core 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nic_edge.comms.outbox import Outbox  # noqa: E402
from nic_edge.comms.publisher import MqttPublisher  # noqa: E402
from nic_edge.comms.telemetry_service import TelemetryService  # noqa: E402
from nic_edge.core.config import EngineConfig, parse_config  # noqa: E402
from nic_edge.core.resources import SAMPLE_MANUAL, data_file  # noqa: E402
from nic_edge.core.tiers import load_profiles  # noqa: E402
from nic_edge.engine.engine import Engine  # noqa: E402
from tests.comms.device_proc import fake_snapshot  # noqa: E402
from tests.comms.helpers import dedup, records  # noqa: E402
from tests.support.broker import Broker, Subscriber, find_mosquitto  # noqa: E402

QUESTIONS = ["How do I adjust the carburetor?", "What oil should be used in the engine?",
             "How is the transmission band tightened?", "Why does the engine overheat?",
             "How do I replace the spark plugs?", "What is the firing order?",
             "How often should the car be greased?", "How to clean the commutator?"]


def cpu_model() -> str:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outage", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--before", type=float, default=15.0)
    ap.add_argument("--alert-every", type=int, default=10)
    ap.add_argument("--core", type=int, default=0)
    args = ap.parse_args()
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    print(cpu_banner(), flush=True)
    os.sched_setaffinity(0, {args.core})
    binary = find_mosquitto()
    if binary is None:
        print("mosquitto not found (apt-get install mosquitto)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="nic-outage-"))
    broker = Broker(tmp / "broker", binary, persistence=True)
    broker.start()

    from nic_edge.engine.embedder import Embedder
    engine = Engine(tmp / "engine", load_profiles()["ultra_lite"], EngineConfig(), Embedder(threads=1))
    engine.index_paths([data_file(SAMPLE_MANUAL)])
    phase = ["before"]
    lat: dict[str, list[float]] = {"before": [], "outage": [], "after": []}
    done = threading.Event()

    def asker() -> None:
        i = 0
        while not done.is_set():
            t = time.perf_counter()
            engine.ask(QUESTIONS[i % len(QUESTIONS)])
            lat[phase[0]].append((time.perf_counter() - t) * 1000)
            i += 1
            done.wait(0.02)

    sub = Subscriber(broker, ["nic/bench/metrics", "nic/bench/alerts"], client_id="bench-sub",
                     persistent=True)
    cfg = parse_config({"device": {"id": "bench"},
                        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_max_s": 10.0}})
    ob = Outbox(tmp / "outbox", cfg.mqtt.spool_max_bytes)
    pub = MqttPublisher(cfg, ob)
    n = [0]
    produced: list[int] = []

    def snap() -> dict:
        n[0] += 1
        return fake_snapshot(n[0])

    class Sink:
        def submit_metrics(self, s: dict) -> int | None:
            seq = pub.submit_metrics(s)
            produced.append(seq)
            if n[0] % args.alert_every == 0:
                produced.append(pub.submit_alert({
                    "alert_id": f"a{n[0]}", "rule": "latency_p95", "severity": "warning",
                    "state": "firing", "value": 2.0, "threshold": 1.0, "ts": time.time(),
                    "message": "bench"}))
            return seq

        def submit_alert(self, e: dict) -> int | None:
            return pub.submit_alert(e)

    tel = TelemetryService(Sink(), snap, args.interval)
    pub.start()
    tel.start()
    ask_thread = threading.Thread(target=asker, name="asker", daemon=True)
    ask_thread.start()
    time.sleep(args.before)
    phase[0] = "outage"
    broker.stop()
    t_down = time.monotonic()
    time.sleep(args.outage)
    during = [s for s in produced]
    backlog_peak = len(ob)
    phase[0] = "after"
    broker.start()
    t_up = time.monotonic()
    target = set(during)
    sub.wait_for(lambda ms: target <= {r["seq"] for r in records(ms, "bench")}, 600)
    t_drained = time.monotonic()
    tel.stop()
    done.set()
    ask_thread.join()
    final = list(produced)
    sub.wait_for(lambda ms: set(final) <= {r["seq"] for r in records(ms, "bench")}, 60)
    pub.stop()
    sub.close()
    broker.stop()

    recs = records(sub.messages, "bench")
    uniq = dedup(recs)
    seqs = [r["seq"] for r in uniq]
    missing = sorted(set(final) - set(seqs))
    in_order = seqs == sorted(seqs)
    replayed = sum(1 for r in uniq if r["replayed"])
    alerts = sum(1 for r in uniq if "alert_id" in r)
    b50, d50 = statistics.median(lat["before"]), statistics.median(lat["outage"])
    print(f"machine: {cpu_model()}; process pinned to core {args.core}; mosquitto 127.0.0.1")
    print(f"outage {args.outage:.0f} s (broker stopped {t_up - t_down:.1f} s),"
          f" metrics every {args.interval:g} s, alert every {args.alert_every} snapshots")
    print(f"records produced: {len(final)} (alerts {alerts}); outbox backlog at restart: {backlog_peak}")
    print(f"delivered unique: {len(seqs)}, duplicates: {len(recs) - len(uniq)}, missing: {len(missing)},"
          f" in order: {in_order}, replayed: {replayed}")
    print(f"backlog delivered {t_drained - t_up:.1f} s after the broker came back"
          f" (reconnect backoff cap {cfg.mqtt.reconnect_max_s:g} s, replay {cfg.mqtt.replay_rate_per_s:g}/s)")
    print(f"answer latency (real Engine.ask, {engine.mode}, sample manual; {len(lat['before'])} before,"
          f" {len(lat['outage'])} during): p50 before {b50:.2f} ms, during {d50:.2f} ms,"
          f" ratio {d50 / b50:.2f}; p95 before {pct(lat['before'], 0.95):.2f} ms,"
          f" during {pct(lat['outage'], 0.95):.2f} ms")
    return 0 if not missing and in_order else 1


if __name__ == "__main__":
    sys.exit(main())
