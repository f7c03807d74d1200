"""Outbox: seq persistence, oldest-first peek, ack, byte cap (metrics dropped first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.comms.outbox import Outbox


def metrics(i: int, pad: int = 200) -> dict:
    return {"counters": {"i": i}, "cache": {"pad": "x" * pad}}


def alert(i: int) -> dict:
    return {"alert_id": f"a{i}", "rule": "r", "state": "firing"}


def test_seq_shared_monotonic_and_persisted(tmp_path: Path):
    ob = Outbox(tmp_path / "ob", 1 << 20, first_seq=1)
    seqs = [ob.enqueue("metrics", metrics(0)), ob.enqueue("alerts", alert(0)), ob.enqueue("metrics", metrics(1))]
    assert seqs == [1, 2, 3]
    ob.close()
    ob = Outbox(tmp_path / "ob", 1 << 20, first_seq=1)
    assert ob.enqueue("metrics", metrics(2)) == 4
    assert [r.seq for r in ob.peek(10)] == [1, 2, 3, 4]
    assert [r.kind for r in ob.peek(10)] == ["metrics", "alerts", "metrics", "metrics"]
    assert ob.peek(10)[1].payload["seq"] == 2


def test_fresh_store_seq_starts_from_the_clock(tmp_path: Path):
    ob = Outbox(tmp_path / "ob", 1 << 20, clock=lambda: 1_800_000_000.5)
    assert ob.enqueue("metrics", metrics(0)) == 1_800_000_000_500
    assert Outbox(tmp_path / "ob2", 1 << 20, clock=lambda: 5.0).enqueue("metrics", {}) == 1


def test_peek_after_and_ack(tmp_path: Path):
    ob = Outbox(tmp_path / "ob", 1 << 20, first_seq=10)
    for i in range(5):
        ob.enqueue("metrics", metrics(i))
    assert [r.seq for r in ob.peek(2)] == [10, 11]
    assert [r.seq for r in ob.peek(2, after=11)] == [12, 13]
    assert ob.ack(10) and not ob.ack(10)
    assert ob.ack_many([11, 12, 99]) == 2
    assert [r.seq for r in ob.peek(10)] == [13, 14]
    assert len(ob) == 2 and ob.stats()["backlog"] == 2
    ob.close()
    assert len(Outbox(tmp_path / "ob", 1 << 20)) == 2


def test_cap_drops_oldest_metrics_keeps_alerts_and_reports(tmp_path: Path):
    ob = Outbox(tmp_path / "ob", 4096, first_seq=1)
    ob.enqueue("alerts", alert(0))
    for i in range(40):
        ob.enqueue("metrics", metrics(i))
        if i == 20:
            ob.enqueue("alerts", alert(1))
    st = ob.stats()
    assert st["bytes"] <= 4096
    recs = ob.peek(1000)
    kinds = [r.kind for r in recs]
    assert kinds.count("alerts") == 2  # both alerts kept
    metric_seqs = [r.seq for r in recs if r.kind == "metrics"]
    assert metric_seqs == sorted(metric_seqs) and metric_seqs[-1] == ob.last_seq  # newest kept
    dropped = st["dropped"]["metrics"]
    assert dropped > 0 and dropped + len(metric_seqs) == 40
    # Every drop is reported exactly once across the stored snapshots (carried if dropped).
    reported = sum(r.payload["drops"]["metrics"] for r in recs if r.kind == "metrics")
    assert reported == dropped
    assert st["drops_unreported"] == {"metrics": 0, "alerts": 0}


def test_drop_count_lands_in_the_next_snapshot(tmp_path: Path):
    ob = Outbox(tmp_path / "ob", 4096, first_seq=1)
    n = 0
    while ob.stats()["dropped"]["metrics"] == 0:
        ob.enqueue("metrics", metrics(n))
        n += 1
    newest = ob.peek(1000)[-1]
    assert newest.payload["drops"] == {"metrics": 1, "alerts": 0}
    ob.enqueue("metrics", metrics(n))
    assert ob.peek(1000)[-1].payload["drops"]["metrics"] == 1  # one more dropped to fit it


def test_only_alerts_left_drops_oldest_alert(tmp_path: Path):
    ob = Outbox(tmp_path / "ob", 4096, first_seq=1)
    for i in range(200):
        ob.enqueue("alerts", dict(alert(i), message="m" * 100))
    recs = ob.peek(1000)
    assert recs[-1].seq == 200 and ob.stats()["dropped"]["alerts"] == 200 - len(recs)
    ob.enqueue("metrics", metrics(0, pad=10))
    assert ob.peek(1000)[-1].payload["drops"]["alerts"] == ob.stats()["dropped"]["alerts"]


def test_record_larger_than_cap_is_dropped_but_uses_its_seq(tmp_path: Path):
    ob = Outbox(tmp_path / "ob", 4096, first_seq=1)
    assert ob.enqueue("metrics", metrics(0, pad=10_000)) == 1
    assert len(ob) == 0 and ob.stats()["dropped"]["metrics"] == 1
    assert ob.enqueue("metrics", metrics(1)) == 2


def test_unknown_kind_rejected(tmp_path: Path):
    with pytest.raises(ValueError):
        Outbox(tmp_path / "ob", 4096).enqueue("status", {})


def test_corrupt_store_is_recovered_with_a_fresh_seq(tmp_path: Path):
    d = tmp_path / "ob"
    d.mkdir()
    (d / "data.mdb").write_bytes(b"garbage" * 5000)
    ob = Outbox(d, 1 << 20, clock=lambda: 1_800_000_000.0)
    assert ob.recovered and ob.enqueue("metrics", {}) == 1_800_000_000_000
