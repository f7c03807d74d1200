"""L2 reopened with a smaller budget than it was filled under (a restart on a lower tier).

The map was sized from the new budget alone (2 x budget + 1 MiB), smaller than the data file:
LMDB could not give a single page, so every write failed with MDB_MAP_FULL, the eviction and
even the clear meant to recover from it failed too, and L2 stored nothing for good (every new
answer dropped, an error logged per flush). Real LMDB.
"""

from __future__ import annotations

import os
from pathlib import Path

from nic_edge.cache.keys import make_key
from nic_edge.cache.l2 import L2Cache

from .conftest import make_answer


def _answer(i: int) -> dict:
    # incompressible text, so the file really grows past the small tier's map
    return make_answer(question=f"q{i}", text=os.urandom(1200).hex())


def test_a_restart_on_a_lower_tier_trims_the_cache_and_keeps_storing(tmp_path: Path) -> None:
    # the wall clock: entries written over time, as on a box (a frozen clock evicts differently)
    big = L2Cache(tmp_path / "cache", max_bytes=16 << 20, ttl_s=3600)
    for batch in range(40):
        big.put_many([(make_key(f"q{batch}-{i}", "fp"), "fp", _answer(i), None) for i in range(100)])
    big.close()
    assert (tmp_path / "cache" / "data.mdb").stat().st_size > 3 * (2 * (1 << 20) + (1 << 20))
    small = L2Cache(tmp_path / "cache", max_bytes=1 << 20, ttl_s=3600)
    try:
        fresh = [(make_key(f"new{i}", "fp"), "fp", _answer(i), None) for i in range(5)]
        assert small.put_many(fresh) == 5
        assert all(small.get(k) is not None for k, _, _, _ in fresh)
        st = small.stats()
        assert st["bytes"] <= 1 << 20
        assert small.counters["writes_dropped"] == 0 and small.counters["errors"] == 0
    finally:
        small.close()
