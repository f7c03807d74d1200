"""kill -9 of a process writing to the cache (a quicker run of tools/cache_crash_test.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "cache_crash_test.py"


def test_cache_survives_kill_9(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--kills", "5", "--max-delay", "0.4", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 kill -9 rounds, 0 failed" in proc.stdout
