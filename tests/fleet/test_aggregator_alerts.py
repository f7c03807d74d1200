"""Active alerts as the dashboard shows them: episodes a device restart or a lost resolve ended,
alerts raised before the aggregator listened, info alerts; and notifications that survive a
webhook answering something that is not HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from nic_edge.fleet.aggregator.ingest import Ingestor
from nic_edge.fleet.aggregator.notify import Notifier
from nic_edge.fleet.aggregator.render import Renderer
from nic_edge.fleet.aggregator.series import SeriesStore
from nic_edge.fleet.aggregator.state import FleetState
from tests.fleet.aggregator_support import Clock, load_sim

sim = load_sim()
NOW = 1_700_000_000.0


def make(tmp: Path, clock: Clock) -> tuple[FleetState, Ingestor]:
    st = FleetState(SeriesStore(tmp / "state"), clock=clock)
    return st, Ingestor(st)


def row(st: FleetState, tmp: Path, now: float) -> dict[str, Any]:
    Renderer(st, tmp / "out").render(now=now)
    doc = json.loads((tmp / "out" / "fleet.json").read_text())
    (r,) = doc["devices"]
    return r | {"_fleet": doc["fleet"]}


def test_a_device_restart_leaves_one_active_alert_per_episode(tmp_path: Path) -> None:
    clock = Clock(NOW)
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("d", seed=1)
    assert ing.handle("nic/d/status", b"online")
    assert ing.handle("nic/d/alerts", dev.alert_payload("cpu_temp", "firing", 82.0, ts=clock.t))
    assert ing.handle("nic/d/alerts", dev.alert_payload("disk_free", "firing", 0.1, ts=clock.t))
    assert ing.handle("nic/d/metrics", dev.metrics_payload(clock.t + 5))  # says 2 active: both stay
    assert sorted(a["rule"] for a in row(st, tmp_path, clock.t)["alerts_active"]) == ["cpu_temp", "disk_free"]
    # the box restarts (same data dir: its seq counter goes on); the evaluator starts empty, the
    # temperature is still high: cpu_temp fires again under a new id, disk_free does not
    clock.t += 600
    assert ing.handle("nic/d/status", b"offline")
    assert ing.handle("nic/d/status", b"online")
    dev.firing.clear()
    assert ing.handle("nic/d/alerts", dev.alert_payload("cpu_temp", "firing", 83.0, ts=clock.t))
    r = row(st, tmp_path, clock.t)
    # the older cpu_temp episode ended when the new one fired
    assert [a["alert_id"] for a in r["alerts_active"]] == [f"disk_free-{int(NOW * 1000)}",
                                                         f"cpu_temp-{int(clock.t * 1000)}"]
    assert ing.handle("nic/d/metrics", dev.metrics_payload(clock.t + 5))  # the box counts 1 firing
    r = row(st, tmp_path, clock.t + 5)
    assert [a["alert_id"] for a in r["alerts_active"]] == [f"cpu_temp-{int(clock.t * 1000)}"]
    assert r["health"]["text"] == "1 warning" and r["_fleet"]["alerts_active"] == 1
    ended = [e for e in st.alert_history("d") if e.get("inferred")]
    assert sorted(e["rule"] for e in ended) == ["cpu_temp", "disk_free"]
    assert all(e["state"] == "resolved" for e in ended)
    # the same after a restart of the aggregator (history and active alerts come from LMDB)
    st.flush()
    st.store.close()
    st2, ing2 = make(tmp_path, clock)
    assert [a["rule"] for a in row(st2, tmp_path, clock.t + 5)["alerts_active"]] == ["cpu_temp"]
    # the old episode's own resolve, arriving late, is recorded (not a duplicate of the inferred end)
    assert ing2.handle("nic/d/alerts", dev.alert_payload("disk_free", "resolved", 0.5, ts=clock.t + 6,
                                                         alert_id=f"disk_free-{int(NOW * 1000)}"))
    assert [a["rule"] for a in row(st2, tmp_path, clock.t + 6)["alerts_active"]] == ["cpu_temp"]


def test_a_reset_data_dir_ends_the_alerts_of_the_old_counter(tmp_path: Path) -> None:
    clock = Clock(NOW)
    st, ing = make(tmp_path, clock)
    old = sim.SimDevice("d", seed=1)
    old.seq = 5000  # a long-running box: a counter from 1 cannot follow it
    for _ in range(5):
        assert ing.handle("nic/d/metrics", old.metrics_payload(clock.t))
    assert ing.handle("nic/d/alerts", old.alert_payload("cpu_temp", "firing", 82.0, ts=clock.t))
    clock.t += 60
    assert ing.handle("nic/d/status", b"online")  # reconnects with a wiped data dir: seq from 1
    fresh = sim.SimDevice("d", seed=2)
    assert ing.handle("nic/d/metrics", fresh.metrics_payload(clock.t))
    assert row(st, tmp_path, clock.t)["alerts_active"] == []


def test_alerts_raised_before_the_aggregator_listened_count(tmp_path: Path) -> None:
    clock = Clock(NOW)
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("d", seed=1)
    dev.firing.add("cpu_temp")  # fired before this aggregator subscribed (alerts are not retained)
    assert ing.handle("nic/d/status", b"online")
    assert ing.handle("nic/d/metrics", dev.metrics_payload(clock.t))
    r = row(st, tmp_path, clock.t)
    assert r["alerts_active"] == [] and r["alerts_unseen"] == 1 and r["_fleet"]["alerts_active"] == 1
    assert r["health"]["level"] == "warning" and "1 more active alert reported by the device" in r["health"]["text"]
    assert "1 more active on the device" in (tmp_path / "out" / "index.html").read_text()
    # once its event is known it is shown as such, not counted twice
    assert ing.handle("nic/d/alerts", dev.alert_payload("disk_free", "firing", 0.1, ts=clock.t))
    assert ing.handle("nic/d/metrics", dev.metrics_payload(clock.t + 5))
    r = row(st, tmp_path, clock.t + 5)
    assert len(r["alerts_active"]) == 1 and r["alerts_unseen"] == 1 and r["_fleet"]["alerts_active"] == 2


def test_info_alerts_are_not_warnings(tmp_path: Path) -> None:
    clock = Clock(NOW)
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("d", seed=1)
    assert ing.handle("nic/d/status", b"online")
    assert ing.handle("nic/d/alerts", dev.alert_payload("content_updated", "firing", ts=clock.t, severity="info"))
    h = row(st, tmp_path, clock.t)["health"]
    assert h["level"] == "ok" and h["text"] == "1 info alert"
    assert ing.handle("nic/d/alerts", dev.alert_payload("cpu_temp", "firing", ts=clock.t, severity="warning"))
    h = row(st, tmp_path, clock.t)["health"]
    assert h["level"] == "warning" and h["text"] == "1 warning, 1 info alert"


class GarbageThenHttp:
    """A TCP server on 127.0.0.1: the first ``bad`` connections get a reply that is not HTTP
    (what the tester's ``garbage\\r\\n\\r\\n`` server sent), later ones a real 204."""

    def __init__(self, bad: int) -> None:
        self.bad, self.connections = bad, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                self.connections += 1
                conn.sendall(b"garbage\r\n\r\n" if self.connections <= self.bad else
                             b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


def test_a_reply_that_is_not_http_is_retried_and_notifications_go_on() -> None:
    server = GarbageThenHttp(bad=1)
    n = Notifier(webhook_url=server.url, webhook_secret=b"s", cooldown_s=0.0, attempts=3, backoff_s=0.01)
    n.start()
    try:
        event = {"device": "d", "alert_id": "cpu_temp-1", "rule": "cpu_temp", "severity": "warning",
                 "state": "firing", "value": 82.0, "threshold": 80.0, "ts": NOW, "message": "hot"}
        assert n.submit(event)
        deadline = time.monotonic() + 20
        while n.stats["delivered"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert n.stats["delivered"] == 1 and server.connections == 2  # retried after the bad reply
        server.bad = 10**9  # from now on the receiver answers garbage only: the alert fails, logged
        assert n.submit({**event, "state": "resolved"})
        while n.stats["failed"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert n.stats["failed"] == 1 and server.connections == 5 and n.running
        server.bad = 0
        assert n.submit({**event, "alert_id": "cpu_temp-2"})  # and the next alert still goes out
        while n.stats["delivered"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert n.stats["delivered"] == 2
    finally:
        n.stop()
        server.close()
