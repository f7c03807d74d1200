"""The applied tier override, persisted atomically in the data dir (survives reboot).

One JSON file ``tier_override.json``: {"tier": str | null, "source": "fleet"|"local",
"version": int | null, "payload_sha256": str | null, "applied_at": float}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "tier_override.json"


def read_state(data_dir: Path) -> dict[str, Any]:
    """The persisted override state, or {} when none (or unreadable: never fatal)."""
    try:
        data = json.loads((Path(data_dir) / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_override(data_dir: Path) -> str | None:
    tier = read_state(data_dir).get("tier")
    return tier if isinstance(tier, str) and tier else None


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Write atomically: temp file, fsync, rename, fsync the directory."""
    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / (FILE_NAME + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, d / FILE_NAME)
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
