"""Records the outbox cannot store on a full disk are said, not silently lost (real tmpfs).

While the broker is down and the disk is full, every enqueue failed with ENOSPC: the records
were gone, yet no drop was counted and the next seq reused theirs, so once space came back
the fleet saw neither a gap nor a ``drops`` count - as if nothing had been produced.
"""

from __future__ import annotations

from pathlib import Path

from nic_edge.comms.outbox import Outbox
from nic_edge.errors import StorageError
from tests.support.tmpfs import fill, tmpfs


def test_records_lost_to_a_full_disk_are_counted_and_leave_a_seq_gap(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        ob = Outbox(disk / "outbox", 256 * 1024)
        for i in range(50):
            ob.enqueue("metrics", {"i": i, "pad": "x" * 300})
        before = ob.last_seq
        filler = fill(disk)
        lost = {"metrics": 0, "alerts": 0}
        for i in range(40):
            kind = "alerts" if i % 4 == 0 else "metrics"
            try:
                ob.enqueue(kind, {"i": i, "pad": "x" * 300})
            except StorageError:
                lost[kind] += 1
        assert lost["metrics"] > 0 and lost["alerts"] > 0  # the disk really was full
        stored = len(ob) - 50
        filler.unlink()  # space is back (broker still down)
        seq = ob.enqueue("metrics", {"i": "after"})
        assert seq == before + 40 + 1  # the lost records' seqs stay used: subscribers see the gap
        newest = ob.peek(1000)[-1]
        assert newest.seq == seq and newest.payload["drops"] == lost, newest.payload
        assert ob.stats()["dropped"] == lost
        assert len(ob) == 50 + stored + 1
        ob.close()
        reopened = Outbox(disk / "outbox", 256 * 1024)
        assert reopened.last_seq == seq and reopened.stats()["dropped"] == lost
        reopened.close()
