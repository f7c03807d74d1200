"""Prometheus remote write: the pure-Python wire format, the sender's queue and retries against
a real HTTP server, and the whole path with real processes (mosquitto, 3 device simulators, the
aggregator, Debian's Prometheus 2.42 with --web.enable-remote-write-receiver)."""

from __future__ import annotations

import json
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nic_edge.core.config import ConfigError, load_config
from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator import promwire
from nic_edge.fleet.aggregator.remote_write import RemoteWriter, fleet_histogram
from tests.fleet.aggregator_support import SimProc, start_aggregator, wait_json, write_agg_config
from tests.support.broker import Broker


def test_write_request_round_trip() -> None:
    series = [({"device": "d-1", "__name__": "nic_x", "aggregator": "a"}, [(0.25, 1_700_000_000_123), (-1.5, 7)]),
              ({"__name__": "nic_y"}, [(3.0, 0)])]
    body = promwire.write_request(series)
    back = promwire.parse_write_request(body)
    assert back == [({"__name__": "nic_x", "aggregator": "a", "device": "d-1"}, [(0.25, 1_700_000_000_123), (-1.5, 7)]),
                    ({"__name__": "nic_y"}, [(3.0, 0)])]
    # labels in wire order: __name__ first, then by name (the receiver requires sorted labels)
    first_label = body.index(b"__name__")
    assert first_label < body.index(b"aggregator") < body.index(b"device")
    # the Sample message exactly as protoc encodes it: double 0.25 (field 1), int64 7 (field 2)
    assert b"\x12\x0b\x09" + struct.pack("<d", -1.5) + b"\x10\x07" in body


