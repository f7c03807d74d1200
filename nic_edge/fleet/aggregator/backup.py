"""``nic-aggregator backup`` / ``restore``: the aggregator's series and state, hot.

The aggregator keeps everything in one LMDB environment (series at every resolution, the
``devices`` and ``alerts`` side databases, series meta); open coarse buckets live in memory and
are rebuilt from the finer ones at start (series.py ``recover``), so one compacted copy of one
commit is a state the aggregator can start from, exactly as after a crash. The archive format and
the atomic restore are the device's (core/backup_tree.py, core/restore.py); the kind tag keeps a
device backup from being restored as an aggregator's state and the other way round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nic_edge.core.archive import verify_sealed
from nic_edge.core.backup_tree import FORMAT, TreeBackup
from nic_edge.core.config import Config, file_in_config
from nic_edge.core.restore import check_target, restore_tree
from nic_edge.errors import BackupError, ConfigError

KIND = "aggregator"


def state_dir(cfg: Config, cli_value: str | None) -> Path:
    """--data-dir, else aggregator.data_dir, else <aggregator.out_dir>/.state (as the aggregator)."""
    if cli_value:
        return Path(cli_value)
    a = cfg.aggregator
    if a.data_dir:
        return file_in_config(cfg, a.data_dir)
    if a.out_dir:
        return file_in_config(cfg, a.out_dir) / ".state"
    raise ConfigError([("aggregator.data_dir", "not set; pass --data-dir DIR or set aggregator.data_dir/out_dir")],
                      cfg.source)


def backup_aggregator(cfg: Config, data: Path, out: Path, include_secrets: bool = False) -> dict[str, Any]:
    return TreeBackup(KIND, data, cfg if cfg.source else None, include_secrets).run(out)


def check_compatible(manifest: dict[str, Any]) -> None:
    from nic_edge.fleet.aggregator.series import MARKER  # noqa: PLC0415 - lmdb only when restoring
    if manifest.get("format") != FORMAT or manifest.get("kind") != KIND:
        raise BackupError(f"not an aggregator backup of format {FORMAT} (found {manifest.get('kind')!r}, "
                          f"{manifest.get('format')!r})", "restore a device backup with `nic-edge restore`")
    store = manifest.get("stores", {}).get(".")
    if store is None:
        raise BackupError("the backup holds no aggregator store", "back up the aggregator's data dir")
    if store.get("marker") not in (None, MARKER.decode()):
        raise BackupError(f"backup store has format {store.get('marker')!r}, this aggregator expects "
                          f"{MARKER.decode()!r}", f"restore with nic-edge {manifest.get('version')}")


def restore_aggregator(archive: Path, data: Path, force: bool = False) -> dict[str, Any]:
    manifest = verify_sealed(Path(archive))
    check_compatible(manifest)
    check_target(Path(data), force)
    written = restore_tree(Path(archive), manifest, "data", Path(data), force)
    return {"data_dir": str(data), "files": len(written), "version": manifest.get("version"),
            "config": (manifest.get("config") or {}).get("file")}
