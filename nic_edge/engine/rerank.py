"""Meaning decides between the reader's close candidates (reader-30).

The reader scores each candidate section's best window by the question's words, the section's
chunk vectors and its heading's (reader.py). When two windows score close, the words often
favour the wrong one: a paraphrase shares words with a neighbouring topic ("dirty marks on the
reverse side of my printouts" -- "Smudged or Smeared Prints" holds "marks" and "side", "Paper
Guide Cleaning" says "If the back of printed pages has ink marks"). The window itself, as a
technician would read it, is what the question should mean. So the windows within ``MARGIN`` of
the best are read for meaning with the same int8 model as the question and gain ``WEIGHT`` x
their cosine to the question; a lexical engine (no model) keeps the words' order.

Each window is read by the meaning of its *opening*: the first ``WORDS`` words from the start
of the paragraph, list item or table row it starts in (``window_opening``), read on to the end
of the section. That text is the manual's, not the question's, so a box that reranks embeds
every opening once, when it indexes (engine/openings.py, index format 5), and an answer looks
its candidates' vectors up (``Openings``): one ~110-token embedding each would be
about 9 ms on an x86 core with VNNI and ~250-400 ms on a Pi 4. An opening the index lacks (an
index built before, or by a box that did not rerank) is embedded then. The price is indexing
time, so rerank stays a tier setting: on for standard and full boxes, off for ultra_lite and
lite (``rerank`` in config/tiers.toml), and ``engine.rerank`` (auto / on / off) overrides it.

Chosen on the eleven answer sets' candidate windows (docs/benchmarks/answers.md, "Twenty-fifth
session"): the window's own text (not its heading prepended, not 24 or 48 words) and a margin
that admits the runner-up but not the whole list. The opening instead of the window's own
first words answers the same 292 of 651 ("Twenty-sixth session"); openings of paragraphs alone,
without items and rows, lost the windows that start at a step or a table row.

A box that does not rerank still has a vector for every chunk, and retrieval has already worked
out each chunk's cosine to the question (``Retrieval.cosines``). So there, each close window is
read by the meaning of the chunk it starts in (reader-40, ``CHUNKS``): the same margin, weight
and guards, the chunk's vector standing in for the opening's. A chunk is coarser than an
opening (it may start paragraphs before the window and hold other topics), so a window it puts
first does not count as agreement for confidence (``promoted`` stays False: a choice against
retrieval's ranking stays doubt, answer.py ``q_rank``). It costs a lookup per candidate; on
the lite tier's eleven answer sets useful went 284 -> 289 of 651, wrong-confident 37 -> 38
(docs/benchmarks/answers.md, "Forty-second session").

The stored openings also say where in the chosen window the answer starts (``later_start``,
reader-41): a window chosen by its words starts where its section does when the heading names
the question, and the answer may sit in its fourth step or the caution after the list. Standard
tier, eleven sets: useful 299 -> 304 of 651, the appliance checks unchanged.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from typing import Any, Callable, Sequence

import numpy as np

from nic_edge.engine.answer import QUESTION_FILLER
from nic_edge.engine.bm25 import analyze
from nic_edge.engine.codes import CODE
from nic_edge.engine.polarity import clash
from nic_edge.engine.snapshot import opening_key
from nic_edge.engine.units import SENTENCE_END, clean_quote
from nic_edge.errors import MissingDependencyError, ModelError

log = logging.getLogger(__name__)

RERANK = True     # a module switch for the evaluation tools
CHUNKS = True     # ... and for reading windows by their chunk's vector where no opening vectors are read
TRIM = True       # ... and for starting a quote at a later paragraph that means the question more
TRIM_MARGIN = 0.1   # (by this much cosine over the window's own opening: later_start)
MARGIN = 1.0      # candidates within this of the best window's score are read for meaning
WEIGHT = 5.0      # per unit of cosine between question and window
CANDIDATES = 8    # at most this many of the best (in practice: every window the reader read)
EMBEDDED = 3      # at most this many openings the index lacks are embedded per answer (~9 ms each)
WORDS = 96        # of each window's words are embedded (about 110 tokens)
OPENING_CHARS = 3000  # of section text read for an opening (WORDS words fit many times over)

Embed = Callable[[str], "np.ndarray | None"]


def enabled(engine_cfg: Any, profile: Any) -> bool:
    """``engine.rerank`` when on or off, else the tier's (off without a tier profile)."""
    choice = getattr(engine_cfg, "rerank", "auto")
    return choice == "on" if choice in ("on", "off") else bool(getattr(profile, "rerank", False))


