"""Meaning decides between the reader's close candidates (reader-30).

The reader scores each candidate section's best window by the question's words, the section's
chunk vectors and its heading's (reader.py). When two windows score close, the words often
favour the wrong one: a paraphrase shares words with a neighbouring topic ("dirty marks on the
reverse side of my printouts" -- "Smudged or Smeared Prints" holds "marks" and "side", "Paper
Guide Cleaning" says "If the back of printed pages has ink marks"). The window itself, as a
technician would read it, is what the question should mean. So the windows within ``MARGIN`` of
the best are embedded with the same int8 model as the question (their first ``WORDS`` words:
where a window says what it is about, and a bounded cost) and gain ``WEIGHT`` x their cosine to
the question. Only questions with two or more close candidates pay for it (about half; one
embedding per candidate); a lexical engine (no model) keeps the word order.

Each window costs one embedding of about 110 tokens (about 9 ms on an x86 core with VNNI, an
estimated 150 ms on a Pi Zero 2 W), so it is a tier setting: on for standard and full boxes,
off for ultra_lite and lite (``rerank`` in config/tiers.toml), and ``engine.rerank`` (auto / on /
off) overrides it.

Chosen on the eleven answer sets' candidate windows (docs/benchmarks/answers.md, "Twenty-fifth
session"): the window's own text (not its heading prepended, not 24 or 48 words) and a margin
that admits the runner-up but not the whole list.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np

from nic_edge.engine.answer import QUESTION_FILLER
from nic_edge.engine.bm25 import analyze
from nic_edge.engine.codes import CODE
from nic_edge.engine.polarity import clash
from nic_edge.errors import MissingDependencyError, ModelError

log = logging.getLogger(__name__)

RERANK = True     # a module switch for the evaluation tools
MARGIN = 0.6      # candidates within this of the best window's score are read for meaning
WEIGHT = 5.0      # per unit of cosine between question and window
CANDIDATES = 3    # at most this many of the best: a bound on the cost (3 x ~9 ms here)
WORDS = 96        # of each window's words are embedded (about 110 tokens)

Embed = Callable[[str], np.ndarray]


def enabled(engine_cfg: Any, profile: Any) -> bool:
    """``engine.rerank`` when on or off, else the tier's (off without a tier profile)."""
    choice = getattr(engine_cfg, "rerank", "auto")
    return choice == "on" if choice in ("on", "off") else bool(getattr(profile, "rerank", False))


def rerank(cands: list[Any], qvec: np.ndarray | None, embed: Embed | None, question: str = "",
           q_terms: Sequence[str] = ()) -> int:
    """Re-sort ``cands`` (quotes, best first, each with ``text`` and ``score``) in place by
    score plus ``WEIGHT`` x cosine for those within ``MARGIN`` of the best. Returns how many
    windows were embedded (0 when nothing was close, or without a model).

    What the model does not read is left to the words: a code the question names ("The display
    shows E10") held by the best window keeps it first (a sentence vector barely sees "E10"), and
    meaning never puts first a candidate whose heading or question line says the opposite of the
    question about what is missing ("Picture is good but there is no sound" for "Sound works but
    the screen is black": alike in meaning, opposite in fact; polarity.clash)."""
    if not RERANK or qvec is None or embed is None or len(cands) < 2:
        return 0
    codes = {t for t in q_terms if CODE.match(t)}
    if codes and not codes.isdisjoint(analyze(cands[0].text)):
        return 0
    close = [q for q in cands[:CANDIDATES] if q.score >= cands[0].score - MARGIN]
    if len(close) < 2:
        return 0
    q = np.asarray(qvec, dtype=np.float32)
    try:
        meanings = [float(np.dot(embed(head(c.text, WORDS)), q)) for c in close]
    except (MissingDependencyError, ModelError) as exc:   # the model failed mid-answer
        log.warning("rerank skipped, the words' order stands: %s", exc)
        return 0
    for c, m in zip(close, meanings):
        c.meaning = m
    first = cands[0]
    top = max(close, key=lambda c: c.score + WEIGHT * c.meaning)
    if top is not first and question and clash(question, top.lead, QUESTION_FILLER):
        return len(close)   # the words' order stands
    for c in close:
        c.score += WEIGHT * c.meaning
    cands.sort(key=lambda c: -c.score)
    cands[0].promoted = cands[0] is not first
    return len(close)


def head(text: str, words: int) -> str:
    """The first ``words`` words of ``text``."""
    parts = text.split()
    return text if len(parts) <= words else " ".join(parts[:words])
