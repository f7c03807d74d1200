"""A device-side process for the MQTT tests: publisher + telemetry service, fake snapshots.

    python3 tests/comms/device_proc.py --config device.toml --data-dir DIR [--interval 0.2]
        [--alert-every N]

Prints ``ready`` once running and ``seq <n> <kind>`` per record stored (flushed), so a test
can follow it. SIGTERM stops it cleanly (retained ``offline``); SIGKILL leaves the Last Will.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nic_edge.comms.outbox import open_outbox  # noqa: E402
from nic_edge.comms.publisher import MqttPublisher  # noqa: E402
from nic_edge.comms.telemetry_service import TelemetryService  # noqa: E402
from nic_edge.core.config import load_config  # noqa: E402
from nic_edge.core.sketch import LatencySketch  # noqa: E402


def fake_snapshot(n: int) -> dict[str, Any]:
    sk = LatencySketch()
    for i in range(20):
        sk.add(0.010 + 0.001 * ((n + i) % 7))
    return {"latency": {"answer": sk.to_dict()},
            "cache": {"hits": n, "misses": 1, "hit_rate": n / (n + 1)},
            "resources": {"rss_mib": 80.5, "cpu_temp_c": 51.2},
            "counters": {"questions": n},
            "summary": {"latency_p95_ms": sk.quantile(0.95) * 1000, "cache_hit_rate": n / (n + 1),
                        "memory_mib": 80.5, "cpu_temp_c": 51.2, "alerts_active": 0}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--alert-every", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = load_config(args.config)
    outbox = open_outbox(Path(args.data_dir), cfg.mqtt.spool_max_bytes)
    publisher = MqttPublisher(cfg, outbox, info_fn=lambda: {"tier": "lite", "board": "test rig"})
    count = [0]
    out_lock = threading.Lock()

    def emit(seq: int | None, kind: str) -> None:
        with out_lock:
            print(f"seq {seq} {kind}", flush=True)

    def snapshot() -> dict[str, Any]:
        count[0] += 1
        return fake_snapshot(count[0])

    class EchoSink:
        def submit_metrics(self, snap: dict[str, Any]) -> int | None:
            seq = publisher.submit_metrics(snap)
            emit(seq, "metrics")
            if args.alert_every and count[0] % args.alert_every == 0:
                state = "firing" if (count[0] // args.alert_every) % 2 else "resolved"
                event = {"alert_id": f"a-{count[0] // (2 * args.alert_every)}", "rule": "latency_p95",
                         "severity": "warning", "state": state, "value": 1.5, "threshold": 1.0,
                         "ts": 0.0, "message": "p95 above budget"}
                emit(publisher.submit_alert(event), "alerts")
            return seq

        def submit_alert(self, event: dict[str, Any]) -> int | None:
            return publisher.submit_alert(event)

    telemetry = TelemetryService(EchoSink(), snapshot, args.interval)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    publisher.start()
    telemetry.start()
    print("ready", flush=True)
    stop.wait()
    telemetry.stop()
    publisher.stop()
    outbox.close()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