def rerank(cands: list[Any], qvec: np.ndarray | None, embed: Embed | None, question: str = "",
           q_terms: Sequence[str] = (), cosines: np.ndarray | None = None) -> int:
    """Re-sort ``cands`` (quotes, best first, each with ``text``, ``score`` and ``row``) in place
    by score plus ``WEIGHT`` x cosine for those within ``MARGIN`` of the best. Returns how many
    windows were read for meaning (0 when nothing was close, or without a model).

    The cosine is the window opening's (``embed``); without ``embed``, the cosine of the chunk
    each window starts in (``cosines``: every chunk's, by row), when ``CHUNKS``.

    What the model does not read is left to the words: a code the question names ("The display
    shows E10") held by the best window keeps it first (a sentence vector barely sees "E10"), and
    meaning never puts first a candidate whose heading or question line says the opposite of the
    question about what is missing ("Picture is good but there is no sound" for "Sound works but
    the screen is black": alike in meaning, opposite in fact; polarity.clash)."""
    by_chunk = embed is None and cosines is not None and CHUNKS
    if not RERANK or len(cands) < 2 or not (by_chunk or (qvec is not None and embed is not None)):
        return 0
    codes = {t for t in q_terms if CODE.match(t)}
    if codes and not codes.isdisjoint(analyze(cands[0].text)):
        return 0
    close = [q for q in cands[:CANDIDATES] if q.score >= cands[0].score - MARGIN]
    if len(close) < 2:
        return 0
    if by_chunk:
        read = [(c, float(cosines[c.row])) for c in close]
    else:
        q = np.asarray(qvec, dtype=np.float32)
        try:
            vecs = [embed(c.opening or head(c.text, WORDS)) for c in close]
        except (MissingDependencyError, ModelError) as exc:   # the model failed mid-answer
            log.warning("rerank skipped, the words' order stands: %s", exc)
            return 0
        # a candidate whose opening was neither stored nor embedded (Openings' budget) keeps its score
        read = [(c, float(np.dot(v, q))) for c, v in zip(close, vecs) if v is not None]
    if len(read) < 2 or read[0][0] is not cands[0]:
        return 0
    for c, m in read:
        c.meaning = m
    close = [c for c, _ in read]
    first = cands[0]
    top = max(close, key=lambda c: c.score + WEIGHT * c.meaning)
    if top is not first and question and clash(question, top.lead, QUESTION_FILLER):
        return len(close)   # the words' order stands
    for c in close:
        c.score += WEIGHT * c.meaning
    cands.sort(key=lambda c: -c.score)
    cands[0].promoted = cands[0] is not first and not by_chunk   # (a chunk's vector is no window's)
    return len(close)


def head(text: str, words: int) -> str:
    """The first ``words`` words of ``text``."""
    parts = text.split()
    return text if len(parts) <= words else " ".join(parts[:words])


_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_ROW = re.compile(r"(?m)^[ \t]*(\|)")
_ITEM = re.compile(r"(?m)^[ \t]*((?:[-*\u2022\u25cf\u25aa]|\(?\d{1,2}[.)]|\(?[a-z][.)]|Step\s+\d+)\s)")


def opening(text: str, start: int) -> str:
    """What rerank embeds for a window that starts in the paragraph beginning at ``start`` of
    a section's ``text``: its first ``WORDS`` words, whitespace normalised as quotes are."""
    return " ".join(clean_quote(text[start:start + OPENING_CHARS]).split()[:WORDS])


