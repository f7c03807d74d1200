"""A quote the reader (reader.py) chose: the passage, its score and what confidence reads of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Quote:
    row: int            # the chunk to cite (holds the quote's start)
    text: str           # whitespace-normalised slice of the section text
    score: float
    section_key: tuple[str, str | None, int]
    hit_score: float    # retrieval score of the hit behind the section
    hit_cosine: float | None
    hit_rank: int
    head_lead: bool = False  # its heading is the candidates' closest in meaning to the question
    head_cos: float = 0.0    # that heading's cosine to the question (0 without a heading vector)
    asked_in: str = ""       # the question line right before the quote, if any (a FAQ entry)
    closest: bool = False    # its section holds the index's closest chunk in meaning (tools: explain)
    header: str = ""         # the header row of the table the quote starts in, below it (tables.table_header)
    header_row: int = -1     # the chunk that holds that header (its citation)
    shown: str = ""          # what is quoted when not ``text``: the rows of a table or the records of
    shown_row: int = -1      # a list the question names by their key ("E-21"; tables.keyed_span, keyed_lines)
    meaning: float | None = None  # the window's own cosine to the question, when read for it (rerank.py)
    opening: str = ""      # what rerank embeds: the first words of the paragraph it starts in (rerank.opening)
    promoted: bool = False   # meaning put it first over a candidate the words preferred (rerank.py)

    @property
    def lead(self) -> str:
        """Its heading and the question line before it: what names the case it answers (polarity.clash)."""
        return f"{self.section_key[1] or ''}. {self.asked_in}"
