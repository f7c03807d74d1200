"""Resource sampling (a service on its own thread) and the tier memory-budget enforcer.

ResourceSampler reads RSS, process CPU %, CPU temperature, firmware throttling flags and free
disk in the data dir every ``interval_s``, plus values from callbacks (model load time, index
size). Every /proc and /sys path is injectable so tests use fixture files.

BudgetEnforcer is pure logic fed with RSS readings: over budget -> step 1 shrink L1; still over
on the next reading -> step 2 unload the model and answer lexically (alert-worthy). Recovery
goes in reverse order, one step per ``recover_readings`` consecutive readings under
``recover_ratio`` x budget (hysteresis: reloading the model raises RSS again, so recovering at
just under 100 % would flap).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nic_edge.core.lifecycle import Service

log = logging.getLogger(__name__)

THERMAL_ROOT = Path("/sys/class/thermal")
THROTTLED_PATH = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")
STATM_PATH = Path("/proc/self/statm")
_CPU_ZONE_HINTS = ("cpu", "soc", "x86_pkg")


def read_rss_bytes(statm_path: Path = STATM_PATH, use_psutil: bool = True) -> int | None:
    """RSS of this process: psutil when installed, else /proc/self/statm."""
    if use_psutil:
        try:
            import psutil  # lazy: only the sampler needs it
        except ImportError:
            pass
        else:
            return int(psutil.Process().memory_info().rss)
    try:
        fields = statm_path.read_text().split()
        return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return None


def read_cpu_temp_c(root: Path = THERMAL_ROOT) -> float | None:
    """CPU temperature in °C from thermal zones (the CPU/SoC zone if named, else the hottest)."""
    preferred: list[float] = []
    others: list[float] = []
    for zone in sorted(root.glob("thermal_zone*")):
        try:
            milli = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            kind = (zone / "type").read_text().strip().lower()
        except OSError:
            kind = ""
        (preferred if any(h in kind for h in _CPU_ZONE_HINTS) else others).append(milli / 1000.0)
    values = preferred or others
    return max(values) if values else None


def read_throttled(path: Path = THROTTLED_PATH) -> int | None:
    """get_throttled flags (vcgencmd bits: 0 under-voltage, 1 freq capped, 2 throttled, 3 soft
    temp limit; 16-19 the same 'has occurred'); None where the board does not report it."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    text = text.split("=", 1)[-1]
    try:
        return int(text, 16)
    except ValueError:
        return None


@dataclass
class _CpuMark:
    wall: float
    cpu: float


