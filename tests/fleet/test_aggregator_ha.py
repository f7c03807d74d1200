"""Two aggregators at once (active-active, docs/FLEET_HA.md): real mosquitto, 3 device processes
(tools/device_sim.py), two real ``nic-aggregator`` processes rendering into ONE output dir, each
with its own client id and state dir; kill -9 of one of them between receive and commit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nic_edge.fleet.aggregator import instance
from nic_edge.fleet.aggregator.series import SeriesStore
from tests.fleet.aggregator_support import ROOT, SimProc, start_aggregator, wait_json, write_agg_config
from tests.support.broker import Broker

DEVICES = ("ha-1", "ha-2", "ha-3")
RENDER_S = 1.0


class DashboardReader:
    """Reads fleet.json and index.html as a web server would, all the time: every read must be a
    whole file, and once the fleet is complete, every fleet.json must hold all devices online."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.reads = 0
        self.torn: list[str] = []
        self.incomplete: list[tuple[float, str, int]] = []  # (time, rendered_by, devices online)
        self.renders: list[tuple[float, str, float]] = []   # (seen at, rendered_by, generated_at)
        self.complete = threading.Event()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="dashboard-reader", daemon=True)
        self._t.start()

    def _run(self) -> None:
        last = None
        while not self._stop.wait(0.02):
            try:
                raw = (self.out / "fleet.json").read_bytes()
                html = (self.out / "index.html").read_bytes()
            except FileNotFoundError:
                continue
            self.reads += 1
            if not html.rstrip().endswith(b"</html>"):
                self.torn.append("index.html")
            try:
                doc = json.loads(raw)
            except ValueError:
                self.torn.append("fleet.json")
                continue
            by = doc.get("rendered_by", {}).get("id", "?")
            if (by, doc["generated_at"]) != last:
                last = (by, doc["generated_at"])
                self.renders.append((time.time(), by, doc["generated_at"]))
            online = sum(1 for d in doc["devices"] if d["id"] in DEVICES and d["online"])
            if online == len(DEVICES):
                self.complete.set()
            elif self.complete.is_set():
                self.incomplete.append((time.time(), by, online))

    def stop(self) -> None:
        self._stop.set()
        self._t.join(5)


def _stored(state: Path) -> dict[str, int]:
    store = SeriesStore(state)
    try:
        return {d: sum(p["n"] for p in store.series(d, "10s", 0)) for d in DEVICES}
    finally:
        store.close()


def _published(sim: SimProc) -> int:
    with sim.cond:
        return sum(1 for line in sim.lines if line.startswith("seq ") and line.endswith(" metrics"))


def test_two_aggregators_one_killed(tmp_path: Path, mosquitto: Broker, stop_procs: list[Any]) -> None:
    out = tmp_path / "out"
    # b renders every second; a commits (and renders) every 30 s, and when something visible
    # changes (new devices), so a kill -9 once the fleet is known lands with seconds of received
    # but uncommitted snapshots, whose PUBACKs it has not sent yet
    cfg_a = write_agg_config(tmp_path / "a.toml", mosquitto, out, render_interval_s=30.0, commit_interval_s=30.0,
                             mqtt={"protocol": "5"})
    cfg_b = write_agg_config(tmp_path / "b.toml", mosquitto, out, render_interval_s=RENDER_S,
                             mqtt={"protocol": "5"})
    a_args = ("--client-id", "agg-a", "--state-dir", str(tmp_path / "state-a"))
    reader = DashboardReader(out)  # from the start: a renders only at start and on changes
    a = start_aggregator(cfg_a, tmp_path / "a.log", *a_args)
    # b half a loop tick (FLUSH_INTERVAL_S 0.5 s) later: started together, both loops tick in the
    # same millisecond, both render the new devices within ~5 ms of each other, and b's file
    # replaced a's before the reader (every 20 ms) saw it (seen once in CI)
    time.sleep(0.25)
    b = start_aggregator(cfg_b, tmp_path / "b.log", "--client-id", "agg-b", "--state-dir", str(tmp_path / "state-b"))
    stop_procs += [a, b]
    wait_json(out / "fleet.json", lambda d: "rendered_by" in d)
    time.sleep(1.0)  # both subscribed (their sessions exist) before the first snapshot
    sims = [SimProc(mosquitto, d, interval=0.25) for d in DEVICES]
    stop_procs.extend(sims)
    try:
        assert reader.complete.wait(20), "the dashboard never showed all 3 devices"
        # both instances rendered into the shared dir (whole files, each a complete fleet); on a
        # loaded machine b's first render may come a few seconds after a's
        deadline = time.time() + 20
        while not {"agg-a", "agg-b"} <= {r[1] for r in reader.renders} and time.time() < deadline:
            time.sleep(0.2)
        assert {"agg-a", "agg-b"} <= {r[1] for r in reader.renders}, reader.renders[-5:]

        # kill -9 a 2.5 s after its last render (its last commit): snapshots received, not committed
        time.sleep(2.5)
        published_at_kill = sum(_published(s) for s in sims)
        os.kill(a.pid, signal.SIGKILL)
        killed_at = time.time()
        a.wait(10)
        at_kill = _stored(tmp_path / "state-a")
        assert sum(at_kill.values()) < published_at_kill  # the kill landed before a commit

        # b alone keeps the dashboard complete and fresh: a render within one interval of the kill
        time.sleep(3 * RENDER_S)
        after = [r for r in reader.renders if r[0] > killed_at]
        assert after and after[0][1] == "agg-b" and after[0][0] - killed_at <= RENDER_S + 0.5, after[:3]
        assert all(r[1] == "agg-b" for r in after)

        # a restarts on its own session and state dir; what it missed and what it had not
        # acknowledged comes from the broker, de-duplicated on (device, seq)
        a = start_aggregator(cfg_a, tmp_path / "a2.log", *a_args)
        stop_procs.append(a)
        time.sleep(3.0)
    finally:
        for s in sims:
            s.close()
        reader.stop()
    published = {d: _published(s) for d, s in zip(DEVICES, sims)}
    time.sleep(1.5)  # the last snapshots reach both
    for p in (a, b):
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0  # a clean stop commits
    assert reader.torn == [] and reader.reads > 50
    # devices went offline cleanly only after the sims quit: before that, never a missing device
    assert [x for x in reader.incomplete if x[0] < killed_at + 5] == []
    assert _stored(tmp_path / "state-b") == published  # b: every snapshot, exactly once
    assert _stored(tmp_path / "state-a") == published  # a: also the ones it missed while dead
    assert not list(out.glob(".*.tmp")) and not list((out / "devices").glob(".*.tmp"))


