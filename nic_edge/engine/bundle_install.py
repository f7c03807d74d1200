"""Install a verified content bundle as the box's next index generation.

The generation files are extracted (each checked against the signed manifest and fsynced) into
a ``.tmp-content-*`` directory inside the index root, next to a ``content.json`` marker naming
the bundle version, then ``IndexStore.install`` renames it and swaps ``CURRENT`` atomically,
keeping the previous generation for a roll-back. A crash before the swap leaves the old
generation current (the leftover ``.tmp-*`` is removed by the next write); a crash after it
leaves the new one, and its marker lets the updater learn that on restart.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any, Callable

from nic_edge.core import bundle as bundle_file
from nic_edge.core.storage import fsync_dir
from nic_edge.engine.store import IndexStore

MARKER = "content.json"


def install(store: IndexStore, bundle: bundle_file.Bundle,
            fault: Callable[[str], None] | None = None) -> str:
    """Extract + switch; returns the new generation's name. Raises BundleError/IndexStoreError/OSError."""
    fault = fault or (lambda step: None)
    store.root.mkdir(parents=True, exist_ok=True)
    staging = store.root / f".tmp-content-{bundle.version}-{time.time_ns()}"
    staging.mkdir()
    try:
        bundle_file.extract(bundle, staging)
        fault("extracted")
        marker = {"version": bundle.version, "created_at": bundle.manifest.get("created_at"),
                  "manifest_sha256": _sha(bundle.manifest_bytes),
                  "trusted_keys": bundle.manifest.get("trusted_keys"),
                  "device_keys": bundle.manifest.get("device_keys")}
        with open(staging / MARKER, "w", encoding="utf-8") as fh:
            json.dump(marker, fh)
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(staging)
        return store.install(staging, f"gen-{time.time_ns()}")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def current_marker(store: IndexStore) -> dict[str, Any] | None:
    """The content marker of the current generation (None: built locally or nothing indexed)."""
    name = store.current_name()
    if name is None:
        return None
    try:
        data = json.loads((store.root / name / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("version"), int) else None


def _sha(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()
