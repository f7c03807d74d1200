"""An outbox reopened with a lower ``mqtt.spool_max_bytes`` than its backlog was written under.

The map was sized from the new cap alone (4 x cap + 2 MiB), smaller than the data file: LMDB
then cannot allocate a single page, so every enqueue - the trim down to the new cap included
- failed with MDB_MAP_FULL, for as long as the old backlog stayed (for good while the broker
is down). Real LMDB.
"""

from __future__ import annotations

from pathlib import Path

from nic_edge.comms.outbox import Outbox


def test_lowering_the_cap_below_the_backlog_trims_it_and_goes_on(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "outbox", 8 << 20)
    for i in range(1500):
        ob.enqueue("alerts" if i == 7 else "metrics", {"i": i, "pad": "x" * 1500})
    ob.close()
    assert (tmp_path / "outbox" / "data.mdb").stat().st_size > 4 * (64 << 10) + (2 << 20)
    ob = Outbox(tmp_path / "outbox", 64 << 10)  # the integrator lowered mqtt.spool_max_bytes
    seqs = [ob.enqueue("metrics", {"i": f"new{i}", "pad": "x" * 1500}) for i in range(20)]
    st = ob.stats()
    assert st["bytes"] <= 64 << 10 and st["backlog"] == len(ob)
    kept = ob.peek(1000)
    assert [r.seq for r in kept][-20:] == seqs  # every new record stored, oldest trimmed
    assert any(r.kind == "alerts" for r in kept)  # the alert outlived the metrics around it
    assert st["dropped"]["metrics"] == 1500 - 1 + 20 - (len(kept) - 1)
    ob.close()
