"""Up-front checks before indexing: free disk space, and memory within the tier's budget.

Both fail early with one clear line and a hint, instead of after all the embedding work with
"OSError [Errno 28]" or an OOM kill. Sizes are estimates from measurements
(docs/BENCHMARKS.md, "hostile input"): a new generation rewrites the index, so it needs about
the current index plus ``DISK_FACTOR`` times the new text; parsing, chunking and the BM25 build
hold about ``MEMORY_FACTOR`` times a file's size at their peak.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nic_edge.errors import StorageError

DISK_FACTOR = 3          # texts + terms + vectors of the new chunks, in the new generation
DISK_SLACK = 4 << 20     # LMDB pages, metadata, the cache and audit log that share the disk
MEMORY_FACTOR = 20       # measured (peak RSS - baseline) / file size: 14x (a 20 MB one-line file) to 17x
                         # (5 MB of paragraphs), after chunking stopped listing every word; plus margin
RUNTIME_FLOOR = 80 << 20  # measured RSS of `nic-edge index` with the model loaded, before reading a file
_MIB = 1 << 20


def tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_blocks * 512  # sparse LMDB maps
            except OSError:
                continue  # vanished meanwhile
    return total


def check_free_space(root: Path, new_bytes: int) -> None:
    """StorageError when the filesystem of ``root`` cannot hold the next generation."""
    probe = Path(root)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    need = (tree_bytes(root) if Path(root).exists() else 0) + DISK_FACTOR * new_bytes + DISK_SLACK
    if free < need:
        raise StorageError(f"not enough free space to index: {free / _MIB:.1f} MiB free on {probe}, "
                           f"about {need / _MIB:.1f} MiB needed",
                           "free space on that disk (old audit logs, backups) or use a --data-dir on a "
                           "larger one")


def memory_problem(size: int, held: int, budget: int | None) -> str | None:
    """Why a file of ``size`` bytes cannot be indexed in this run (``held`` bytes of files already
    read in it stay in memory until the commit), or None. Deterministic: the run's estimate must
    fit the budget above ``RUNTIME_FLOOR`` (what the runtime and model hold by themselves), not
    whatever the process happens to hold right now."""
    if not budget:
        return None
    room = budget - RUNTIME_FLOOR
    need = MEMORY_FACTOR * (size + held)
    if need <= room:
        return None
    fits = max(0, room // MEMORY_FACTOR - held)
    return (f"too large to index within this tier's memory budget ({budget / _MIB:.0f} MiB): needs about "
            f"{(RUNTIME_FLOOR + need) / _MIB:.0f} MiB (at most ~{fits / _MIB:.1f} MiB of manual fits in this run); "
            f"split the file, index it in a separate run, or on a bigger box (NIC_EDGE_TIER=full) and copy the "
            f"data dir")
