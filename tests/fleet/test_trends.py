"""The overview's 24 h fleet trends: per-hour p95 from merged sketches, devices reporting per
hour, active alerts replayed from firing/resolved events."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator.trends import STEP_S
from tests.fleet import dashboard_scenario as S


@pytest.mark.parametrize("offset", [None, 5, 1200, 3000])
def test_fleet_trends_per_hour(tmp_path: Path, offset: int | None) -> None:
    # offset: seconds past the start of the current hour (None: the real clock). At 5 s the
    # online devices' last report (8 s ago) still falls in the hour before.
    now = time.time() if offset is None else int(time.time()) // STEP_S * STEP_S - STEP_S + offset
    r, _ = S.build(tmp_path, now)
    tr = r.trends
    store = r.state.store
    try:
        assert tr["step"] == STEP_S and len(tr["reporting"]) == 24 and len(tr["alerts"]) == 24
        reporting = [n for _, n in tr["reporting"]]
        # the three online devices last reported 8 s ago, the offline one 40 min ago: each falls
        # in this hour or the one before; every device also reported an hour before that
        hour = int(now) // STEP_S * STEP_S
        this_hour = 3 * (now - 8 >= hour) + (now - 2400 >= hour)
        assert reporting[0] == 4 and reporting[-1] == this_hour and reporting[-2] == 4
        # alerts: the warning (20 h to 18 h ago) and the critical one (since 3 h ago)
        active = {round((now - t) / 3600): n for t, n in tr["alerts"]}
        assert active[0] == 1 and active[4] == 0 and active[19] == 1 and active[22] == 0
        # each hour's p95 is the merged sketch of all devices in that hour, not a mean of p95s
        t, p95 = tr["p95_ms"][-2]
        start = int(t - STEP_S / 2)
        merged = LatencySketch()
        for dev in r.state.devices:
            merged.merge(store.merged_sketch(dev, "1h", start, start + STEP_S - 1))
        assert abs(merged.quantiles((0.95,))[0] * 1000 - p95) < 1e-6
    finally:
        store.close()
