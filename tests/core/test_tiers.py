from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.core.tiers import HardwarePaths, load_profiles, read_hardware, resolve
from nic_edge.errors import ConfigError

HW = Path(__file__).parent / "fixtures" / "hw"


def hw(name: str):
    d = HW / name
    return read_hardware(HardwarePaths(meminfo=d / "meminfo", cpu_online=d / "cpu_online", model=d / "model"))


@pytest.mark.parametrize("board,tier", [
    ("pi_zero_2w", "ultra_lite"),
    ("pi3b", "ultra_lite"),
    ("pi4_1gb", "ultra_lite"),
    ("pi4_2gb", "lite"),
    ("pi4_4gb", "standard"),
    ("pi4_8gb", "full"),
    ("pi5_8gb", "full"),
    ("x86_16gb", "full"),
])
def test_detection_per_board(board: str, tier: str) -> None:
    d = resolve("auto", env={}, hardware=hw(board))
    assert d.name == tier
    assert d.source == "detected"
    assert d.reasons and any("MiB RAM" in r for r in d.reasons)


def test_hardware_facts_read_from_paths() -> None:
    h = hw("pi_zero_2w")
    assert h.ram_mib == 439_000 // 1024
    assert h.cpus == 4
    assert h.board == "Raspberry Pi Zero 2 W Rev 1.0"
    assert hw("x86_16gb").board is None


def test_unreadable_ram_falls_back_to_smallest(tmp_path: Path) -> None:
    h = read_hardware(HardwarePaths(meminfo=tmp_path / "nope", cpu_online=tmp_path / "nope", model=tmp_path / "nope"))
    d = resolve("auto", env={}, hardware=h)
    assert d.name == "ultra_lite"
    assert "unreadable" in d.reasons[0]


def test_cpulist_parsing(tmp_path: Path) -> None:
    (tmp_path / "m").write_text("MemTotal: 2000000 kB\n")
    (tmp_path / "c").write_text("0,2-3,6\n")
    assert read_hardware(HardwarePaths(tmp_path / "m", tmp_path / "c", tmp_path / "x")).cpus == 4


def test_precedence() -> None:
    h = hw("pi5_8gb")
    assert resolve("auto", env={}, hardware=h).source == "detected"
    d = resolve("auto", env={"NIC_EDGE_TIER": "lite"}, hardware=h)
    assert (d.name, d.source) == ("lite", "env")
    d = resolve("standard", env={"NIC_EDGE_TIER": "lite"}, hardware=h)
    assert (d.name, d.source) == ("standard", "config")
    d = resolve("standard", override="ultra_lite", env={"NIC_EDGE_TIER": "lite"}, hardware=h)
    assert (d.name, d.source) == ("ultra_lite", "override")


def test_bad_env_tier_is_config_error() -> None:
    with pytest.raises(ConfigError) as e:
        resolve("auto", env={"NIC_EDGE_TIER": "huge"}, hardware=hw("pi4_2gb"))
    assert e.value.problems[0][0] == "NIC_EDGE_TIER"


def test_profiles_match_design_budgets() -> None:
    p = load_profiles()
    assert {k: v.memory_budget_mib for k, v in p.items()} == {
        "ultra_lite": 160, "lite": 320, "standard": 640, "full": 1280}
    assert all(v.l1_items >= 64 for v in p.values())
    assert p["ultra_lite"].threads == 1 and p["ultra_lite"].batch_size == 1
    assert p["lite"].batch_size == 8
    # Other tiers: thread counts by measurement (0), per job (core/threads.py).
    assert all(p[t].threads == 0 and p[t].index_threads == 0 for t in ("lite", "standard", "full"))


def test_bad_profiles_file(tmp_path: Path) -> None:
    f = tmp_path / "tiers.toml"
    f.write_text("[ultra_lite]\nmin_ram_mib = 'x'\n[bogus]\n")
    with pytest.raises(ConfigError) as e:
        load_profiles(f)
    paths = [p for p, _ in e.value.problems]
    assert "ultra_lite.min_ram_mib" in paths and "lite" in paths and "bogus" in paths


def _cgroup_box(tmp_path: Path, cgroup_line: str, limits: dict[str, str], ram_kb: int = 16_000_000) -> HardwarePaths:
    (tmp_path / "meminfo").write_text(f"MemTotal: {ram_kb} kB\n")
    (tmp_path / "cpu").write_text("0-3\n")
    (tmp_path / "cgroup").write_text(cgroup_line + "\n")
    root = tmp_path / "sys_fs_cgroup"
    for rel, value in limits.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(value + "\n")
    return HardwarePaths(tmp_path / "meminfo", tmp_path / "cpu", tmp_path / "model",
                         cgroup=tmp_path / "cgroup", cgroup_root=root)


@pytest.mark.parametrize("line, limits, tier, limit", [
    # cgroup v2, a container limited to 512 MiB on a 16 GB host: lite's 320 MiB budget fits in 80 %
    ("0::/", {"memory.max": str(512 << 20)}, "lite", 512),
    # v2, the tightest of the cgroup and its parents counts
    ("0::/system.slice/box.service", {"memory.max": "max", "system.slice/memory.max": str(300 << 20),
                                      "system.slice/box.service/memory.max": "max"}, "ultra_lite", 300),
    # the shipped unit's MemoryMax=1600M keeps full (1280 MiB budget) on a big board
    ("0::/system.slice/nic-edge.service", {"system.slice/nic-edge.service/memory.max": str(1600 << 20)},
     "full", 1600),
    # cgroup v1 inside a container: its own path is not mounted, the mount's file is its limit
    ("4:memory:/process_api/abc\n3:cpuset:/", {"memory/memory.limit_in_bytes": str(1 << 30)}, "standard", 1024),
    # v1 "no limit" and v2 "max": none
    ("4:memory:/", {"memory/memory.limit_in_bytes": "9223372036854771712"}, "full", None),
    ("0::/", {"memory.max": "max"}, "full", None),
])
def test_a_cgroup_memory_limit_caps_the_tier(tmp_path: Path, line: str, limits: dict, tier: str,
                                             limit: int | None) -> None:
    h = read_hardware(_cgroup_box(tmp_path, line, limits))
    assert h.memory_limit_mib == limit
    d = resolve("auto", env={}, hardware=h)
    assert d.name == tier
    assert any("cgroup memory limit" in r for r in d.reasons) == (tier != "full")


def test_a_limit_above_the_ram_is_not_a_limit(tmp_path: Path) -> None:
    h = read_hardware(_cgroup_box(tmp_path, "0::/", {"memory.max": str(64 << 30)}, ram_kb=2_000_000))
    assert h.memory_limit_mib is None and resolve("auto", env={}, hardware=h).name == "lite"