class ResourceSampler(Service):
    """Samples resources every ``interval_s``; ``latest()`` holds the last sample dict."""

    name = "profiler"

    def __init__(self, data_dir: str | os.PathLike[str] | None, interval_s: float = 5.0,
                 on_sample: Callable[[dict[str, Any]], None] | None = None,
                 extras: dict[str, Callable[[], float | None]] | None = None,
                 thermal_root: Path = THERMAL_ROOT, throttled_path: Path = THROTTLED_PATH,
                 statm_path: Path = STATM_PATH, use_psutil: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.interval_s = interval_s
        self._on_sample = on_sample
        self.extras = dict(extras or {})
        self.thermal_root, self.throttled_path, self.statm_path = thermal_root, throttled_path, statm_path
        self.use_psutil = use_psutil
        self._clock = clock
        self._mark: _CpuMark | None = None
        self._latest: dict[str, Any] = {}

    def _cpu_percent(self) -> float | None:
        t = os.times()
        mark = _CpuMark(time.monotonic(), t.user + t.system)
        prev, self._mark = self._mark, mark
        if prev is None or mark.wall <= prev.wall:
            return None  # the first sample has no interval to measure over
        return 100.0 * (mark.cpu - prev.cpu) / (mark.wall - prev.wall)

    def sample(self) -> dict[str, Any]:
        """Take one sample now (the thread calls this; tests call it directly)."""
        flags = read_throttled(self.throttled_path)
        disk_free = disk_total = None
        if self.data_dir is not None:
            try:
                usage = shutil.disk_usage(self.data_dir)
                disk_free, disk_total = usage.free, usage.total
            except OSError:
                pass  # data dir not created yet: reported as unknown (None)
        out: dict[str, Any] = {
            "ts": self._clock(),
            "rss_bytes": read_rss_bytes(self.statm_path, self.use_psutil),
            "cpu_percent": self._cpu_percent(),
            "cpu_temp_c": read_cpu_temp_c(self.thermal_root),
            "throttled": flags,
            "throttled_now": None if flags is None else bool(flags & 0xF),
            "disk_free_bytes": disk_free,
            "disk_total_bytes": disk_total,
        }
        for key, fn in self.extras.items():
            try:
                value = fn()
            except Exception:  # boundary: a broken callback must not stop sampling
                log.exception("resource callback %s failed", key)
                value = None
            out[key] = value
        self._latest = out
        return out

    def latest(self) -> dict[str, Any]:
        return dict(self._latest)

    def run(self) -> None:
        while True:
            try:
                sample = self.sample()
                if self._on_sample is not None:
                    self._on_sample(sample)
            except Exception:  # boundary: keep sampling after an unexpected error
                log.exception("resource sampling failed")
            if self.wait(self.interval_s):
                return


@dataclass
class BudgetActions:
    """Callbacks the enforcer drives (the composition root wires them to cache and engine)."""

    shrink_l1: Callable[[], None]
    restore_l1: Callable[[], None]
    enter_lexical: Callable[[], None]   # unload the model, answer lexically
    leave_lexical: Callable[[], None]   # allow the model to load again (lazily)


LEVELS = ("ok", "l1_shrunk", "lexical")


class BudgetEnforcer:
    """Memory-budget state machine: 0 ok -> 1 L1 shrunk -> 2 lexical, and back."""

    def __init__(self, budget_bytes: int, actions: BudgetActions, recover_ratio: float = 0.85,
                 recover_readings: int = 3, clock: Callable[[], float] = time.time) -> None:
        if not 0.0 < recover_ratio < 1.0:
            raise ValueError("recover_ratio must be between 0 and 1")
        self.budget_bytes = budget_bytes
        self.actions = actions
        self.recover_ratio = recover_ratio
        self.recover_readings = max(1, recover_readings)
        self._clock = clock
        self.level = 0
        self.rss_bytes: int | None = None
        self.since = clock()
        self.transitions = 0
        self._under = 0

    def set_budget(self, budget_bytes: int) -> None:
        """Tier switch: the next reading is judged against the new budget."""
        self.budget_bytes = budget_bytes

    def feed(self, rss_bytes: int | None) -> str | None:
        """One RSS reading; returns the step taken ('shrink_l1', 'enter_lexical', ...) or None."""
        self.rss_bytes = rss_bytes
        if rss_bytes is None or self.budget_bytes <= 0:
            return None
        if rss_bytes > self.budget_bytes:
            self._under = 0
            if self.level == 0:
                return self._step(1, "shrink_l1", self.actions.shrink_l1)
            if self.level == 1:
                return self._step(2, "enter_lexical", self.actions.enter_lexical)
            return None
        if rss_bytes <= self.budget_bytes * self.recover_ratio and self.level > 0:
            self._under += 1
            if self._under >= self.recover_readings:
                self._under = 0
                if self.level == 2:
                    return self._step(1, "leave_lexical", self.actions.leave_lexical)
                return self._step(0, "restore_l1", self.actions.restore_l1)
        else:
            self._under = 0  # between the margin and the budget: hold the current level
        return None

    def _step(self, level: int, name: str, action: Callable[[], None]) -> str:
        log.warning("memory budget: RSS %s of %s bytes -> %s", self.rss_bytes, self.budget_bytes, name)
        self.level = level
        self.since = self._clock()
        self.transitions += 1
        try:
            action()
        except Exception:  # boundary: the state still moves so we do not retry every reading
            log.exception("memory budget action %s failed", name)
        return name

    def state(self) -> dict[str, Any]:
        """For /api/status and DeviceMetrics.set_budget (alert metrics)."""
        over = self.rss_bytes is not None and self.budget_bytes > 0 and self.rss_bytes > self.budget_bytes
        return {"budget_bytes": self.budget_bytes, "rss_bytes": self.rss_bytes, "level": self.level,
                "state": LEVELS[self.level], "over_budget": over, "degraded": self.level > 0,
                "lexical": self.level == 2, "since": self.since, "transitions": self.transitions,
                "recover_ratio": self.recover_ratio}
