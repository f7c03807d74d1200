"""A quote the reader (reader.py) chose: the passage, its score and what confidence reads of it;
and the section after it, when the quote ends on a lead-in to it (``continued``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nic_edge.engine.sections import SectionText, section_text
from nic_edge.engine.store import Snapshot
from nic_edge.engine.units import clean_quote


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
    after: list[tuple[str, int]] = field(default_factory=list)  # (text, chunk) quoted after it: the
    # rows the question names in a table the quote runs into (tables.rows_beyond)
    meaning: float | None = None  # the window's own cosine to the question, when read for it (rerank.py)
    opening: str = ""      # what rerank embeds: the first words of the paragraph it starts in (rerank.opening)
    promoted: bool = False   # its opening's meaning put it first over the words' choice (rerank.py)

    @property
    def lead(self) -> str:
        """Its heading and the question line before it: what names the case it answers (polarity.clash)."""
        return f"{self.section_key[1] or ''}. {self.asked_in}"


# reader-32: a quote that ends its section on a lead-in goes on into the next section. A
# documentation site splits a how-to into a short section that introduces its subsections ("To
# find the local IP of your Raspberry Pi, use one of the following methods.") and one subsection
# per method; the reader quotes sections, so the answer named the methods and gave none -- the
# lead-in without what it introduces (issue 15). A line ending in ":", "as follows", "below", or
# "the following" and at most three words ("the following methods."), introduces what follows;
# "(see below) is ON" and "when any tank is below the lower line." do not. The next section of
# the same file is quoted from its start, its first sentences up to CONTINUE_WORDS words --
# unless its heading asks a question of its own (a Q&A manual's next entry is no item of this one).
LEAD_IN = re.compile(r"(?::|\b(?:the following(?:\s+\w+){0,3}|as follows|below)[.:]?)\s*$", re.I)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?:])\s+")
CONTINUE_WORDS = 30   # sentences are taken until this many words ...
CONTINUE_MAX = 60     # ... and the continuation is left out when that makes more than this


def continued(snap: Snapshot, quotes: list[Quote], window: tuple[SectionText, list[Any], int, int],
              rows: int) -> list[Quote]:
    """``quotes``, or the first with the next section's opening after it (in place of a second
    quote) when the first ends its section on a lead-in. ``window``: the section text, units and
    first and last unit the reader cut the first quote from; ``rows``: its section window."""
    st, units, _first_unit, last_unit = window
    first = quotes[0]
    if st.text[units[last_unit].b:].strip() \
            or not LEAD_IN.search(_SENTENCE_BREAK.split(" ".join(first.text.split()))[-1]):
        return quotes   # (most answers: nothing more to read)
    last = st.rows[-1]
    nxt = last + 1
    if nxt >= snap.n or snap.file(nxt) != snap.file(last) or snap.source(nxt) != snap.source(last) \
            or snap.section(nxt) == snap.section(last) or snap.ordinal(nxt) != snap.ordinal(last) + 1 \
            or (snap.section(nxt) or "").rstrip().endswith("?"):
        return quotes
    after = section_text(snap, nxt, rows)
    text = after.text.strip()
    end = words = 0
    for sentence in _SENTENCE_BREAK.split(text):
        end = text.index(sentence, end) + len(sentence)
        words += len(sentence.split())
        if words >= CONTINUE_WORDS:
            break
    opening = clean_quote(text[:end])
    if not opening or len(opening.split()) > CONTINUE_MAX:
        return quotes
    key = (after.source, after.section, after.rows[0])
    return [first, Quote(after.rows[0], opening, first.score, key, 0.0, None, first.hit_rank)]
