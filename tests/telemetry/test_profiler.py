"""Resource sampler with fixture /sys and /proc files; budget enforcer with fake RSS readings."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from nic_edge.telemetry.profiler import (BudgetActions, BudgetEnforcer, ResourceSampler, read_cpu_temp_c,
                                         read_rss_bytes, read_throttled)

MIB = 1024 * 1024


def _zone(root: Path, n: int, kind: str, milli: str) -> None:
    z = root / f"thermal_zone{n}"
    z.mkdir(parents=True)
    (z / "type").write_text(kind + "\n")
    (z / "temp").write_text(milli + "\n")


def test_cpu_temperature_prefers_cpu_zone(tmp_path: Path) -> None:
    assert read_cpu_temp_c(tmp_path) is None
    _zone(tmp_path, 0, "acpitz", "90000")
    assert read_cpu_temp_c(tmp_path) == 90.0
    _zone(tmp_path, 1, "cpu-thermal", "52612")
    _zone(tmp_path, 2, "broken", "n/a")
    assert read_cpu_temp_c(tmp_path) == pytest.approx(52.612)


def test_throttled_flags(tmp_path: Path) -> None:
    p = tmp_path / "get_throttled"
    assert read_throttled(p) is None
    p.write_text("50005\n")  # sysfs form: hex without prefix
    assert read_throttled(p) == 0x50005
    p.write_text("throttled=0x0\n")  # vcgencmd form
    assert read_throttled(p) == 0
    p.write_text("garbage")
    assert read_throttled(p) is None


def test_rss_fallback_reads_statm(tmp_path: Path) -> None:
    statm = tmp_path / "statm"
    statm.write_text("1000 250 100 1 0 300 0\n")
    import os
    assert read_rss_bytes(statm, use_psutil=False) == 250 * os.sysconf("SC_PAGE_SIZE")
    assert read_rss_bytes(tmp_path / "missing", use_psutil=False) is None
    assert read_rss_bytes() > 0  # real process, psutil or /proc


def test_sampler_sample_and_service(tmp_path: Path) -> None:
    _zone(tmp_path / "thermal", 0, "cpu-thermal", "61000")
    (tmp_path / "throttled").write_text("0x4\n")
    (tmp_path / "data").mkdir()
    got: list[dict] = []
    seen = threading.Event()

    def on_sample(s: dict) -> None:
        got.append(s)
        seen.set()

    sampler = ResourceSampler(tmp_path / "data", interval_s=0.05, on_sample=on_sample,
                              extras={"model_load_s": lambda: 1.25, "index_bytes": lambda: 1 / 0},
                              thermal_root=tmp_path / "thermal", throttled_path=tmp_path / "throttled",
                              clock=lambda: 42.0)
    s = sampler.sample()
    assert s["ts"] == 42.0 and s["cpu_temp_c"] == 61.0
    assert s["throttled"] == 4 and s["throttled_now"] is True
    assert s["disk_free_bytes"] > 0 and s["rss_bytes"] > 0
    assert s["cpu_percent"] is None  # first sample: no interval yet
    assert s["model_load_s"] == 1.25 and s["index_bytes"] is None  # failing callback -> None
    assert sampler.sample()["cpu_percent"] >= 0.0
    sampler.start()
    assert seen.wait(5)
    sampler.stop()
    sampler.stop()
    assert got and sampler.latest()["cpu_temp_c"] == 61.0
    absent = ResourceSampler(tmp_path / "nope", thermal_root=tmp_path / "none", throttled_path=tmp_path / "none")
    s = absent.sample()
    assert s["cpu_temp_c"] is None and s["throttled"] is None and s["disk_free_bytes"] is None


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def actions(self) -> BudgetActions:
        return BudgetActions(*(lambda n=n: self.calls.append(n)
                               for n in ("shrink_l1", "restore_l1", "enter_lexical", "leave_lexical")))


def test_budget_degrades_then_recovers_in_reverse_order() -> None:
    rec = Recorder()
    enf = BudgetEnforcer(160 * MIB, rec.actions(), recover_ratio=0.85, recover_readings=2)
    assert enf.feed(100 * MIB) is None and enf.state()["state"] == "ok"
    assert enf.feed(170 * MIB) == "shrink_l1"
    st = enf.state()
    assert st["level"] == 1 and st["over_budget"] and st["degraded"] and not st["lexical"]
    assert enf.feed(165 * MIB) == "enter_lexical"
    assert enf.state()["lexical"] is True
    assert enf.feed(200 * MIB) is None  # nothing further to shed
    assert enf.feed(150 * MIB) is None  # under budget but inside the hysteresis band: hold
    assert enf.feed(130 * MIB) is None  # first reading under 85 %
    assert enf.feed(150 * MIB) is None  # back in the band: the count restarts
    assert enf.feed(130 * MIB) is None
    assert enf.feed(130 * MIB) == "leave_lexical"
    assert enf.state()["level"] == 1
    assert enf.feed(120 * MIB) is None
    assert enf.feed(120 * MIB) == "restore_l1"
    assert enf.state() | {} and enf.level == 0
    assert rec.calls == ["shrink_l1", "enter_lexical", "leave_lexical", "restore_l1"]
    assert enf.state()["transitions"] == 4


def test_budget_recovery_step_is_interrupted_by_new_overrun() -> None:
    rec = Recorder()
    enf = BudgetEnforcer(100, rec.actions(), recover_readings=1)
    enf.feed(101)
    enf.feed(80)
    assert enf.level == 0
    enf.feed(101)
    enf.feed(101)
    enf.feed(50)
    enf.feed(101)  # the model came back and pushed RSS over again
    assert rec.calls == ["shrink_l1", "restore_l1", "shrink_l1", "enter_lexical", "leave_lexical", "enter_lexical"]


def test_budget_ignores_missing_readings_and_survives_failing_action() -> None:
    def boom() -> None:
        raise RuntimeError("cache gone")

    enf = BudgetEnforcer(100, BudgetActions(boom, boom, boom, boom))
    assert enf.feed(None) is None
    assert enf.feed(150) == "shrink_l1"  # logged, state still moves
    assert enf.level == 1
    enf.set_budget(1000)
    assert enf.state()["over_budget"] is False
    with pytest.raises(ValueError):
        BudgetEnforcer(100, BudgetActions(boom, boom, boom, boom), recover_ratio=1.5)
