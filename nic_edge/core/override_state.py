"""The applied tier override, persisted atomically in the data dir (survives reboot).

One JSON file ``tier_override.json``: {"tier": str | null, "source": "fleet"|"local",
"version": int | null, "payload_sha256": str | null, "applied_at": float}.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from nic_edge.errors import StorageError

log = logging.getLogger(__name__)

FILE_NAME = "tier_override.json"


def read_state(data_dir: Path) -> dict[str, Any]:
    """The persisted override state, or {} when none (or unreadable: never fatal)."""
    try:
        data = json.loads((Path(data_dir) / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_override(data_dir: Path) -> str | None:
    return override_of(data_dir)[0]


def override_of(data_dir: Path) -> tuple[str | None, str]:
    """(tier or None, who set it: "fleet" | "local"). A tier name this build does not know (a
    file edited by hand, or written by a newer build) is left out with a warning naming the file:
    the box runs on its own tier instead of refusing to start."""
    from nic_edge.core.config import TIER_NAMES

    state = read_state(data_dir)
    tier, by = state.get("tier"), "local" if state.get("source") == "local" else "fleet"
    if not isinstance(tier, str) or not tier:
        return None, by
    if tier not in TIER_NAMES:
        log.warning("%s names tier %r, which this nic-edge does not know (%s): override ignored",
                    Path(data_dir) / FILE_NAME, tier, ", ".join(TIER_NAMES))
        return None, by
    return tier, by


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Write atomically: temp file, fsync, rename, fsync the directory.

    StorageError when it cannot be saved (a full or read-only disk): the caller refuses the
    override with that reason (fleet: a ``rejected`` report; HTTP: 503) instead of an internal
    error, and the previous file stays as it was.
    """
    d = Path(data_dir)
    tmp = d / (FILE_NAME + ".tmp")
    try:
        d.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(state, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, d / FILE_NAME)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StorageError(f"cannot save the tier override in {d}: {exc.strerror or exc}",
                           "free space on the data dir (or make it writable) and try again") from exc
