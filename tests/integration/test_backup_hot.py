"""Backup while a real ``serve`` answers HTTP load; restore; same manuals, answers, seq continues.

The 30 s version of this run is tools/bench_backup_hot.py (figures in docs/benchmarks/backup.md).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.broker import Broker
from tests.support.hot_backup import run


def test_hot_backup_then_restore(tmp_path: Path, mosquitto: Broker) -> None:
    r = run(tmp_path, mosquitto, load_s=6.0, backup_at_s=1.5, threads=3)
    assert r["failures"] == 0, r["failure_samples"]
    assert r["requests_during"] > 0, "the backup ran while no request was in flight"
    assert r["manuals_equal"]
    assert r["answers_equal"] == r["questions"] == 50
    assert r["answers_from_restored_l2"] > 0  # the answer cache came along
    assert r["seqs_before_backup_contiguous"]
    assert r["first_seq_after_restore"] == r["backup_last_seq"] + 1
