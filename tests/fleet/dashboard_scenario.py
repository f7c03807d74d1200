"""A small fleet for dashboard tests and the docs screenshots: one healthy, one degraded
(lexical mode), one with a critical alert and one offline device, with 24 h of history.

Fed through the real Ingestor (the payloads a box publishes, from tools/device_sim.py) into a
real LMDB store, then rendered by the real Renderer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nic_edge.comms import schema
from nic_edge.fleet.aggregator.ingest import Ingestor
from nic_edge.fleet.aggregator.render import Renderer
from nic_edge.fleet.aggregator.series import SeriesStore
from nic_edge.fleet.aggregator.state import FleetState
from tests.fleet.aggregator_support import load_sim

HEALTHY, DEGRADED, ALERTING, OFFLINE = "cab-12", "plant-3", "radar-7", "truck-5"
CRITICAL_MESSAGE = "memory 171 MiB over the 160 MiB budget; answer cache shrunk"
HISTORY_S = 24 * 3600
STEP_S = 300


def _alert(sim: Any, dev: Any, rule: str, severity: str, state: str, ts: float, message: str) -> bytes:
    event = {"alert_id": f"{rule}-1", "rule": rule, "severity": severity, "state": state, "value": 171.0,
             "threshold": 160.0, "ts": ts, "message": message}
    return schema.encode_alert(schema.build_alert(event, seq=dev.next_seq(), device=dev.device))


def build(tmp: Path, now: float, broker: dict[str, Any] | None = None,
          report: bool = False) -> tuple[Renderer, Path]:
    """Render the scenario into ``tmp/out``; returns the renderer (its store still open) and out."""
    sim = load_sim()
    clock = [now - HISTORY_S]  # the aggregator's clock follows the messages (last seen, alert ages)
    state = FleetState(SeriesStore(tmp / "state"), clock=lambda: clock[0])
    ing = Ingestor(state)
    devs = {name: sim.SimDevice(name, tier=tier, seed=i)
            for i, (name, tier) in enumerate(((HEALTHY, "lite"), (DEGRADED, "ultra_lite"),
                                               (ALERTING, "ultra_lite"), (OFFLINE, "standard")))}
    devs[DEGRADED].mode = "lexical"
    devs[DEGRADED].memory_state = "degraded"
    devs[ALERTING].latency_factor = 2.5
    for name, d in devs.items():
        ing.handle(f"nic/{name}/info", d.info_payload(now - HISTORY_S), True)
        last = now - 2400 if name == OFFLINE else now - 8
        t = now - HISTORY_S
        while t <= last:
            if not (name == ALERTING and now - 6 * 3600 < t < now - 5 * 3600):  # an hour without reports
                clock[0] = t
                ing.handle(f"nic/{name}/metrics", d.metrics_payload(t))
            t = min(t + STEP_S, last) if t < last else t + STEP_S
        clock[0] = last
        ing.handle(f"nic/{name}/status", b"offline" if name == OFFLINE else b"online", True)
    a = devs[ALERTING]
    clock[0] = now - 3
    ing.handle(f"nic/{ALERTING}/alerts", _alert(sim, a, "cpu_temp", "warning", "firing", now - 20 * 3600,
                                                "CPU at 78 °C (limit 75 °C)"))
    ing.handle(f"nic/{ALERTING}/alerts", _alert(sim, a, "cpu_temp", "warning", "resolved", now - 18 * 3600,
                                                "CPU back to 61 °C"))
    ing.handle(f"nic/{ALERTING}/alerts", _alert(sim, a, "memory_budget", "critical", "firing", now - 3 * 3600,
                                                CRITICAL_MESSAGE))
    clock[0] = now
    out = tmp / "out"
    r = Renderer(state, out, broker=(lambda: broker) if broker is not None else None)
    r.run_analytics(now, report=report)
    r.render(now, all_pages=True)
    return r, out
