"""Restore a sealed archive's subtree into a directory atomically.

The members under ``prefix/`` are written into a temp dir beside the target (same filesystem),
fsynced, and the temp dir is renamed onto the target: the target either keeps what it had or
holds the complete restored tree, never a half-restored one. A non-empty target is refused
unless ``force``; then it is moved aside first and deleted only after the rename succeeded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from nic_edge.core.archive import extract_members
from nic_edge.core.storage import fsync_dir
from nic_edge.errors import BackupError


def check_target(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise BackupError(f"{target} exists and is not a directory", "name a directory to restore into")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise BackupError(f"{target} is not empty", "restore into a new directory, or pass --force to replace it")


def restore_tree(archive: Path, manifest: dict[str, Any], prefix: str, target: Path, force: bool,
                 check: Callable[[Path], None] | None = None) -> list[str]:
    """Restore members ``prefix/...`` of ``archive`` into ``target``; returns the names written.

    ``check(tmpdir)`` may inspect the restored tree before it replaces the target and raise
    BackupError to refuse it.
    """
    target = Path(target).absolute()
    check_target(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
    stage = tmp / "x"
    try:
        written = list(extract_members(archive, manifest, stage, prefix + "/"))
        tree = stage / prefix
        tree.mkdir(parents=True, exist_ok=True)
        for d, _dirs, _files in os.walk(tree):
            fsync_dir(d)
        if check is not None:
            check(tree)
        _swap(tree, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


def _swap(tree: Path, target: Path) -> None:
    aside: Path | None = None
    if target.is_dir():
        if any(target.iterdir()):
            aside = target.with_name(f"{target.name}.pre-restore-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
            os.rename(target, aside)
        else:
            target.rmdir()
    try:
        os.rename(tree, target)
    except OSError:
        if aside is not None:
            os.rename(aside, target)  # put the old tree back: nothing half-done
        raise
    fsync_dir(target.parent)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
