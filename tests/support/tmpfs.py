"""A small real tmpfs for disk-full tests (root only; skipped otherwise).

A tmpfs of a few hundred KiB runs out of space for real: the kernel returns ENOSPC and short
writes exactly as a full SD card would, with no fake in the write path.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


def audit_on_dev_full(data: Path) -> Path:
    """``data`` (created) with its audit log pointed at ``/dev/full``: every audit write fails
    with the kernel's real ENOSPC. Skips where there is no ``/dev/full``."""
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full not available")
    data.mkdir(parents=True, exist_ok=True)
    (data / "audit.jsonl").symlink_to("/dev/full")
    return data


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (mount's syntax: "200k", "1m") on ``path`` for the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path, name: str = "filler") -> Path:
    """Write zeros into ``path/name`` until the file system is full; returns the file."""
    out = path / name
    with open(out, "wb", buffering=0) as fh:
        block = b"\0" * 4096
        while True:
            try:
                if fh.write(block) < len(block):
                    block = block[:1]  # the last free bytes, one at a time
            except OSError:  # ENOSPC: the file system is full, which is what was wanted
                break
    return out
