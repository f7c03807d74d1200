"""Alerts raised while the outbox cannot be opened are held in memory (bounded) and stored first
when it opens; metrics are counted as dropped (comms/spool_gate.py, a real LMDB outbox)."""

from __future__ import annotations

from pathlib import Path

from nic_edge.comms import spool_gate
from nic_edge.comms.outbox import Outbox
from nic_edge.comms.spool_gate import SpoolGate


def test_held_alerts_are_stored_in_order_on_attach_and_the_oldest_beyond_the_bound_dropped(tmp_path: Path) -> None:
    gate = SpoolGate(None, "No space left on device")
    n = spool_gate.HELD_ALERTS + 3
    for k in range(n):
        assert gate.enqueue("alerts", {"alert_id": f"a{k}"}) is None
    assert gate.enqueue("metrics", {"m": 1}) is None
    assert gate.held() == spool_gate.HELD_ALERTS
    assert gate.unstored() == {"metrics": 1, "alerts": 3}

    ob = Outbox(tmp_path / "outbox", 1 << 20, first_seq=10)
    gate.attach(ob)
    assert gate.held() == 0 and gate.unstored() == {"metrics": 0, "alerts": 0} and gate.problem is None
    recs = ob.peek(1000)
    # seqs 10..13 are the gap of the 4 dropped; the held alerts follow, oldest kept first
    assert [r.payload["alert_id"] for r in recs] == [f"a{k}" for k in range(3, n)]
    assert recs[0].seq == 14 and gate.attached_upto == recs[-1].seq   # sent as replayed
    assert ob.stats()["dropped"] == {"metrics": 1, "alerts": 3}
    seq = gate.enqueue("metrics", {"m": 2})
    assert seq == recs[-1].seq + 1
    ob.close()


def test_a_held_alert_goes_before_a_record_stored_while_it_waits(tmp_path: Path) -> None:
    """An outbox attached while a held alert could not be stored (still no room): the next
    record stores the held alert first, so the order of events is kept."""
    gate = SpoolGate(None)
    gate.enqueue("alerts", {"alert_id": "disk-full"})
    ob = Outbox(tmp_path / "outbox", 1 << 20)
    gate._held.append(("alerts", {"alert_id": "second"}))  # noqa: SLF001 (two held)
    gate.outbox = ob  # attached by hand, without the attach-time store
    gate.enqueue("metrics", {"m": 1})
    assert [r.payload.get("alert_id", "metrics") for r in ob.peek(10)] == ["disk-full", "second", "metrics"]
    ob.close()


def test_held_alerts_outlive_the_process_in_the_runtime_directory(tmp_path: Path) -> None:
    """A restart while the disk is still full (no outbox): the new process reads back the alerts
    the old one held, stores them first when an outbox opens, and removes the file."""
    run = tmp_path / "run"
    run.mkdir()
    path = spool_gate.held_file({"RUNTIME_DIRECTORY": f"{run}:/elsewhere"})
    assert path == run / spool_gate.HELD_FILE
    assert spool_gate.held_file({}) is None and spool_gate.held_file({"RUNTIME_DIRECTORY": str(tmp_path / "gone")}) is None

    first = SpoolGate(None, "No space left on device", path)
    for k in range(3):
        first.enqueue("alerts", {"alert_id": f"a{k}", "ts": k})
    first.enqueue("metrics", {"m": 1})
    assert path.exists() and not (run / (spool_gate.HELD_FILE + ".tmp")).exists()
    del first                                               # the process dies (watchdog restart)

    second = SpoolGate(None, "No space left on device", path)   # the disk is still full
    assert second.held() == 3
    second.enqueue("alerts", {"alert_id": "a3", "ts": 3})
    ob = Outbox(tmp_path / "outbox", 1 << 20)
    second.attach(ob)
    assert [r.payload["alert_id"] for r in ob.peek(10)] == ["a0", "a1", "a2", "a3"]
    assert second.held() == 0 and not path.exists()
    ob.close()

    # an outbox that opens at once stores an earlier process's held alerts before anything else
    third = SpoolGate(None, "No space left on device", path)
    third.enqueue("alerts", {"alert_id": "b0"})
    ob = Outbox(tmp_path / "outbox2", 1 << 20)
    fourth = SpoolGate(ob, None, path)
    fourth.enqueue("metrics", {"m": 2})
    assert [r.payload.get("alert_id", "metrics") for r in ob.peek(10)] == ["b0", "metrics"]
    assert not path.exists()
    ob.close()


def test_an_unreadable_held_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / spool_gate.HELD_FILE
    path.write_text("{not json", encoding="utf-8")
    gate = SpoolGate(None, None, path)
    assert gate.held() == 0 and path.read_text(encoding="utf-8") == "{not json"
