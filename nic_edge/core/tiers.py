"""Hardware tiers: profiles from ``config/tiers.toml``, detection from /proc and /sys.

Detection reads total RAM (``/proc/meminfo``), CPU count (``/sys/devices/system/cpu/online``)
and the board (``/proc/device-tree/model``) through paths that tests point at fixtures.
Precedence: fleet override > ``device.tier`` in the config > ``$NIC_EDGE_TIER`` > detection.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from nic_edge.core.config import TIER_NAMES
from nic_edge.core.resources import config_file
from nic_edge.errors import ConfigError

_PROFILE_KEYS = {
    "min_ram_mib": int, "memory_budget_mib": int, "l1_items": int, "l1_bytes": int,
    "l2_max_bytes": int, "l2_ttl_s": int, "threads": int, "index_threads": int, "batch_size": int, "top_k": int,
    "metrics_interval_s": int, "embeddings": bool, "rerank": bool,
}


@dataclass(frozen=True)
class TierProfile:
    name: str
    min_ram_mib: int
    memory_budget_mib: int
    l1_items: int
    l1_bytes: int
    l2_max_bytes: int
    l2_ttl_s: int
    threads: int        # question embedding; 0 = by measurement (core/threads.py)
    index_threads: int  # indexing; 0 = by measurement
    batch_size: int
    top_k: int
    metrics_interval_s: int
    embeddings: bool
    rerank: bool        # the reader weighs close candidates' meaning (engine/rerank.py), stored when indexing

    @property
    def memory_budget_bytes(self) -> int:
        return self.memory_budget_mib * 1024 * 1024



def load_profiles(path: Path | None = None) -> dict[str, TierProfile]:
    """Read and validate the tier profiles; ConfigError names the bad key."""
    p = path or config_file("tiers.toml")
    try:
        data = tomllib.loads(Path(p).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([("(tiers)", f"cannot read {p}: {exc}")], str(p)) from exc
    problems: list[tuple[str, str]] = []
    profiles: dict[str, TierProfile] = {}
    for name in TIER_NAMES:
        raw = data.get(name)
        if not isinstance(raw, dict):
            problems.append((name, "tier profile missing"))
            continue
        for key, typ in _PROFILE_KEYS.items():
            v = raw.get(key)
            if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
                problems.append((f"{name}.{key}", f"must be {typ.__name__}"))
        for key in raw:
            if key not in _PROFILE_KEYS:
                problems.append((f"{name}.{key}", "unknown key"))
        if not problems:
            profiles[name] = TierProfile(name=name, **raw)
    for key in data:
        if key not in TIER_NAMES:
            problems.append((key, "unknown tier; known: " + ", ".join(TIER_NAMES)))
    if not problems:
        for name in TIER_NAMES:
            if profiles[name].l1_items < 64:
                problems.append((f"{name}.l1_items", "must be at least 64"))
    if problems:
        raise ConfigError(problems, str(p))
    return profiles


@dataclass(frozen=True)
class HardwarePaths:
    """Where hardware facts are read; tests point these at fixture files. ``cgroup`` (this
    process's /proc/self/cgroup) and ``cgroup_root`` (/sys/fs/cgroup) are read only when set,
    as ``read_hardware()`` does for the real box."""
    meminfo: Path = Path("/proc/meminfo")
    cpu_online: Path = Path("/sys/devices/system/cpu/online")
    model: Path = Path("/proc/device-tree/model")
    cgroup: Path | None = None
    cgroup_root: Path | None = None


@dataclass(frozen=True)
class Hardware:
    ram_mib: int | None
    cpus: int
    board: str | None
    memory_limit_mib: int | None = None  # a cgroup memory limit below the RAM (a container)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _read_ram_mib(path: Path) -> int | None:
    try:
        for line in path.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_cpus(path: Path) -> int:
    """Count CPUs from a kernel cpulist such as ``0-3`` or ``0,2-3``."""
    try:
        text = path.read_text(encoding="ascii").strip()
        count = 0
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            count += (int(hi) - int(lo) + 1) if hi else 1
        return max(1, count)
    except (OSError, ValueError):
        return os.cpu_count() or 1


def _read_board(path: Path) -> str | None:
    try:
        return path.read_bytes().rstrip(b"\x00\n ").decode("utf-8", errors="replace") or None
    except OSError:
        return None


def read_hardware(paths: HardwarePaths | None = None) -> Hardware:
    paths = paths or HardwarePaths(cgroup=Path("/proc/self/cgroup"), cgroup_root=Path("/sys/fs/cgroup"))
    ram = _read_ram_mib(paths.meminfo)
    limit = _read_cgroup_limit_mib(paths.cgroup, paths.cgroup_root)
    return Hardware(ram, _read_cpus(paths.cpu_online), _read_board(paths.model),
                    limit if limit is not None and (ram is None or limit < ram) else None)


_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a page-rounded 2**63


def _read_cgroup_limit_mib(cgroup: Path | None, root: Path | None) -> int | None:
    """The tightest memory limit of this process's cgroup and its parents (v2 ``memory.max``,
    v1 ``memory.limit_in_bytes``), None when there is none or it cannot be read."""
    if cgroup is None or root is None:
        return None
    try:
        lines = cgroup.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    dirs: list[tuple[Path, str]] = []
    for line in lines:
        _, controllers, rel = (line.split(":", 2) + ["", ""])[:3]
        rel = rel.strip().lstrip("/")
        if controllers == "":      # v2: one unified hierarchy
            base, name = root, "memory.max"
        elif "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        d = base / rel if rel else base
        while True:  # the cgroup, then each parent up to the mount (a container sees only its own)
            dirs.append((d, name))
            if d == base:
                break
            d = d.parent
    limits = []
    for d, name in dirs:
        try:
            raw = (d / name).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if raw.isdigit() and int(raw) < _UNLIMITED:
            limits.append(int(raw) // (1 << 20))
    return min(limits) if limits else None


LIMIT_SHARE = 0.8  # of a cgroup memory limit, the most a tier's memory budget may take

# Boards whose CPU or I/O is too weak for more than ultra_lite, whatever the RAM says.
_SMALL_BOARDS = ("Raspberry Pi Zero", "Raspberry Pi 3", "Raspberry Pi Model", "Raspberry Pi 2")


def detect(hw: Hardware, profiles: Mapping[str, TierProfile]) -> tuple[str, list[str]]:
    """Tier from hardware facts, with the reasons for the choice."""
    reasons: list[str] = []
    if hw.ram_mib is None:
        reasons.append("total RAM unreadable: assuming the smallest tier")
        return "ultra_lite", reasons
    tier = "ultra_lite"
    for name in TIER_NAMES:
        if hw.ram_mib >= profiles[name].min_ram_mib:
            tier = name
    reasons.append(f"{hw.ram_mib} MiB RAM visible -> {tier} (>= {profiles[tier].min_ram_mib} MiB)")
    if hw.board and any(hw.board.startswith(b) for b in _SMALL_BOARDS) and tier != "ultra_lite":
        reasons.append(f"board '{hw.board}' caps the tier at ultra_lite")
        tier = "ultra_lite"
    elif hw.board:
        reasons.append(f"board '{hw.board}'")
    if hw.cpus <= 1 and TIER_NAMES.index(tier) > TIER_NAMES.index("lite"):
        reasons.append("1 CPU caps the tier at lite")
        tier = "lite"
    else:
        reasons.append(f"{hw.cpus} CPUs")
    limit = hw.memory_limit_mib
    if limit is not None:
        # A container (or a unit's MemoryMax) may give the process less than the board has: the
        # tier's budget must fit in LIMIT_SHARE of it (the unit's own 1600M keeps full's 1280 MiB).
        capped = tier
        while TIER_NAMES.index(capped) > 0 and profiles[capped].memory_budget_mib > LIMIT_SHARE * limit:
            capped = TIER_NAMES[TIER_NAMES.index(capped) - 1]
        if capped != tier:
            reasons.append(f"a {limit} MiB cgroup memory limit caps the tier at {capped} "
                           f"(budget {profiles[capped].memory_budget_mib} MiB)")
            tier = capped
    return tier, reasons


@dataclass(frozen=True)
class TierDecision:
    name: str
    source: str  # "override" | "config" | "env" | "detected"
    reasons: list[str] = field(default_factory=list)
    hardware: Hardware | None = None
    profile: TierProfile | None = None

    def as_dict(self) -> dict[str, Any]:
        hw = self.hardware
        return {
            "tier": self.name, "source": self.source, "reasons": list(self.reasons),
            "ram_mib": hw.ram_mib if hw else None, "cpus": hw.cpus if hw else None,
            "board": hw.board if hw else None,
            "memory_budget_mib": self.profile.memory_budget_mib if self.profile else None,
        }


def resolve(
    config_tier: str = "auto",
    override: str | None = None,
    env: Mapping[str, str] | None = None,
    hardware: Hardware | None = None,
    profiles: Mapping[str, TierProfile] | None = None,
    override_by: str = "fleet",
) -> TierDecision:
    """Apply the precedence rules and explain the result (``override_by`` says who set the
    override: "fleet", or "local" for the box's admin route)."""
    profiles = profiles or load_profiles()
    hw = hardware or read_hardware()
    env = os.environ if env is None else env
    detected, det_reasons = detect(hw, profiles)
    if override:
        if override not in profiles:
            raise ConfigError([("tier override", f"unknown tier {override!r}")])
        return TierDecision(override, "override", [f"{'local' if override_by == 'local' else 'fleet'} override sets {override}"] + det_reasons, hw, profiles[override])
    if config_tier and config_tier != "auto":
        return TierDecision(config_tier, "config", [f"device.tier = {config_tier} in the config"], hw, profiles[config_tier])
    env_tier = env.get("NIC_EDGE_TIER", "").strip()
    if env_tier:
        if env_tier not in profiles:
            raise ConfigError([("NIC_EDGE_TIER", f"unknown tier {env_tier!r}; use one of " + ", ".join(TIER_NAMES))])
        return TierDecision(env_tier, "env", [f"NIC_EDGE_TIER={env_tier}"], hw, profiles[env_tier])
    return TierDecision(detected, "detected", det_reasons, hw, profiles[detected])
