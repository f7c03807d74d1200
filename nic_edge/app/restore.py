"""``nic-edge restore``: check a device backup, then restore it atomically into a data dir.

Order: the seal over the whole file (core/archive.py), the manifest (kind, format), then
compatibility with THIS software -- index format, the model the index was embedded with, the
format markers of the LMDB stores it knows -- and only then any write. Each member's sha256 is
checked again while it is extracted, and the restored tree replaces the target in one rename
(core/restore.py). The config (``--config-out``) is written the same way into its own dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nic_edge.app.backup import FORMAT, model_sha256
from nic_edge.core.archive import verify_sealed
from nic_edge.core.restore import check_target, restore_tree
from nic_edge.core.snapshot import read_marker
from nic_edge.errors import BackupError


def known_markers() -> dict[str, str]:
    """Format markers of the LMDB stores this software opens, by path in the data dir."""
    from nic_edge.cache.l2 import MARKER as L2_MARKER  # noqa: PLC0415
    from nic_edge.cache.tiered import L2_DIRNAME  # noqa: PLC0415
    from nic_edge.comms.outbox import MARKER as OUTBOX_MARKER  # noqa: PLC0415
    return {L2_DIRNAME: L2_MARKER.decode(), "outbox": OUTBOX_MARKER.decode()}


def check_compatible(manifest: dict[str, Any], model_sha: str | None = None) -> None:
    """Refuse a backup this software cannot use, with one line that says why."""
    from nic_edge.engine import store  # noqa: PLC0415
    readable = tuple(getattr(store, "READABLE_FORMATS", (store.FORMAT,)))
    if manifest.get("format") != FORMAT or manifest.get("kind") != "device":
        raise BackupError(f"not a device backup of format {FORMAT} (found {manifest.get('kind')!r}, "
                          f"{manifest.get('format')!r})", "restore it with the nic-edge version that wrote it")
    index = manifest.get("index")
    if index:
        if index.get("format") not in readable:
            raise BackupError(f"backup index format {index.get('format')} is not supported by nic-edge "
                              f"{_version()} (reads index formats {', '.join(map(str, readable))})",
                              f"restore with nic-edge {manifest.get('version')}, or re-index with `nic-edge index`")
        want = model_sha if model_sha is not None else model_sha256()
        got = index.get("model_sha256")
        if got and want and got != want:
            raise BackupError(f"backup index was embedded with model {got[:12]}, this nic-edge has {want[:12]}",
                              f"restore with nic-edge {manifest.get('version')}, or re-index with `nic-edge index`")
    markers = known_markers()
    for store, info in manifest.get("stores", {}).items():
        want_marker = markers.get(store)
        if want_marker is not None and info.get("marker") not in (None, want_marker):
            raise BackupError(f"backup store {store!r} has format {info.get('marker')!r}, this nic-edge "
                              f"expects {want_marker!r}", f"restore with nic-edge {manifest.get('version')}")


def _version() -> str:
    from nic_edge import __version__  # noqa: PLC0415
    return __version__


def _check_tree(manifest: dict[str, Any]) -> Any:
    def check(tree: Path) -> None:
        # A restored store must carry the marker the manifest promised (a store copied with
        # another marker would be moved aside as corrupt at the next start).
        for store, info in manifest.get("stores", {}).items():
            if (tree / store / "data.mdb").is_file() and read_marker(tree / store) != info.get("marker"):
                raise BackupError(f"restored store {store!r} does not carry its recorded format", "copy the backup again")
    return check


def restore_device(archive: Path, data_dir: Path, force: bool = False, config_out: Path | None = None,
                   model_sha: str | None = None) -> dict[str, Any]:
    manifest = verify_sealed(Path(archive))
    check_compatible(manifest, model_sha)
    check_target(Path(data_dir), force)
    cfg = manifest.get("config")
    if config_out is not None:
        if not cfg:
            raise BackupError("this backup holds no config file", "drop --config-out")
        check_target(Path(config_out), force)
    written = restore_tree(Path(archive), manifest, "data", Path(data_dir), force, _check_tree(manifest))
    notes: list[str] = []
    if config_out is not None and cfg:
        restore_tree(Path(archive), manifest, "config", Path(config_out), force)
        notes = _config_notes(cfg, Path(config_out))
    return {"data_dir": str(data_dir), "files": len(written), "device_id": manifest.get("device_id"),
            "version": manifest.get("version"), "index": manifest.get("index"),
            "stores": sorted(manifest.get("stores", {})), "config": cfg and cfg.get("file"), "notes": notes}


def _config_notes(cfg: dict[str, Any], out: Path) -> list[str]:
    """What the user has to fix by hand: files the config names that are not where it says."""
    notes = []
    for key, ref in sorted(cfg.get("refs", {}).items()):
        if ref.get("member") is None:
            why = "secret, not in this backup" if ref.get("secret") else "was missing at backup time"
            notes.append(f"{key} = {ref['value']!r}: {why}; put the file in place")
        else:
            notes.append(f"{key} = {ref['value']!r}: restored as {out / 'refs' / key / Path(ref['member']).name}")
    return notes
