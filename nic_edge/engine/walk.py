"""Which files an index run reads: files as given, folders walked for manual files.

A folder walked may hold a nic-edge data dir (the default ``./nic-data`` sits in the folder
``nic-edge index .`` is run from): its index, cache and audit log are the box's own files, not
manuals (a second ``index .`` used to index ``bm25_terms.txt`` and choke on ``audit.jsonl``).
Such a folder (its ``index/`` holds the writer lock, or CURRENT and a generation) is left out,
except its ``manuals/`` folder (where ``flash`` and ``serve`` keep manuals), also when the data
dir is the folder named. A file named on its own is read as named.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from nic_edge.engine.ingest import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

# one list with what ingest reads: a .text file named alone was indexed, in a folder "not a manual"
SUFFIXES = set(SUPPORTED_SUFFIXES)


def _data_dirs(entries: list[Path]) -> list[Path]:
    """Data dirs among the walked entries: an ``index/`` folder holding the writer lock, or
    ``CURRENT`` beside a ``gen-*`` generation (a manual folder that merely holds a file called
    CURRENT is not one)."""
    return sorted({f.parent.parent for f in entries if f.parent.name == "index" and (
        f.name == ".writer.lock" or (f.name == "CURRENT" and any(f.parent.glob("gen-*"))))})


def _kept(f: Path, data_dirs: list[Path]) -> bool:
    for d in data_dirs:
        if f == d or d in f.parents:
            return f == d / "manuals" or (d / "manuals") in f.parents
    return True


def expand(paths: Iterable[Path | str], empty: list[tuple[str, str]] | None = None,
           other: dict[str, int] | None = None) -> list[Path]:
    """Files as given, folders walked for manual files; a folder with none, and anything that is
    not a regular file (a FIFO would block the reader for ever), goes to ``empty`` (skipped);
    ``other`` counts the folders' other files by suffix. Hidden files and folders inside a
    folder walked are left out."""
    out: list[Path] = []
    odd = "not a regular file (a pipe, socket, device or broken link)"
    for p in map(Path, paths):
        if p.is_dir():
            found = []
            entries = list(p.rglob("*"))
            data_dirs = _data_dirs(entries)
            if data_dirs:
                log.info("left out nic-edge data dir(s) (except their manuals/): %s",
                         ", ".join(map(str, data_dirs)))
            # Hidden files and folders are not manuals (as for `nic-fleet flash --manuals`): a USB
            # stick from a Mac holds ._manual.pdf resource forks and .Trashes/ with deleted
            # manuals, which answered with their old figures.
            entries = [f for f in entries if _kept(f, data_dirs)
                       and not any(part.startswith(".") for part in f.relative_to(p).parts)]
            for f in entries:
                if not f.is_file():
                    if f.suffix.lower() in SUFFIXES and not f.is_dir() and empty is not None:
                        empty.append((str(f), odd))
                    elif f.is_symlink() and f.is_dir() and empty is not None:
                        # not walked (a link can loop back): say so rather than drop its manuals
                        empty.append((str(f), "a link to a folder is not followed; "
                                               "name the folder it points to"))
                    continue
                if f.suffix.lower() in SUFFIXES:
                    found.append(f)
                elif other is not None:
                    suffix = f.suffix.lower() or "(no suffix)"
                    other[suffix] = other.get(suffix, 0) + 1
            found.sort()
            if not found and empty is not None:
                empty.append((str(p), "folder holds no manual files ("
                              + " ".join(sorted(SUFFIXES)) + ")"))
            out.extend(found)
        elif p.exists() and not p.is_file() and empty is not None:
            empty.append((str(p), odd))
        else:
            out.append(p)
    return out
