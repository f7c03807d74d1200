"""A sealed backup of a data dir and its config, taken while the owner keeps running.

Used by ``nic-edge backup`` (app/backup.py: kind "device") and ``nic-aggregator backup``
(fleet/aggregator/backup.py: kind "aggregator"). What goes in (member names in the archive):

- ``data/<store>/data.mdb`` for every LMDB store found in the data dir (answer cache, outbox,
  aggregator series, and any other: found by their ``data.mdb``, not by a list), each a
  compacted copy of one commit (core/snapshot.py); the store's format marker goes into the
  manifest.
- ``data/<dir>/CURRENT`` and ``data/<dir>/<generation>/*`` for a directory of immutable
  generations named by ``CURRENT`` (the index): the live generation only. Its files are all
  opened before any is read, so a writer that switches generations and deletes the old one
  mid-backup cannot tear the copy (open files stay readable).
- every other file in the data dir (tier override state, calibration state, audit log and its
  rotations, flashed manuals) as is; logs (``*.jsonl``) up to their last complete line.
  Left out: temp files, moved-aside corrupt stores, LMDB lock files, old generations.
- ``config/<name>`` the config file, and ``config/refs/<key>/<name>`` the files its keys name;
  secret ones (tokens, passwords, the device key, TLS key) only with ``include_secrets``.

Stores are copied one after another, so they are each consistent but not one instant together
(an outbox record and an audit line written between two copies may be in one and not the other).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from nic_edge import __version__
from nic_edge.core.archive import SealedWriter
from nic_edge.core.config import Config, file_in_config
from nic_edge.core.snapshot import copy_lmdb, is_lmdb_dir, open_log_prefix
from nic_edge.errors import BackupError

log = logging.getLogger(__name__)

FORMAT = "nic-edge-backup/1"  # the archive layout; what each kind holds is checked by its restore
SECRET_KEYS = ("http.token_file", "mqtt.password_file", "mqtt.key_file", "fleet.key_file", "fleet.signing_key_file",
               "aggregator.webhook_secret_file", "aggregator.smtp_password_file")
PLAIN_KEYS = ("mqtt.ca_file", "mqtt.cert_file", "alerts.rules_file", "fleet.signing_pub_file", "engine.words_file")
_SKIP_SUFFIXES = (".tmp", "lock.mdb")


def _skipped(name: str) -> bool:
    return (name.endswith(_SKIP_SUFFIXES) or ".corrupt-" in name or name.startswith((".tmp", ".restore-"))
            or ".pre-restore-" in name)


class TreeBackup:
    """Collects one backup; ``run(out)`` writes ``out`` atomically (temp name, fsync, rename)."""

    def __init__(self, kind: str, data_dir: Path, cfg: Config | None, include_secrets: bool = False,
                 device_id: str = "", clock: Callable[[], float] = time.time) -> None:
        self.data_dir = Path(data_dir)
        self.cfg = cfg
        self.include_secrets = include_secrets
        self.device_id = device_id
        self.clock = clock
        self.manifest: dict[str, Any] = {"format": FORMAT, "kind": kind, "version": __version__,
                                         "device_id": device_id, "secrets_included": include_secrets,
                                         "stores": {}, "index": None, "config": None, "skipped": []}
        self._secret_paths = self._secrets()

    def _secrets(self) -> set[Path]:
        out: set[Path] = set()
        if self.cfg is None:
            return out
        for key in SECRET_KEYS:
            value = _key_value(self.cfg, key)
            if value:
                out.add(file_in_config(self.cfg, value).resolve())
        return out

    def run(self, out: Path) -> dict[str, Any]:
        if not self.data_dir.is_dir():
            raise BackupError(f"data dir {self.data_dir} does not exist", "pass --data-dir DIR of the device")
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        work = Path(tempfile.mkdtemp(prefix=".nic-backup-", dir=out.parent))
        writer = SealedWriter(tmp)
        try:
            self.manifest["created_at"] = self.clock()
            self._walk(writer, self.data_dir, "data", work)
            if self.cfg is not None and self.cfg.source:
                self._add_config(writer)
            digest = writer.finish(self.manifest)
            os.replace(tmp, out)
        except BaseException:
            writer.abort()
            tmp.unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return {"file": str(out), "sha256": digest, "members": len(writer.members),
                "bytes": out.stat().st_size, "stores": sorted(self.manifest["stores"]),
                "index": self.manifest["index"], "secrets_included": self.include_secrets}

    # -- data dir -------------------------------------------------------------------------
    def _walk(self, writer: SealedWriter, directory: Path, prefix: str, work: Path) -> None:
        store_here = is_lmdb_dir(directory)
        if store_here:  # an LMDB environment: never its live files, a compacted copy instead
            copied, marker = copy_lmdb(directory, work)
            writer.add_file(f"{prefix}/data.mdb", copied)
            copied.unlink()
            self.manifest["stores"][directory.relative_to(self.data_dir).as_posix()] = {"marker": marker}
        for entry in sorted(directory.iterdir(), key=lambda p: p.name):
            name = f"{prefix}/{entry.name}"
            if _skipped(entry.name) or entry.is_symlink() or (store_here and entry.name == "data.mdb"):
                continue
            if entry.resolve() in self._secret_paths and not self.include_secrets:
                self.manifest["skipped"].append({"member": name, "why": "secret"})
                continue
            if entry.is_dir() and (entry / "CURRENT").is_file():
                self._add_index(writer, entry, name)
            elif entry.is_dir():
                self._walk(writer, entry, name, work)
            elif entry.is_file():
                self._add_plain(writer, entry, name)

    def _add_plain(self, writer: SealedWriter, path: Path, name: str) -> None:
        try:
            if path.name.endswith(".jsonl") or ".jsonl." in path.name:
                fh, size = open_log_prefix(path)
            else:
                fh = open(path, "rb")
                size = os.fstat(fh.fileno()).st_size
        except FileNotFoundError:  # rotated away between listing and opening
            return
        with fh:
            writer.add_file(name, fh, size)

    def _add_index(self, writer: SealedWriter, root: Path, name: str) -> None:
        for _attempt in range(5):
            current = (root / "CURRENT").read_text("utf-8").strip()
            gen = root / current
            handles: list[tuple[Path, Any]] = []
            try:
                for p in sorted(p for p in gen.iterdir() if p.is_file()):
                    handles.append((p, open(p, "rb")))
            except FileNotFoundError:
                for _, fh in handles:
                    fh.close()
                continue  # the generation was replaced while we listed it: take the new one
            # The store deletes a generation only once it is neither current nor the previous
            # one, and names are never reused: if CURRENT still names it now that every file is
            # open, no file was deleted before we opened it (open handles outlive an unlink).
            # Otherwise two swaps may have torn it while we listed it: take the new one.
            manifest_fh = next((fh for p, fh in handles if p.name == "manifest.json"), None)
            if manifest_fh is None or (root / "CURRENT").read_text("utf-8").strip() != current:
                for _, fh in handles:
                    fh.close()
                continue
            try:
                manifest = json.loads(manifest_fh.read())
                for p, fh in handles:
                    fh.seek(0)
                    writer.add_file(f"{name}/{current}/{p.name}", fh)
            finally:
                for _, fh in handles:
                    fh.close()
            writer.add_bytes(f"{name}/CURRENT", (current + "\n").encode("utf-8"))
            self.manifest["index"] = {"path": root.relative_to(self.data_dir).as_posix(), "generation": current,
                                      "format": manifest.get("format"), "chunks": manifest.get("chunks"),
                                      "model_sha256": manifest.get("model_sha256")}
            return
        raise BackupError(f"the index in {root} kept changing during the backup", "run the backup again")

    # -- config ---------------------------------------------------------------------------
    def _add_config(self, writer: SealedWriter) -> None:
        assert self.cfg is not None and self.cfg.source
        src = Path(self.cfg.source)
        writer.add_file(f"config/{src.name}", src)
        refs: dict[str, Any] = {}
        for key in SECRET_KEYS + PLAIN_KEYS:
            value = _key_value(self.cfg, key)
            if not value:
                continue
            secret = key in SECRET_KEYS
            path = file_in_config(self.cfg, value)
            entry: dict[str, Any] = {"value": value, "secret": secret, "member": None}
            if (not secret or self.include_secrets) and path.is_file():
                entry["member"] = f"config/refs/{key}/{path.name}"
                writer.add_file(entry["member"], path)
            refs[key] = entry
        self.manifest["config"] = {"file": src.name, "refs": refs}


def _key_value(cfg: Config, key: str) -> str:
    section, name = key.split(".")
    return str(getattr(getattr(cfg, section), name) or "")
