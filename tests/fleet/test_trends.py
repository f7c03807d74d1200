"""The overview's 24 h fleet trends: per-hour p95 from merged sketches, devices reporting per
hour, active alerts replayed from firing/resolved events."""

from __future__ import annotations

import time
from pathlib import Path

from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator.trends import STEP_S
from tests.fleet import dashboard_scenario as S


def test_fleet_trends_per_hour(tmp_path: Path) -> None:
    now = time.time()
    r, _ = S.build(tmp_path, now)
    tr = r.trends
    store = r.state.store
    try:
        assert tr["step"] == STEP_S and len(tr["reporting"]) == 24 and len(tr["alerts"]) == 24
        reporting = [n for _, n in tr["reporting"]]
        # the offline device's last report (40 min ago) falls in this hour or the one before
        in_this_hour = now - 2400 >= int(now) // STEP_S * STEP_S
        assert reporting[0] == 4 and reporting[-1] == (4 if in_this_hour else 3)
        assert reporting[-2] == (4 if in_this_hour or now - 2400 >= int(now) // STEP_S * STEP_S - STEP_S else 3)
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
