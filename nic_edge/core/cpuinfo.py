"""The CPU model and its int8 dot-product features, for benchmarks and thread measurements.

Embedding speed depends more on these than on the core count: an x86 CPU with AVX512-VNNI
or AVX-VNNI does int8 dot products in one instruction (measured: 1.6-1.8 ms per question,
92-120 GMAC/s), an Arm core with ``asimddp`` (Cortex-A76: Pi 5) likewise, while a Cortex-A53
(Pi Zero 2 W, Pi 3) or A72 (Pi 4) has no dot-product instruction and is several times slower
per MAC. Every benchmark prints :func:`cpu_banner` next to its figures.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

INT8_FEATURES = ("avx512_vnni", "avx_vnni", "asimddp")


def _cpuinfo(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_model(path: Path = Path("/proc/cpuinfo")) -> str:
    text = _cpuinfo(path)
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    # Arm /proc/cpuinfo often names only the part number; the board model says more.
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "CPU part" and value.strip():
            return f"Arm CPU part {value.strip()}"
    return platform.processor() or platform.machine() or "unknown"


def int8_features(path: Path = Path("/proc/cpuinfo")) -> dict[str, bool]:
    """Which of avx512_vnni / avx_vnni / asimddp the CPU reports (x86 ``flags``, Arm ``Features``)."""
    flags: set[str] = set()
    for line in _cpuinfo(path).splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            flags.update(value.split())
    return {f: f in flags for f in INT8_FEATURES}


def cpu_banner() -> str:
    """One line: CPU model, CPUs, and the int8 features present (or 'none')."""
    feats = [f for f, on in int8_features().items() if on]
    return (f"cpu: {cpu_model()} ({os.cpu_count()} CPUs, {platform.machine()}); "
            f"int8 dot product: {', '.join(feats) if feats else 'none'} "
            f"(checked: {', '.join(INT8_FEATURES)})")
