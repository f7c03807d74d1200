"""``nic-edge backup``: a sealed copy of a device's data dir and config, taken while it serves.

The collecting is core/backup_tree.py (shared with the aggregator); what is device-specific is
the kind tag and, on restore (app/restore.py), the checks against this software's index format,
embedding model and store formats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nic_edge.core.backup_tree import FORMAT, TreeBackup
from nic_edge.core.config import Config

__all__ = ["FORMAT", "DeviceBackup", "model_sha256"]


def model_sha256() -> str | None:
    """sha256 of the bundled embedding model, from its manifest (no model load)."""
    import nic_edge.models as models  # noqa: PLC0415 - a package of data files, no code
    try:
        manifest = json.loads((Path(models.__file__).parent / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    sha = manifest.get("sha256")
    return sha if isinstance(sha, str) else None


class DeviceBackup(TreeBackup):
    def __init__(self, data_dir: Path, cfg: Config | None, include_secrets: bool = False,
                 device_id: str = "", **kw: Any) -> None:
        super().__init__("device", data_dir, cfg, include_secrets, device_id, **kw)
        self.manifest["model_sha256"] = model_sha256()