def test_second_aggregator_on_the_same_state_dir_is_refused(tmp_path: Path, mosquitto: Broker,
                                                          stop_procs: list[Any]) -> None:
    out = tmp_path / "out"
    cfg = write_agg_config(tmp_path / "a.toml", mosquitto, out, render_interval_s=1.0)
    a = start_aggregator(cfg, tmp_path / "a.log", "--client-id", "agg-1")
    stop_procs.append(a)
    wait_json(out / "fleet.json", lambda d: d.get("rendered_by", {}).get("id") == "agg-1")
    second = subprocess.run([sys.executable, "-m", "nic_edge.cli.aggregator", "--config", str(cfg),
                             "--client-id", "agg-2"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    err = second.stderr.strip()
    assert len(err.splitlines()) == 1 and "aggregator.data_dir" in err and "agg-1" in err, err
    assert "Traceback" not in second.stderr
    # --once only reads the state: allowed beside the running one
    once = subprocess.run([sys.executable, "-m", "nic_edge.cli.aggregator", "--config", str(cfg), "--once",
                           "--out", str(tmp_path / "snap")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert once.returncode == 0, once.stderr
    assert a.poll() is None


def test_leftover_temp_files_are_cleared_per_instance(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "devices").mkdir(parents=True)
    mine = [out / ".fleet.json.~agg-a~x1y2.tmp", out / "devices" / ".ha-1.html.~agg-a~z9.tmp"]
    theirs = [out / ".fleet.json.~agg-ab~q1.tmp", out / ".index.html.~agg-b~r2.tmp"]
    for p in mine + theirs:
        p.write_text("half")
    assert instance.clear_leftovers(out, "agg-a") == 2
    assert not any(p.exists() for p in mine) and all(p.exists() for p in theirs)
    assert instance.tag_of("nic-aggregator-host/1 x") == "nic-aggregator-host_1_x"


def test_same_client_id_twice_is_named_in_the_log(tmp_path: Path, mosquitto: Broker, caplog: Any) -> None:
    """Two aggregators sharing one client id take the session from each other; the one pushed
    out says what to check and change (mosquitto 2.0 closes the old connection without a reason
    code, so the hint comes from a connection dropped right after its CONNACK)."""
    import logging

    from nic_edge.core.config import parse_config
    from nic_edge.fleet.aggregator.ingest import Ingestor, MqttIngest
    from nic_edge.fleet.aggregator.state import FleetState

    cfg = parse_config({"mqtt": {"host": mosquitto.host, "port": mosquitto.port, "protocol": "5"}})
    stores = [SeriesStore(tmp_path / f"s{i}") for i in range(2)]
    first = MqttIngest(cfg, Ingestor(FleetState(stores[0])), client_id="agg-same")
    second = MqttIngest(cfg, Ingestor(FleetState(stores[1])), client_id="agg-same")
    caplog.set_level(logging.WARNING, logger="nic_edge.fleet.aggregator.ingest")
    try:
        first.start()
        assert first.subscribed.wait(10)
        second.start()
        deadline = time.monotonic() + 10
        while "does another client use the client id 'agg-same'?" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        second.stop()
        first.stop()
        for st in stores:
            st.close()
    assert "does another client use the client id 'agg-same'?" in caplog.text
    assert "--client-id or mqtt.client_id" in caplog.text
