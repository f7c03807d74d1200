"""Names a person can tell apart: the ``label`` of an indexed file and of a citation.

A citation's ``source`` is the file name (DESIGN.md), so two manuals called ``manual.md`` in
different folders (a mower's and a generator's) would both read "manual.md, Oil". The label is
the shortest trailing part of the file's path that no other indexed file's path ends with
("b/manual.md"), and just the name when no other file shares it. It is worked out from the
resolved paths the index already holds, per generation: indexing a second ``manual.md`` makes a
new generation (and a new answer-cache fingerprint) whose labels say "a/..." and "b/...";
removing one brings the other's back to "manual.md".

A BEIR record's ``source`` is its ``_id``; when records of two files share an ``_id`` the label
names the file too: ``doc1 (phone/corpus.jsonl)``.

A label is shown, so it shows what the name holds: a control or format character (a bidi
override that makes "manual\u202etxt.md" read "manualdm.txt" and reverses the rest of the line,
a zero-width space) is written as ``<U+202E>`` (``visible``).
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from pathlib import PurePath
from typing import Iterable

# Part of the answer-cache fingerprint: answers cached before citations carried ``label`` (or
# with labels worked out another way) are never served.
VERSION = "labels-2"   # labels-2: control and format characters made visible
BUNDLE_PREFIX = "bundle:"   # a pushed content bundle's files (bundle_build.FILE_PREFIX)


def visible(name: str) -> str:
    """``name`` with each control or format character (Unicode Cc, Cf) written as ``<U+XXXX>``."""
    if name.isprintable():
        return name
    return "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch) in ("Cc", "Cf") else ch
                   for ch in name)


def _parts(key: str) -> tuple[str, ...]:
    """The path's components, compared as the same text however accents are encoded (a Mac
    writes NFD); a bundle's ``bundle:<name>`` is its name."""
    path = key[len(BUNDLE_PREFIX):] if key.startswith(BUNDLE_PREFIX) else key
    return tuple(unicodedata.normalize("NFC", p) for p in PurePath(path).parts) or (path,)


def file_labels(keys: Iterable[str]) -> dict[str, str]:
    """Per file key (resolved path): its name, or the shortest trailing part of its path that
    is unique among ``keys``; the whole path when one path ends with all of another. Linear in
    the number of files times their depth (a listing of hundreds of ``index.html`` pages)."""
    keys = list(dict.fromkeys(keys))
    by_name: dict[str, list[str]] = defaultdict(list)
    parts = {k: _parts(k) for k in keys}
    for k in keys:
        by_name[parts[k][-1]].append(k)
    out: dict[str, str] = {}
    for group in by_name.values():
        if len(group) == 1:
            path = group[0].removeprefix(BUNDLE_PREFIX)
            out[group[0]] = PurePath(path).name or path
            continue
        todo = list(group)
        for n in range(2, max(len(parts[k]) for k in group) + 1):
            seen = Counter(parts[k][-n:] for k in group)
            for k in todo:
                if seen[parts[k][-n:]] == 1 and len(parts[k]) >= n:
                    out[k] = "/".join(parts[k][-n:]).replace("//", "/")
            todo = [k for k in todo if k not in out]
            if not todo:
                break
        for k in todo:   # the same path but for how its accents are encoded
            out[k] = k
    return {k: visible(v) for k, v in out.items()}


def citation_label(source: str, file_label: str, shared: bool, own_name: bool) -> str:
    """A row's label: ``source`` when no other file holds rows of that source; else the file's
    label for a file's own rows (``own_name``: source is the file's name), or the record
    ``_id`` with the file's label for a BEIR record."""
    if not shared:
        return visible(source)
    return file_label if own_name else f"{visible(source)} ({file_label})"


def row_labels(sources: list[str], files: list[str],
               pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Labels of the (source index, file index) pairs an index's rows hold, for the pairs whose
    source another file's rows hold too (every other row's label is its source). ``sources``
    and ``files``: a generation's interned strings."""
    pairs = list(pairs)
    holders: dict[str, set[int]] = defaultdict(set)
    for s, f in pairs:
        holders[unicodedata.normalize("NFC", sources[s])].add(f)
    shared = [(s, f) for s, f in pairs if len(holders[unicodedata.normalize("NFC", sources[s])]) > 1]
    if not shared:
        return {}
    flabel = file_labels(files[f] for f in sorted({f for _, f in pairs}))
    out: dict[tuple[int, int], str] = {}
    for s, f in shared:
        own = unicodedata.normalize("NFC", sources[s]) == _parts(files[f])[-1]
        out[(s, f)] = citation_label(sources[s], flabel[files[f]], True, own)
    return out
