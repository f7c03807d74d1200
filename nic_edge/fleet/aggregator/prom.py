"""Optional Prometheus ``/metrics`` endpoint with fleet gauges (stdlib http.server, own thread).

Values come from the renderer's model (the same numbers as fleet.json), recomputed per scrape.
``/healthz`` on the same port answers the container HEALTHCHECK (containers/): 200 with the
device count once the model can be computed, i.e. the state is readable.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from nic_edge.core.lifecycle import Service

log = logging.getLogger(__name__)

_DEVICE_GAUGES = (
    ("nic_fleet_device_up", "1 when the device is online", "online"),
    ("nic_fleet_device_answer_latency_p95_seconds", "Answer latency p95 over the last 10 minutes", "latency_p95_ms"),
    ("nic_fleet_device_cache_hit_rate", "Cache hit rate reported by the device", "cache_hit_rate"),
    ("nic_fleet_device_memory_bytes", "Resident memory of the device runtime", "memory_bytes"),
    ("nic_fleet_device_memory_budget_bytes", "Tier memory budget", "memory_budget_bytes"),
    ("nic_fleet_device_cpu_temperature_celsius", "CPU temperature", "cpu_temp_c"),
    ("nic_fleet_device_disk_free_bytes", "Free disk on the data dir", "disk_free_bytes"),
    ("nic_fleet_device_alerts_active", "Alerts firing on the device", "alerts_active"),
    ("nic_fleet_device_last_seen_timestamp_seconds", "When the device was last heard from", "last_seen"),
)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _val(v: Any) -> str | None:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)) and math.isfinite(v):
        return repr(float(v))
    return None


Family = tuple[str, str, str, list[tuple[dict[str, str], float]]]  # name, help, type, [(labels, value)]


def families(rows: list[dict[str, Any]], fleet: dict[str, Any]) -> list[Family]:
    """The fleet's series, shared by ``/metrics`` (``exposition``) and remote write (remote_write.py)."""
    out: list[Family] = [
        ("nic_fleet_devices", "Devices known to the aggregator by state", "gauge",
         [({"state": "online"}, fleet["online"]), ({"state": "offline"}, fleet["offline"])]),
        ("nic_fleet_alerts_active", "Alerts firing across the fleet", "gauge", [({}, fleet["alerts_active"])]),
        ("nic_fleet_answer_latency_seconds", "Fleet answer latency quantiles (merged device histograms, 10 min)",
         "gauge", [({"quantile": q}, fleet[key] / 1000.0)
                   for q, key in (("0.5", "latency_p50_ms"), ("0.95", "latency_p95_ms"), ("0.99", "latency_p99_ms"))
                   if fleet.get(key) is not None]),
        ("nic_fleet_ingest_messages_total", "Messages handled by the aggregator by result", "counter",
         [({"result": k}, fleet["ingest"][k]) for k in ("messages", "alerts", "duplicates", "bad")]),
    ]
    for name, doc, key in _DEVICE_GAUGES:
        samples = []
        for r in rows:
            v = r.get(key)
            if key == "latency_p95_ms":
                v = None if v is None else v / 1000.0
            elif key == "alerts_active":  # with those the device counts but never sent us (render._row)
                v = len(v) + r.get("alerts_unseen", 0)
            if _val(v) is not None:
                samples.append(({"device": r["id"], "tier": r["tier"] or ""}, float(v)))
        out.append((name, doc, "gauge", samples))
    return out


def exposition(rows: list[dict[str, Any]], fleet: dict[str, Any]) -> str:
    out: list[str] = []
    for name, doc, kind, samples in families(rows, fleet):
        out.append(f"# HELP {name} {doc}")
        out.append(f"# TYPE {name} {kind}")
        for labels, v in samples:
            lab = ",".join(f'{k}="{_esc(x)}"' for k, x in labels.items())
            out.append(f"{name}{{{lab}}} {_val(v)}" if lab else f"{name} {_val(v)}")
    return "\n".join(out) + "\n"


class MetricsServer(Service):
    name = "aggregator-prom"

    def __init__(self, bind: str, port: int, model: Callable[[float], tuple[list[dict[str, Any]], dict[str, Any], Any]]) -> None:
        super().__init__()
        self.bind, self.port, self.model = bind, port, model
        self._server: ThreadingHTTPServer | None = None

    def on_start(self) -> None:
        model = self.model

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?")[0]
                if path not in ("/metrics", "/healthz"):
                    self.send_error(404)
                    return
                rows, fleet, _ = model(time.time())
                if path == "/healthz":
                    body, ctype = json.dumps({"status": "ok", "devices": len(rows)}).encode(), "application/json"
                else:
                    body, ctype = exposition(rows, fleet).encode(), "text/plain; version=0.0.4; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("prom: " + fmt, *args)

        self._server = ThreadingHTTPServer((self.bind, self.port), Handler)
        self.port = self._server.server_address[1]
        log.info("Prometheus endpoint on http://%s:%d/metrics", self.bind, self.port)

    def run(self) -> None:
        assert self._server is not None
        self._server.serve_forever(poll_interval=0.5)

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            threading.Thread(target=self._server.shutdown, daemon=True).start()
        super().stop(timeout)

    def on_stop(self) -> None:
        if self._server is not None:
            self._server.server_close()
            self._server = None
