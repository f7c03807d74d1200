"""The catalog of indexed files: what ``nic-edge manuals`` lists and ``--remove`` resolves.

A file is identified by its resolved path, so two files with the same name (two BEIR sets
both called ``corpus.jsonl``) are two entries, and records of different files never replace
each other. A file's entry: ``source`` (the file name, what citations of non-BEIR files
show), ``kind``, ``sha256`` (of the bytes), ``chunks`` (held), ``file_chunks`` (what the file
yields), ``sections``, ``indexed_at``, ``ingest`` (the parser's version that read it); a BEIR
file also ``records``: per record ``_id`` its chunks and sections (citations show the ``_id``).
The listing adds each file's ``label`` (labels.py), worked out from the keys, never stored.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path
from typing import Any

from nic_edge.engine.ingest import INGEST_VERSION
from nic_edge.engine.labels import file_labels

Files = dict[str, dict[str, Any]]


def file_entry(path: Path, sha: str, docs: list[Any], now: float) -> dict[str, Any]:
    kind = docs[0].kind if docs else None
    chunks = sum(len(d.chunks) for d in docs)
    # file_chunks: what the file yields (never changed by removing a record), checked against
    # the rows the index holds to tell an unchanged file from one to restore.
    entry: dict[str, Any] = {"source": path.name, "kind": kind, "sha256": sha, "ingest": INGEST_VERSION,
                             "chunks": chunks, "file_chunks": chunks,
                             "sections": sum(len(d.sections) for d in docs), "indexed_at": now}
    if kind == "beir":
        entry["records"] = {d.source: {"chunks": len(d.chunks), "sections": len(d.sections)}
                            for d in docs}
    return entry


def file_tag(key: str) -> str:
    """A short stable tag of a file's resolved path, used to keep chunk ids unique."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def resolve_removals(names: list[str], files: Files
                     ) -> tuple[set[str], set[tuple[str, str]], list[tuple[str, str]]]:
    """(files to drop, (file, record _id) pairs to drop, (name, reason) not removed).

    A name is a file path (resolved), else a folder path (every file indexed from under it),
    else the name of exactly one indexed file, else the ``_id`` of a record in exactly one BEIR
    file. An ambiguous name removes nothing: the
    reason says to give the path.
    """
    drop_files: set[str] = set()
    drop_records: set[tuple[str, str]] = set()
    skipped: list[tuple[str, str]] = []
    for name in names:
        key = _nfc(str(Path(name).resolve()))
        exact = [k for k in files if _nfc(k) == key]
        if exact:
            drop_files.update(exact)
            continue
        under = [k for k in files if _nfc(k).startswith(key.rstrip("/") + "/")]
        if under:  # a folder (it may be gone): what `nic-edge index FOLDER` added from it
            drop_files.update(under)
            continue
        by_name = [k for k, v in files.items() if _nfc(str(v.get("source"))) == _nfc(name)]
        by_record = [k for k, v in files.items() if name in (v.get("records") or {})]
        match = by_name or by_record
        if not match:
            skipped.append((name, "not indexed"))
        elif len(match) > 1:
            skipped.append((name, f"{len(match)} indexed files match; give the file path: "
                                  + ", ".join(sorted(match))))
        elif by_name:
            drop_files.add(match[0])
        else:
            drop_records.add((match[0], name))
    return drop_files, drop_records, skipped


def _nfc(text: str) -> str:
    """Names compared as the same text however their accents are encoded: a Mac writes "é" as
    e + combining accent (NFD), a typed name is one character (NFC)."""
    return unicodedata.normalize("NFC", text)


def drop_record(entry: dict[str, Any], rid: str) -> None:
    rec = entry["records"].pop(rid)
    entry["chunks"] -= rec["chunks"]
    entry["sections"] -= rec["sections"]


def listing(files: Files, records: bool = False) -> list[dict[str, Any]]:
    """One entry per file, sorted by source then path; ``records`` adds a BEIR file's records.
    ``label``: the file's name, or the shortest trailing path that tells it from a same-named
    file (labels.py) -- what citations of its chunks show."""
    out = []
    names = file_labels(files)
    for key, v in sorted(files.items(), key=lambda kv: (str(kv[1].get("source")), kv[0])):
        row = {"source": v.get("source"), "label": names.get(key, v.get("source")), "file": key,
               "kind": v.get("kind"), "chunks": v.get("chunks"), "sections": v.get("sections"),
               "indexed_at": v.get("indexed_at"), "sha256": v.get("sha256")}
        if v.get("records") is not None:
            row["record_count"] = len(v["records"])
            if records:
                row["records"] = [{"source": rid, **r} for rid, r in v["records"].items()]
        out.append(row)
    return out


def changed_on_disk(row: dict[str, Any]) -> bool | None:
    """Whether a listed file now holds other bytes than were indexed (None: no file to read).
    Only a file modified after it was indexed is hashed, so a listing reads next to nothing."""
    name = str(row.get("file") or "")
    path = Path(name)
    try:
        if name.startswith("bundle:") or not path.is_file():
            return None
        if path.stat().st_mtime <= float(row.get("indexed_at") or 0):
            return False
        from nic_edge.core.storage import file_sha256
        return file_sha256(path) != row.get("sha256")
    except (OSError, TypeError, ValueError):
        return None
