"""What ingest hands to the index: documents made of cited chunks.

A ``Chunk`` is the unit of retrieval and citation. Its ``text`` is the cleaned manual text
(OCR furniture removed, words re-joined) and is what answers quote verbatim, so nothing
downstream may rewrite it. ``section`` is the innermost heading holding the chunk and
``page`` the page it starts on (``None`` when the format has no pages): the printed page number
where the manual shows them, else counted from 1 (``Document.page_kind`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    source: str
    section: str | None
    page: int | None
    text: str
    ordinal: int  # position within its source

    @staticmethod
    def make_id(source: str, ordinal: int) -> str:
        # Stable for the same source content: ordinals come from a deterministic chunker.
        return f"{source}#{ordinal}"


@dataclass
class Document:
    source: str  # file name for files, the record ``_id`` for BEIR JSONL
    chunks: list[Chunk]
    sha256: str  # of the file bytes (JSONL: of the record's canonical JSON)
    kind: str  # "text" | "markdown" | "rst" | "asciidoc" | "html" | "pdf" | "docx" | "odt" | "beir"
    duplicates_replaced: int = 0  # earlier JSONL records with the same _id this one replaced
    # Which numbering ``Chunk.page`` uses: "printed" (read from the manual's own page headers or
    # footers) or "counted" (physical page order); None when the format has no pages.
    page_kind: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def sections(self) -> list[str]:
        """Distinct sections in reading order (for ``nic-edge manuals``)."""
        seen: dict[str, None] = {}
        for chunk in self.chunks:
            if chunk.section is not None:
                seen.setdefault(chunk.section, None)
        return list(seen)