def paragraph_starts(text: str) -> list[int]:
    """Offsets where a paragraph of a section's text starts: the start, after each blank line,
    each list item or step (a window may start at the step that answers: "4. The fan restarts
    after 30 seconds ... A defrost normally lasts 3 to 6 minutes."), and each table row (a
    table's rows are records of their own: "| Brakes squeal | ... |" is about squealing brakes,
    whatever the rows above it are about). The section texts the reader reads (sections.py)
    hold no blank lines -- none in the bench corpus or the evaluation manuals -- so in practice
    an opening starts at the section's start, a list item or a table row; that is the rule the
    answer sets measured (docs/benchmarks/answers.md, "Twenty-seventh session")."""
    out = [len(text) - len(text.lstrip())]
    out += [m.end() for m in _PARAGRAPH.finditer(text) if m.end() < len(text)]
    if "|" in text:
        out += [m.start(1) for m in _ROW.finditer(text)]
    out += [m.start(1) for m in _ITEM.finditer(text)]
    return sorted(set(out))


class Openings:
    """An answer's ``embed`` for rerank: the index's vector of an opening when it holds one
    (format 5), else the model's -- for at most ``EMBEDDED`` openings per answer (an index
    built without them costs what reader-30 cost, no more); past that, None."""

    def __init__(self, snap: Any, embedder: Any) -> None:
        self.snap, self.embedder, self.embedded = snap, embedder, 0

    def __call__(self, text: str) -> np.ndarray | None:
        v = self.snap.opening_vector(text)
        if v is not None:
            return v
        if self.embedded >= EMBEDDED:
            return None
        self.embedded += 1
        return self.embedder.embed(text)


def later_start(snap: Any, text: str, units: Sequence[Any], i: int, j: int, qvec: np.ndarray,
                procedure: bool = False, own: str = "") -> int:
    """The unit a quote of ``units[i..j]`` (of a section's ``text``) starts at: ``i``, or the
    start of a later paragraph of the window (a list item, a table row) whose stored opening
    (``snap.opening_vector``) means the question (``qvec``) more than the window's own opening
    by over ``TRIM_MARGIN``, the best such -- unless that start is inside a sentence. For a
    question that asks how to do something (``procedure``) a start inside a numbered procedure
    moves back to its first step (and the lead-in before it): "How do I clean the filter?" is
    answered from "1. Switch off the dehumidifier and unplug it.", not from the step whose
    words mean cleaning most.

    A window is chosen by its words, and a heading that names the question makes its whole body
    relevant, so the window starts at the section's start; where in that body the answer sits,
    the openings' meaning tells ("Can I jet wash the fins?": the cleaning procedure's steps, then
    "CAUTION: Do not use a pressure washer ..."; reader-41). Openings the index lacks are not
    embedded for this: such a start is not considered. ``own``: the window's opening
    (``window_opening``), when the caller has it already."""
    if not TRIM:
        return i
    a, b = units[i].a, units[j].b
    q = np.asarray(qvec, dtype=np.float32)

    def meaning(opened: str) -> float | None:
        v = snap.opening_vector(opened)
        return None if v is None else float(np.dot(v, q))
    base = meaning(own or window_opening(text, a))
    if base is None:
        return i
    best_at, best = -1, base + TRIM_MARGIN
    for at in paragraph_starts(text):
        if a < at < b:
            m = meaning(opening(text, at))
            if m is not None and m > best:
                best_at, best = at, m
    first = next((x for x in range(i, j + 1) if units[x].a >= best_at), i) if best_at >= 0 else i
    if first == i:
        return i
    before = text[units[first - 1].a:units[first - 1].b].rstrip()
    if not (units[first].item or units[first - 1].lead_in or SENTENCE_END.search(before) or before.endswith(":")):
        return i   # never inside a sentence: "| explosion. Weakness in a valve spring ..." (an OCR'd bar)
    if procedure and units[first].number > 1:
        step = first
        while step > i and units[step].number != 1:
            step -= 1
        if units[step].number == 1:
            first = step - 1 if step > i and units[step - 1].lead_in else step
    return first


def window_opening(text: str, a: int) -> str:
    """The opening of the paragraph of ``text`` that holds offset ``a`` (a window's start)."""
    starts = paragraph_starts(text)
    k = bisect_right(starts, a) - 1
    return opening(text, starts[k] if k >= 0 else a)


def opening_texts(sections: Any) -> dict[int, str]:
    """opening_key -> opening for every paragraph of every section text in ``sections`` (an iterable of
    section texts as the reader reads them)."""
    out: dict[int, str] = {}
    for text in sections:
        for a in paragraph_starts(text):
            t = opening(text, a)
            if t:
                out.setdefault(opening_key(t), t)
    return out
