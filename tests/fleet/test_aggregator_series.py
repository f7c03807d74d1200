"""Aggregator store: old payloads accepted, coarse buckets written when closed and rebuilt after
a crash, the msgpack record codec, and the buffered MQTT socket."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator.buckets import store_codec
from nic_edge.fleet.aggregator.ingest import Ingestor
from nic_edge.fleet.aggregator.netbuf import ACK_BATCH, BufferedSocket
from nic_edge.fleet.aggregator.series import CLOSE_GRACE_S, SeriesStore, key
from nic_edge.fleet.aggregator.state import FleetState
from tests.fleet.aggregator_support import load_sim

sim = load_sim()
T0 = 1_700_000_100.0 - 1_700_000_100.0 % 3600  # an hour boundary: the 5 min and 1 h buckets start here


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(tmp: Path, clock: Clock) -> tuple[FleetState, Ingestor]:
    st = FleetState(SeriesStore(tmp / "state"), clock=clock)
    return st, Ingestor(st)


def stored_row(st: FleetState, res: str, dev: str, t: float) -> dict | None:
    with st.store.env.begin() as txn:
        raw = txn.get(key(dev, int(t // st.store.step(res))), db=st.store._scal[res])
    return None if raw is None else st.store.unpack(raw)


def sketch_of(payloads: list[bytes]) -> LatencySketch:
    out = LatencySketch()
    for p in payloads:
        out.merge(LatencySketch.from_dict(json.loads(p)["latency"]["answer"]["sketch"]))
    return out


def test_payloads_of_boxes_not_yet_upgraded_are_accepted(tmp_path: Path) -> None:
    st, ing = make(tmp_path, Clock(T0 + 200))
    new, old = sim.SimDevice("dev-new", seed=5), sim.SimDevice("dev-old", seed=5, legacy=True)
    for i in range(6):
        assert ing.handle("nic/dev-new/metrics", new.metrics_payload(T0 + 10 * i))
        assert ing.handle("nic/dev-old/metrics", old.metrics_payload(T0 + 10 * i))
    assert not ing.handle("nic/dev-old/metrics", old.replay_payload(2))  # de-dup as before
    st.flush()
    a, b = (st.store.series(d, "10s", 0) for d in ("dev-new", "dev-old"))
    assert len(a) == len(b) == 6
    for x, y in zip(a, b):  # same seed: the same questions, outcomes and latencies either way
        assert (x["n"], x["q"], x["an"], x["ab"], x["p95"]) == (y["n"], y["q"], y["an"], y["ab"], y["p95"])
    assert st.store.merged_sketch("dev-new", "5m", 0).bins == st.store.merged_sketch("dev-old", "5m", 0).bins
    assert st.devices["dev-old"].metrics["questions"] == st.devices["dev-new"].metrics["questions"] > 0
    assert st.stats["bad"] == 0


def test_coarse_buckets_are_written_once_closed_and_late_points_rewrite_them(tmp_path: Path) -> None:
    clock = Clock(T0 + 100)
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("dev-a", seed=1)
    msgs = [dev.metrics_payload(T0 + 10 * i) for i in range(9)]
    for m in msgs[:8]:
        ing.handle("nic/dev-a/metrics", m)
    st.flush()
    assert stored_row(st, "10s", "dev-a", T0)["n"] == 1
    assert stored_row(st, "5m", "dev-a", T0) is None  # open: in memory only ...
    assert sum(r["n"] for r in st.store.series("dev-a", "5m", 0)) == 8  # ... yet visible
    clock.t = T0 + 300 + CLOSE_GRACE_S + 1
    st.flush()
    row = stored_row(st, "5m", "dev-a", T0)
    assert row is not None and row["n"] == 8 and stored_row(st, "1h", "dev-a", T0) is None
    ing.handle("nic/dev-a/metrics", msgs[8])  # late (e.g. replayed from the box's outbox)
    st.flush()
    assert stored_row(st, "5m", "dev-a", T0)["n"] == 9
    ref = sketch_of(msgs)
    got = st.store.merged_sketch("dev-a", "5m", T0, T0 + 299)
    assert got.bins == ref.bins and got.count == ref.count


@pytest.mark.parametrize("downtime", [0.0, 2 * 3600.0])
def test_crash_loses_no_coarse_data(tmp_path: Path, downtime: float) -> None:
    clock = Clock(T0 + 150)
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("dev-k", seed=3)
    msgs = [dev.metrics_payload(T0 + 10 * i) for i in range(14)]
    for m in msgs[:10]:
        ing.handle("nic/dev-k/metrics", m)
    st.flush()
    st.store.env.close()  # a crash: open coarse buckets were never written
    clock.t += downtime
    st2, ing2 = make(tmp_path, clock)
    for m in msgs:  # the broker re-delivers; the box re-sends from its outbox
        ing2.handle("nic/dev-k/metrics", m)
    st2.flush()
    for res in ("10s", "5m", "1h"):
        assert sum(r["n"] for r in st2.store.series("dev-k", res, 0)) == 14, res
    assert st2.store.merged_sketch("dev-k", "1h", 0).bins == sketch_of(msgs).bins
    if downtime:  # closed while the aggregator was down: written at start, then the late points
        assert stored_row(st2, "5m", "dev-k", T0)["n"] == 14 and stored_row(st2, "1h", "dev-k", T0)["n"] == 14
    clock.t = T0 + 3600 + CLOSE_GRACE_S + 1 + downtime
    st2.flush()
    assert stored_row(st2, "1h", "dev-k", T0)["n"] == 14
    st2.store.close()


def test_store_codec_is_msgpack_with_json_fallback(tmp_path: Path) -> None:
    pack, unpack = store_codec()
    rec = {"n": 1, "g": {"rss": [1.5, 1]}, "s": "ok", "x": None, "b": True}
    assert pack(rec)[:1] != b"{" and unpack(pack(rec)) == rec
    for odd in ({"ram": 10 ** 30}, {"state": "\ud800"}):  # both can come from a JSON payload
        assert pack(odd)[:1] == b"{" and unpack(pack(odd)) == odd
    assert unpack(b'{"n": 2}') == {"n": 2}  # records written by earlier versions
    clock = Clock(T0)
    st, ing = make(tmp_path, clock)
    box = sim.SimDevice("dev-x", seed=2)
    info = json.loads(box.info_payload(T0))
    info["ram_bytes"], info["board"] = 10 ** 30, "\ud800 board"
    assert ing.handle("nic/dev-x/info", json.dumps(info).encode(), True)
    assert ing.handle("nic/dev-x/metrics", box.metrics_payload(T0))
    st.flush()
    st.store.close()
    st2, _ = make(tmp_path, clock)
    assert st2.devices["dev-x"].info["ram_bytes"] == 10 ** 30 and st2.devices["dev-x"].seq_max == 1


def test_buffered_socket_reads_in_bulk_and_batches_acks() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    bs = BufferedSocket(a)
    b.sendall(b"\x30\x03abc" * 3)
    assert bs.recv(1) == b"\x30" and bs.pending() == 14  # one read took everything
    assert bs.recv(1) == b"\x03" and bs.recv(10) == b"abc\x30\x03abc\x30\x03"
    assert bs.recv(10) == b"abc" and bs.pending() == 0
    with pytest.raises(BlockingIOError):
        bs.recv(1)
    puback = b"\x40\x02\x00\x01"
    for _ in range(ACK_BATCH - 1):
        assert bs.send(puback) == 4
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(100)  # held back ...
    assert bs.pending() == 0  # ... until paho would wait for the network
    assert b.recv(100) == puback * (ACK_BATCH - 1)
    bs.send(puback)
    assert bs.send(b"\xc0\x00") == 2  # PINGREQ: pending acks go first, in order
    assert b.recv(100) == puback + b"\xc0\x00"
    bs.send(puback)
    bs.close()  # flushes
    assert b.recv(100) == puback
    b.close()


def _publish(topic: bytes, payload: bytes, qos: int = 1, mid: int = 7, retain: bool = False,
             v5_props: bytes | None = None) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"")
    if v5_props is not None:
        body += bytes([len(v5_props)]) + v5_props
    body += payload
    n, rl = len(body), bytearray()
    while True:
        n, b = n >> 7, n & 0x7F
        rl.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes([0x30 | qos << 1 | retain]) + bytes(rl) + body


def test_fast_publish_path_parses_whole_packets_and_leaves_the_rest_to_paho() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    bs = BufferedSocket(a)
    got: list[tuple] = []
    big = b"x" * 300  # a two-byte remaining length
    b.sendall(_publish(b"nic/d1/metrics", big, mid=0x0102) + _publish(b"nic/d1/status", b"online", qos=0, retain=True)
              + _publish(b"nic/\xff/metrics", b"{}", mid=3) + b"\xd0\x00"  # PINGRESP: paho's
              + _publish(b"nic/d2/metrics", b"{}", mid=4))
    time.sleep(0.05)
    assert bs.take_publishes(lambda *m: got.append(m), v5=False) == 3
    assert got == [("nic/d1/metrics", big, False), ("nic/d1/status", b"online", True), (None, b"{}", False)]
    assert bs.recv(2) == b"\xd0\x00"  # paho reads the PINGRESP from the same buffer
    assert bs.take_publishes(lambda *m: got.append(m), v5=False) == 1 and got[-1][0] == "nic/d2/metrics"
    bs.pending()  # drained: the acks go out, in order (none for QoS 0)
    assert b.recv(100) == b"\x40\x02\x01\x02" + b"\x40\x02\x00\x03" + b"\x40\x02\x00\x04"
    whole = _publish(b"nic/d3/metrics", b"{}", mid=5, v5_props=b"")
    b.sendall(whole[:5])  # incomplete: left for later (or for paho)
    time.sleep(0.05)
    assert bs.take_publishes(lambda *m: got.append(m), v5=True) == 0 and bs.pending() == 5
    b.sendall(whole[5:] + _publish(b"nic/d4/metrics", b"{}", mid=6, v5_props=b"\x01\x01"))  # with properties
    time.sleep(0.05)
    assert bs.take_publishes(lambda *m: got.append(m), v5=True) == 0  # paho's reader finishes it:
    assert bs.recv(5) == whole[:5] and bs.recv(len(whole) - 5) == whole[5:]  # buffered, then one read
    assert bs.take_publishes(lambda *m: got.append(m), v5=True) == 0  # properties: paho parses them
    assert got[-1][0] == "nic/d2/metrics" and bs.pending() > 0
    bs.close()
    b.close()


def test_mqtt_ingest_uses_the_fast_path_with_a_real_broker(mosquitto: Any, tmp_path: Path) -> None:
    from nic_edge.core.config import parse_config
    from nic_edge.fleet.aggregator.ingest import MqttIngest
    import paho.mqtt.client as mqtt

    for proto in ("3.1.1", "5"):
        st = FleetState(SeriesStore(tmp_path / f"s{proto}"), clock=Clock(T0 + 100))
        cfg = parse_config({"mqtt": {"host": mosquitto.host, "port": mosquitto.port, "protocol": proto}})
        svc = MqttIngest(cfg, Ingestor(st), client_id=f"fast-{proto}")
        svc.start()
        try:
            assert svc.subscribed.wait(10)
            assert type(svc._client._sock).__name__ == "BufferedSocket"
            pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{proto}")
            pub.connect(mosquitto.host, mosquitto.port)
            pub.loop_start()
            box = sim.SimDevice(f"dev-{proto}", seed=4)
            for i in range(50):
                pub.publish(f"nic/dev-{proto}/metrics", box.metrics_payload(T0 + 10 * i), qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 10
            while st.stats["messages"] < 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert st.stats["messages"] == 50 and st.stats["bad"] == 0
            pub.loop_stop()
            pub.disconnect()
        finally:
            svc.stop()
            st.store.close()


def test_hour_buckets_are_fed_by_closed_five_minute_buckets(tmp_path: Path) -> None:
    """The 1 h bucket gets each 5 min bucket when that closes (not every message); readers
    see it whole all along, a late message counts once, and the written hour is exact."""
    clock = Clock(T0 + 5)
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("dev-h", seed=4)
    msgs = [dev.metrics_payload(T0 + 20 * i) for i in range(40)]  # 0 .. 780 s: 3 five-minute buckets

    def hour_n() -> int:
        return sum(r["n"] for r in st.store.series("dev-h", "1h", 0))

    for i, m in enumerate(msgs[:30]):  # up to 580 s; the first 5 min bucket closes at 330 s
        clock.t = T0 + 20 * i + 5
        assert ing.handle("nic/dev-h/metrics", m)
        if i % 5 == 4:
            st.flush()
        assert hour_n() == i + 1  # open 5 min buckets are part of the hour as readers see it
    assert stored_row(st, "5m", "dev-h", T0)["n"] == 15  # closed and written
    assert st.store._mem["1h"]["dev-h"][int(T0 // 3600)].n == 15  # passed on once closed, not per message
    late = msgs[30:]
    for i, m in enumerate(late[:5]):
        clock.t = T0 + 600 + 5 * i
        assert ing.handle("nic/dev-h/metrics", m)
    assert not ing.handle("nic/dev-h/metrics", msgs[3])  # a duplicate stays out everywhere
    st.flush()
    assert hour_n() == 35
    for m in late[5:]:
        ing.handle("nic/dev-h/metrics", m)
    clock.t = T0 + 3600 + CLOSE_GRACE_S + 1
    st.flush()
    row = stored_row(st, "1h", "dev-h", T0)
    assert row is not None and row["n"] == 40 and hour_n() == 40
    assert [stored_row(st, "5m", "dev-h", T0 + 300 * k)["n"] for k in range(3)] == [15, 15, 10]
    got = st.store.merged_sketch("dev-h", "1h", 0)
    assert got.bins == sketch_of(msgs).bins and got.count == sketch_of(msgs).count
    late_point = dev.metrics_payload(T0 + 10 * 3 + 5)  # a new seq for the long-closed first bucket
    assert ing.handle("nic/dev-h/metrics", late_point)
    st.flush()
    assert stored_row(st, "5m", "dev-h", T0)["n"] == 16 and stored_row(st, "1h", "dev-h", T0)["n"] == 41


def test_crash_mid_hour_rebuilds_the_hour_from_closed_buckets_only(tmp_path: Path) -> None:
    clock = Clock(T0 + 5)
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("dev-m", seed=6)
    msgs = [dev.metrics_payload(T0 + 20 * i) for i in range(40)]
    for i, m in enumerate(msgs[:25]):  # the first 5 min bucket closes and is passed on
        clock.t = T0 + 20 * i + 5
        ing.handle("nic/dev-m/metrics", m)
        st.flush()
    st.store.env.close()  # crash: the open 5 min and 1 h buckets were in memory only
    st2, ing2 = make(tmp_path, clock)
    assert sum(r["n"] for r in st2.store.series("dev-m", "1h", 0)) == 25
    for m in msgs:  # everything re-delivered: the first 25 are duplicates
        ing2.handle("nic/dev-m/metrics", m)
    clock.t = T0 + 3600 + CLOSE_GRACE_S + 1
    st2.flush()
    assert stored_row(st2, "1h", "dev-m", T0)["n"] == 40
    assert st2.store.merged_sketch("dev-m", "1h", 0).bins == sketch_of(msgs).bins
    st2.store.close()


def test_snapshots_sharing_a_ten_second_bucket_are_merged(tmp_path: Path) -> None:
    clock = Clock(T0 + 60)
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("dev-d", seed=7)
    msgs = [dev.metrics_payload(T0 + 2 * i) for i in range(3)]  # a 2 s interval: one 10 s bucket
    ing.handle("nic/dev-d/metrics", msgs[0])
    ing.handle("nic/dev-d/metrics", msgs[1])  # merged with the record pending a flush
    assert st.store.series("dev-d", "10s", 0)[0]["n"] == 2
    st.flush()
    ing.handle("nic/dev-d/metrics", msgs[2])  # merged with the stored record
    st.flush()
    row = stored_row(st, "10s", "dev-d", T0)
    assert row["n"] == 3 and row["q"] == sum(json.loads(m)["latency"]["answer"]["count"] for m in msgs)
    assert st.store.merged_sketch("dev-d", "10s", 0).bins == sketch_of(msgs).bins


class _FailingWrites:
    """The LMDB environment with its next ``n`` write transactions failing (a disk error)."""

    def __init__(self, env: Any, n: int) -> None:
        self._env, self.n = env, n

    def begin(self, *args: Any, write: bool = False, **kw: Any) -> Any:
        if write and self.n > 0:
            self.n -= 1
            raise OSError(5, "injected I/O error")
        return self._env.begin(*args, write=write, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


def test_failed_commits_are_retried_and_lose_nothing(tmp_path: Path) -> None:
    from nic_edge.fleet.aggregator.main import AggregatorLoop
    from nic_edge.fleet.aggregator.render import Renderer

    clock = Clock(T0 + 60)
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("dev-f", seed=8)
    for i in range(3):
        assert ing.handle("nic/dev-f/metrics", dev.metrics_payload(T0 + 10 * i))
    assert ing.handle("nic/dev-f/alerts", dev.alert_payload("cpu_temp", "firing", 81.0, ts=T0 + 25))
    real = st.store.env
    st.store.env = _FailingWrites(real, 2)
    loop = AggregatorLoop(st, Renderer(st, tmp_path / "out"), 3600.0, 86400.0, commit_interval_s=0.05)
    assert not loop._commit() and not loop._commit()  # logged, not raised: the loop goes on
    assert loop.commit_failures == 2
    assert ing.handle("nic/dev-f/metrics", dev.metrics_payload(T0 + 30))  # ingestion meanwhile
    assert loop._commit() and loop.commit_failures == 0
    st.store.env = real
    st.store.close()
    st2, _ = make(tmp_path, clock)
    assert sum(r["n"] for r in st2.store.series("dev-f", "10s", 0)) == 4
    assert st2.devices["dev-f"].seq_max == 5  # the de-dup window (device record) was written too
    assert [e["rule"] for e in st2.alert_history("dev-f")] == ["cpu_temp"]
    st2.store.close()
