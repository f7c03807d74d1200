"""Cut sections into chunks: by structure first, then by length at sentence boundaries.

A chunk never spans two sections (its ``section`` would lie), holds at most about
``MAX_WORDS`` words (the embedder reads 256 WordPiece tokens; English manual text runs about
1.4 tokens per word) and repeats the last sentence or two of its predecessor so an answer
that straddles a cut is still found whole in one chunk. A safety notice is one unbreakable
unit: the chunk that holds a notice's keyword holds its text too (up to
``NOTICE_MAX_WORDS``; longer notices are rare and get split like long sentences).

Chunk text is a verbatim slice of the cleaned section text, because answers quote from it.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterable

from nic_edge.engine.document import Chunk
from nic_edge.engine.ingest.structure import Section
from nic_edge.engine.notices import notice_spans

MAX_WORDS = 180
OVERLAP_WORDS = 40  # at most this many words (1-2 sentences) repeated from the previous chunk
OVERLAP_SENTENCES = 2
NOTICE_MAX_WORDS = 360
LONG_UNIT_OVERLAP = 20  # words shared by the windows of one over-long sentence

_BOUNDARY = re.compile(r"\n+|([.!?][\"”’)\]]*)[ \t]+(?=[^a-z\s])")
_ABBREVIATIONS = frozenset(
    "no nos fig figs e.g i.e approx etc mr mrs dr st vs pt pts qt qts para ref vol cf lb lbs "
    "oz ft in sec min max mfg dept gal cu sq cal ca al incl".split()
)
_WORDS = re.compile(r"\S+")
WORD_SCAN = 64   # characters before a full stop read for the word it ends


def _is_abbreviation(text: str, dot: int, line_start: int) -> bool:
    """Is the word before the full stop at ``dot`` an abbreviation or a list number at the start
    of its line (``line_start``)? Only the ``WORD_SCAN`` characters before the dot are looked
    at: scanning back to the line's start or the last tab for every full stop made a long line
    of sentences quadratic (a 3.5 MB one-line file spent 22 s here)."""
    lo = max(line_start, dot - WORD_SCAN)
    seg = text[lo:dot]
    k = max(seg.rfind(" "), seg.rfind("\t"))
    if k < 0 and lo > line_start:
        return False   # a token longer than WORD_SCAN: no abbreviation, no list number
    word_start = lo + k + 1
    raw = text[word_start:dot]
    word = raw.lstrip("([\"“'")
    if not word:
        return False
    if word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return True
    # "1. Fuel System Issue": a list number at the start of a line is not a sentence.
    return word.isdigit() and word_start == line_start


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line; whitespace between them belongs to neither."""
    spans: list[tuple[int, int]] = []
    start = 0
    line_start, seen = 0, 0   # the start of the line holding ``seen``, found going forward only
    for m in _BOUNDARY.finditer(text):
        if m.group(1) is not None:
            dot = m.start(1)
            nl = text.rfind("\n", seen, dot)
            line_start, seen = (nl + 1 if nl >= 0 else line_start), dot
            if text[dot] == "." and _is_abbreviation(text, dot, line_start):
                continue
            end = m.end(1)
        else:
            end = m.start()
        if text[start:end].strip():
            spans.append((start, end))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def _units(text: str) -> list[tuple[int, int, bool]]:
    """Sentences, with every safety notice merged into one unit. (start, end, is_notice)."""
    units = [(s, e, False) for s, e in sentence_spans(text)]
    for ns, ne in notice_spans(text):
        # Units are sorted and disjoint: the ones overlapping [ns, ne) are a contiguous run.
        lo = bisect.bisect_right(units, (ns, float("inf"), True)) - 1
        lo = max(lo, 0)
        if lo < len(units) and units[lo][1] <= ns:
            lo += 1
        hi = lo
        while hi < len(units) and units[hi][0] < ne:
            hi += 1
        if hi > lo:
            units[lo:hi] = [(min(units[lo][0], ns), max(units[hi - 1][1], ne), True)]
    return units


def _n_words(text: str, start: int, end: int) -> int:
    if end - start < 4096:
        return len(text[start:end].split())
    # a huge unit (a 50 MB one-line file): count without a list of every word (~55 bytes each)
    return sum(1 for _ in _WORDS.finditer(text, start, end))


def _split_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    # word bounds in two int arrays (16 bytes a word) rather than a list of tuples (~110 bytes)
    starts, ends = array("q"), array("q")
    for m in _WORDS.finditer(text, start, end):
        starts.append(m.start())
        ends.append(m.end())
    step = MAX_WORDS - LONG_UNIT_OVERLAP
    return [
        (starts[i], ends[min(i + MAX_WORDS, len(starts)) - 1])
        for i in range(0, max(len(starts) - LONG_UNIT_OVERLAP, 1), step)
    ]


def chunk_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the chunks of one section's text."""
    units: list[tuple[int, int]] = []
    for s, e, notice in _units(text):
        n_words = _n_words(text, s, e)
        if n_words > (NOTICE_MAX_WORDS if notice else MAX_WORDS):
            units.extend(_split_long(text, s, e))
        else:
            units.append((s, e))
    counts = [_n_words(text, s, e) for s, e in units]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, words = i, 0
        while j < len(units) and (j == i or words + counts[j] <= MAX_WORDS):
            words += counts[j]
            j += 1
        spans.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        back, shared = 0, 0
        while (back < OVERLAP_SENTENCES and j - back - 1 > i
               and shared + counts[j - back - 1] <= OVERLAP_WORDS):
            shared += counts[j - back - 1]
            back += 1
        i = j - back
    return spans


def chunk_sections(sections: Iterable[Section], source: str, first_ordinal: int = 0) -> list[Chunk]:
    """Chunks of all sections of one source, ordinals counting from ``first_ordinal``."""
    chunks: list[Chunk] = []
    ordinal = first_ordinal
    for section in sections:
        offsets: list[int] = []
        pos = 0
        for _page, para in section.paras:
            offsets.append(pos)
            pos += len(para) + 1
        text = "\n".join(para for _page, para in section.paras)
        for s, e in chunk_spans(text):
            body = text[s:e].strip()
            if not body:
                continue
            page = section.paras[bisect.bisect_right(offsets, s) - 1][0]
            chunks.append(Chunk(Chunk.make_id(source, ordinal), source, section.heading, page,
                                body, ordinal))
            ordinal += 1
    return chunks
