"""BEIR-style JSONL corpora: one ``{"_id", "title", "text"}`` record per line.

Each record becomes its own Document (source = ``_id``, section = ``title``). A later record
with the same ``_id`` replaces the earlier one and is counted; broken lines and records
without ``_id`` or ``text`` are reported as warnings, never fatal unless nothing is usable.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

from nic_edge.engine.document import Document
from nic_edge.engine.ingest.chunking import chunk_sections
from nic_edge.engine.ingest.ocr import normalize_line
from nic_edge.engine.ingest.structure import Section
from nic_edge.errors import IngestError

log = logging.getLogger(__name__)

MAX_ID_CHARS = 512


@dataclass
class BeirResult:
    documents: list[Document]
    warnings: list[str] = field(default_factory=list)
    duplicates_replaced: int = 0


def record_sections(title: str | None, text: str) -> list[Section]:
    paras = [(None, line) for line in (normalize_line(x) for x in text.split("\n")) if line]
    return [Section(title or None, paras)] if paras else []


def parse_beir(text: str, name: str) -> BeirResult:
    records: dict[str, tuple[dict, int, str]] = {}
    warnings: list[str] = []
    replaced = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            canonical = json.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        except (ValueError, RecursionError) as exc:
            # ValueError: broken JSON, or an integer too long to convert; RecursionError: absurd
            # nesting (100k '[') -- one bad line is a warning, the rest of the file is indexed
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply" \
                if isinstance(exc, RecursionError) else str(exc)[:80]
            warnings.append(f"{name}:{lineno}: not valid JSON ({why}); line skipped")
            continue
        if not isinstance(rec, dict):
            warnings.append(f"{name}:{lineno}: not a JSON object; line skipped")
            continue
        rid, body = rec.get("_id"), rec.get("text")
        if rid is None or (isinstance(rid, str) and not rid.strip()) or isinstance(rid, (dict, list)):
            warnings.append(f"{name}:{lineno}: record has no _id; skipped")
            continue
        if not isinstance(body, str) or not body.strip():
            warnings.append(f"{name}:{lineno}: record {rid!s} has no text; skipped")
            continue
        rid = str(rid)
        if not rid.isprintable() or len(rid) > MAX_ID_CHARS:
            # the _id becomes the source name shown and cited everywhere: no control characters
            warnings.append(f"{name}:{lineno}: _id {rid[:60]!r} has control characters or is over "
                            f"{MAX_ID_CHARS} characters; record skipped")
            continue
        dups = 0
        if rid in records:
            dups = records.pop(rid)[1] + 1  # re-insert: the later record takes the later place
            replaced += 1
            warnings.append(f"{name}:{lineno}: duplicate _id {rid} replaces the earlier record")
        records[rid] = (rec, dups, canonical)
    if not records:
        raise IngestError(f"{name}: no usable records (each line needs \"_id\" and \"text\")",
                          "check the file is BEIR-style JSONL: one JSON object per line")
    docs: list[Document] = []
    for rid, (rec, dups, canonical) in records.items():
        title = rec.get("title")
        title = normalize_line(title) if isinstance(title, str) else None
        chunks = chunk_sections(record_sections(title, rec["text"]), rid)
        docs.append(Document(rid, chunks, hashlib.sha256(canonical.encode()).hexdigest(),
                             "beir", duplicates_replaced=dups))
    for w in warnings:
        log.warning("%s", w)
    return BeirResult(docs, warnings, replaced)