@pytest.mark.parametrize("size", [0, 1, 59, 60, 61, 255, 256, 257, 65535, 65536, 65537, 200_000])
def test_snappy_literal_blocks_decode(size: int) -> None:
    data = bytes((i * 7 + i // 251) % 256 for i in range(size))
    block = promwire.snappy_block(data)
    assert promwire.snappy_decode(block) == data
    assert len(block) <= size + 5 + 4 * (size // 65536 + 1)


def test_compressed_write_request_decodes_to_the_same_bytes() -> None:
    long_id = "d" * 150  # a label longer than one copy element (64 bytes)
    series = [({"__name__": f"nic_m{i % 9}", "device": f"dev-{i // 9:05d}" if i % 50 else long_id,
                "aggregator": "agg-a"}, [(i * 0.5, 1_700_000_000_000 + i)]) for i in range(20_000)]
    raw = promwire.write_request(series)
    block = promwire.compressed_write_request(series)
    assert promwire.snappy_decode(block) == raw  # > 64 KiB apart: literals again, then copies
    assert len(block) < len(raw) / 2
    assert promwire.compressed_write_request([]) == promwire.varint(0)


def test_snappy_decoder_handles_copies() -> None:
    # "abcd" as a literal, then a 2-byte-offset copy of 8 bytes at offset 4 (overlapping itself),
    # then a 1-byte-offset copy of 4 bytes at offset 2: what Go's snappy.Encode emits for repeats
    block = promwire.varint(16) + bytes([3 << 2]) + b"abcd" + bytes([(7 << 2) | 2, 4, 0]) + bytes([0 << 2 | 1, 2])
    assert promwire.snappy_decode(block) == b"abcd" + b"abcdabcd" + b"cdcd"
    with pytest.raises(ValueError):
        promwire.snappy_decode(promwire.varint(4) + bytes([(3 << 2) | 2, 9, 0]))  # offset before the start


def test_fleet_histogram_matches_the_sketch() -> None:
    a, b = LatencySketch(), LatencySketch()
    for i in range(1, 400):
        (a if i % 3 else b).add(0.01 * (1 + i / 50))
    rows = [{"id": "a", "online": True}, {"id": "b", "online": True}, {"id": "c", "online": False}]
    c = LatencySketch()
    c.add(50.0)  # offline devices are not in the fleet figure
    hist = fleet_histogram(rows, {"a": a, "b": b, "c": c})
    assert hist[-1] == ("+Inf", 399.0)
    counts = [n for _, n in hist]
    assert counts == sorted(counts) and float(hist[-2][0]) < 50.0


class Receiver:
    """A real HTTP server answering remote-write POSTs with scripted statuses (then 204)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[tuple[int, bytes, dict[str, str]]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = outer.statuses.pop(0) if outer.statuses else 204
                outer.bodies.append((code, body, dict(self.headers)))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/write"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _model(n: list[int]) -> Any:
    def model(now: float) -> Any:
        n[0] += 1
        sk = LatencySketch()
        sk.add(0.1 * n[0])
        row = {"id": "d1", "online": True, "tier": "lite", "latency_p95_ms": 100.0 * n[0], "alerts_active": []}
        fleet = {"online": 1, "offline": 0, "alerts_active": 0, "latency_p95_ms": 100.0 * n[0],
                 "ingest": {"messages": n[0], "alerts": 0, "duplicates": 0, "bad": 0}}
        return [row], fleet, {"d1": sk}
    return model


def test_retry_in_order_drop_on_4xx_and_bounded_queue() -> None:
    rx = Receiver([503, 503, 400])
    try:
        w = RemoteWriter(rx.url, _model([0]), "agg-t", queue=3)
        for _ in range(5):
            w.sample()  # 5 batches into a queue of 3: the 2 oldest dropped
        assert len(w.queue) == 3 and w.stats["dropped"] == 2
        w.drain()  # 503: kept, backoff 1 s
        assert len(w.queue) == 3 and w.stats["failed"] == 1 and w._backoff == 1.0
        w.drain()  # 503 again: backoff doubles
        assert w._backoff == 2.0
        w.drain()  # 400 drops the head (never acceptable), then the rest go in order
        assert not w.queue and w.stats == {"sampled": 5, "sent": 2, "failed": 2, "rejected": 1, "dropped": 2}
        values = [promwire.parse_write_request(promwire.snappy_decode(b)) for _, b, _ in rx.bodies]
        p95 = [next(s[1][0][0] for s in v if s[0]["__name__"] == "nic_fleet_answer_latency_seconds") for v in values]
        assert p95 == pytest.approx([0.3, 0.3, 0.3, 0.4, 0.5])  # batch 3 retried until taken; oldest first
        h = {k.lower(): v for k, v in rx.bodies[0][2].items()}
        assert h["content-encoding"] == "snappy" and h["content-type"] == "application/x-protobuf"
        assert h["x-prometheus-remote-write-version"] == "0.1.0"
        assert all(s[0]["aggregator"] == "agg-t" for s in values[0])
    finally:
        rx.close()


def test_unreachable_receiver_never_blocks_sampling() -> None:
    w = RemoteWriter("http://127.0.0.1:9/api/v1/write", _model([0]), "agg-t", interval_s=1.0, timeout_s=0.5, queue=2)
    w.interval = 0.05
    w.start()
    try:
        deadline = time.monotonic() + 10
        while w.stats["sampled"] < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        w.stop()
    assert w.stats["sampled"] >= 5 and w.stats["sent"] == 0 and len(w.queue) == 2


def test_remote_write_config_keys(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[aggregator]\nremote_write_url = "prom:9090/api/v1/write"\n')
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert "aggregator.remote_write_url" in str(err.value)
    p.write_text('[aggregator]\nremote_write_url = "http://prom:9090/api/v1/write"\nremote_write_interval_s = 5\n')
    a = load_config(p).aggregator
    assert a.remote_write_url.endswith("/write") and a.remote_write_interval_s == 5.0
    assert load_config(None).aggregator.remote_write_url == ""  # off by default


def _value(prom: Any, promql: str) -> float:
    res = prom.query(promql)
    assert len(res) == 1, res
    return float(res[0]["value"][1])


def test_fleet_p95_in_a_real_prometheus(tmp_path: Path, mosquitto: Broker, prometheus_factory: Any,
                                        stop_procs: list[Any]) -> None:
    prom = prometheus_factory()  # port chosen, not started yet
    out = tmp_path / "out"
    cfg = write_agg_config(tmp_path / "agg.toml", mosquitto, out, render_interval_s=0.5,
                           remote_write_url=prom.write_url, remote_write_interval_s=1.0, mqtt={"protocol": "5"})
    agg = start_aggregator(cfg, tmp_path / "agg.log", "--client-id", "agg-prom")
    stop_procs.append(agg)
    sims = [SimProc(mosquitto, d, interval=0.2) for d in ("pw-1", "pw-2", "pw-3")]
    stop_procs.extend(sims)
    # Enough answers that the p95 tail is dense: the simulators' latencies are log-normal (sigma
    # 0.5), and at 50 answers neighbouring order statistics near p95 lie ~10 % apart, so the two
    # estimators below (ranks q*n and q*(n-1)) differed by 5.2 % in one run; at 500 ~1 %.
    wait_json(out / "fleet.json", lambda d: d["fleet"]["online"] == 3 and d["fleet"]["latency_count"] > 500)
    for s in sims:
        s.close()  # a clean disconnect leaves them online; their last 10 minutes no longer change
    # Prometheus only now: the batches of the last seconds waited in the queue, retried with backoff
    started = time.time()
    prom.start().wait_ready()
    time.sleep(1.0)
    doc = json.loads((out / "fleet.json").read_text())
    own = doc["fleet"]["latency_p95_ms"] / 1000.0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        res = prom.query('timestamp(nic_fleet_answer_latency_seconds{quantile="0.95"})')
        if res and float(res[0]["value"][1]) > doc["generated_at"] + 0.5:
            break  # a batch sampled after that render has arrived
        time.sleep(0.5)
    got = _value(prom, 'max without (aggregator) (nic_fleet_answer_latency_seconds{quantile="0.95"})')
    assert got == pytest.approx(own, rel=0.01), (got, own)
    # the fleet's merged histogram (the query that also sums over several aggregator shards) is an
    # approximation: Prometheus interpolates inside a 2 % bucket and ranks at q*n where the sketch
    # ranks at q*(n-1), which in a sparse tail can move it a bucket or two (measured: +2.2 %)
    hq = _value(prom, "histogram_quantile(0.95, sum by (le) (nic_fleet_answer_latency_window_seconds_bucket))")
    print(f"fleet p95: aggregator {own:.6f} s, PromQL gauge {got:.6f} s, histogram_quantile {hq:.6f} s")
    assert hq == pytest.approx(own, rel=0.05), (hq, own)
    assert _value(prom, 'nic_fleet_devices{state="online"}') == 3
    assert len(prom.query('nic_fleet_device_up{aggregator="agg-prom"} == 1')) == 3
    # samples from before Prometheus ran: queued and delivered, not lost
    rng = prom.query("nic_fleet_alerts_active[2m]")
    stamps = [float(t) for t, _ in rng[0]["values"]]
    assert min(stamps) < started - 1.0, (min(stamps), started)
