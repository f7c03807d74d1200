"""Fixtures shared by the aggregator tests."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

import pytest


@pytest.fixture
def stop_procs() -> Any:
    """Processes (SIGTERM, then kill) and objects with close() to end after the test."""
    procs: list[Any] = []
    yield procs
    for p in procs:
        if isinstance(p, subprocess.Popen):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        else:
            p.close()
