"""Telemetry modules stay light: no numpy/psutil/lmdb/paho at import time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODULES = ["nic_edge.core.sketch", "nic_edge.telemetry", "nic_edge.telemetry.metrics",
           "nic_edge.telemetry.device_metrics", "nic_edge.telemetry.prometheus", "nic_edge.telemetry.alerts",
           "nic_edge.telemetry.audit", "nic_edge.telemetry.profiler"]


def test_telemetry_imports_are_light() -> None:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in MODULES)
            + "print(','.join(m for m in ('numpy', 'psutil', 'lmdb', 'paho', 'msgpack') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == ""
