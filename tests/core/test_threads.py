"""Thread counts per job (issue 17 item 6): questions on 1 thread, indexing on every core."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.core import threads
from nic_edge.core.cpuinfo import cpu_model, int8_features
from nic_edge.core.threads import load_measured, save_measured, thread_counts
from nic_edge.core.tiers import load_profiles

_REAL_USABLE = threads.usable_cpus


@pytest.fixture(autouse=True)
def _any_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The counts below are about the box passed in, whatever this test run is pinned to."""
    monkeypatch.setattr(threads, "usable_cpus", lambda: 64)


def test_full_tier_answers_on_one_thread_and_indexes_on_all_cores() -> None:
    p = load_profiles()
    full = thread_counts(p["full"], cpus=8)
    assert (full.question, full.index, full.source) == (1, 8, "default")
    ul = thread_counts(p["ultra_lite"], cpus=4)
    assert (ul.question, ul.index) == (1, 4) and "profile" in ul.source


def test_a_measurement_for_this_box_wins_over_the_default(tmp_path: Path) -> None:
    p = load_profiles()["standard"]
    save_measured(tmp_path, {"question": 2, "index": 3, "cpus": 4, "cpu_model": cpu_model()})
    measured = load_measured(tmp_path, cpus=4)
    counts = thread_counts(p, cpus=4, measured=measured)
    assert (counts.question, counts.index, counts.source) == (2, 3, "measured")
    # Taken on another box (CPU count or model differs): ignored.
    assert load_measured(tmp_path, cpus=2) is None
    save_measured(tmp_path, {"question": 2, "index": 3, "cpus": 4, "cpu_model": "some other CPU"})
    assert load_measured(tmp_path, cpus=4) is None


def test_int8_features_are_read_from_cpuinfo(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text("model name\t: AMD EPYC\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n")
    assert cpu_model(x86) == "AMD EPYC"
    assert int8_features(x86) == {"avx512_vnni": True, "avx_vnni": False, "asimddp": False}
    a76 = tmp_path / "a76"  # Pi 5
    a76.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics "
                   "fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU part\t: 0xd0b\n")
    assert int8_features(a76)["asimddp"] and cpu_model(a76) == "Arm CPU part 0xd0b"
    a53 = tmp_path / "a53"  # Pi Zero 2 W / Pi 3: no dot product
    a53.write_text("Features\t: fp asimd evtstrm crc32 cpuid\n")
    assert not any(int8_features(a53).values())


def test_never_more_threads_than_the_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pinned to one core (systemd CPUAffinity=, taskset, a container's cpuset) on a 4-CPU box:
    # two indexing threads on one core embedded the bench corpus 1.5x slower than one.
    monkeypatch.setattr(threads, "usable_cpus", lambda: 1)
    full = thread_counts(load_profiles()["full"], cpus=4)
    assert (full.question, full.index) == (1, 1)
    measured = {"question": 2, "index": 4}
    assert thread_counts(load_profiles()["standard"], cpus=4, measured=measured).index == 1


def test_usable_cpus_is_this_process_affinity() -> None:
    import os
    import subprocess
    import sys

    assert _REAL_USABLE() == len(os.sched_getaffinity(0))
    # A child pinned to one CPU, as `taskset -c N` or systemd's CPUAffinity= would pin the service.
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from nic_edge.core.threads import usable_cpus; print(usable_cpus())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "1"
