"""Synthetic questions for per-index calibration: answerable ones made from the indexed manuals,
unanswerable ones drawn from a bundled pool.

Answerable questions are phrased as a technician asks, not as the manual writes: "How do I
<verb> the <part>?", "What is the <quantity> of the <part>?", "What does the <part> do?", or a
few keywords in an order of their own. No question copies 4 consecutive words of the passage it
was made from (``copies_run``): a question that quotes its passage scores higher than any real
question would and would make the calibration optimistic.

Everything is deterministic for a given index: the random generator is seeded from the
index content (``content_seed``), so re-indexing the same manuals gives the same questions.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from nic_edge.engine.bm25 import STOPWORDS, analyze

RUN = 4                      # a question never shares this many consecutive words with its passage
POOL_FILE = "unanswerable_questions.txt"
MANUALS_FILE = "other_manual_questions.txt"
_WORD = re.compile(r"[a-z0-9']+")
_ALPHA = re.compile(r"[A-Za-z][a-z]{3,13}")   # a plain word (not OCR debris, not a part number)

# Work a technician does on equipment: the verbs of "How do I ...?" questions.
VERBS = frozenset("""
adjust replace remove install check clean tighten loosen inspect lubricate drain fill refill start
stop connect disconnect test reset charge align bleed grease oil flush mount dismount assemble
disassemble repair calibrate measure release lock unlock open close lower raise engage disengage
operate service change set prime seal attach detach secure clear wash cool heat tune time
""".split())
# Words that open lines of procedures and tables without naming a thing: step verbs and the
# manual's own structure words.
NOT_THINGS = frozenset("""
observe listen wait run add allow use ensure verify make turn apply perform note see refer place
keep follow repeat continue avoid do step steps notice table figure specification specifications
parameter parameters symptom symptoms cause causes normal additional position section paragraph
""".split())
# What people ask a figure of: "What is the <quantity> of the <part>?".
QUANTITIES = frozenset("""
pressure capacity gap clearance torque voltage temperature speed weight size level setting
tension thickness width length diameter current resistance frequency ratio rate depth height
""".split())
_UNIT = re.compile(r"\b\d+(?:[.,]\d+)?\s*(?:psi|kpa|bar|lb|lbs|pounds?|ft|feet|inch(?:es)?|in|mm|cm|m|"
                   r"volts?|v|amps?|a|ohms?|rpm|mph|km/h|gal(?:lons?)?|quarts?|qt|pints?|liters?|l|"
                   r"degrees?|°[cf]?|kg|g|oz|percent|%)\b", re.I)

HOW = ("How do I {v} the {n}?", "What's the right way to {v} the {n}?", "how to {v} {n}",
       "Steps to {v} the {n}?", "Can you tell me how I {v} the {n}?")
WHAT_Q = ("What is the {q} of the {n}?", "What {q} should the {n} have?", "{n} {q}?",
          "Which {q} do I need for the {n}?")
WHAT_PART = ("What does the {n} do?", "What is the {n} for?", "Tell me about the {n}.",
             "Where is the {n}?")
KEYWORDS = ("{k}?", "{k}", "question about {k}", "info on {k} please", "anything on {k}?")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def copies_run(question: str, passage: str, n: int = RUN) -> bool:
    """True when ``question`` has ``n`` consecutive words that stand together in ``passage``
    (case and punctuation ignored)."""
    q = words(question)
    if len(q) < n:
        return False
    p = words(passage)
    grams = {tuple(p[i:i + n]) for i in range(len(p) - n + 1)}
    return any(tuple(q[i:i + n]) in grams for i in range(len(q) - n + 1))


def content_seed(snap: Any) -> int:
    """A seed that changes with the index content and nothing else."""
    h = hashlib.sha256()
    # File names and hashes, not paths: the same manuals give the same seed on any box.
    for key, info in sorted(snap.file_info().items(), key=lambda kv: (Path(kv[0]).name, str(kv[1].get("sha256")))):
        h.update(f"{Path(key).name}\0{info.get('sha256')}\0{info.get('chunks')}\n".encode("utf-8", "replace"))
    h.update(str(snap.n).encode())
    return int.from_bytes(h.digest()[:8], "big")


class _Vocab:
    """Which surface words are distinctive in this index (IDF from the index's own BM25)."""

    def __init__(self, snap: Any) -> None:
        self.bm = snap.bm25
        self.n = max(1, snap.n)

    def df(self, word: str) -> int:
        terms = analyze(word)
        if not terms:
            return 0
        tid = self.bm.vocab.get(terms[0])
        return 0 if tid is None else int(self.bm.df[tid])

    def good(self, word: str) -> bool:
        # A word of at least two chunks (one-off words are often OCR debris) and not in most
        # of them (those say nothing about where the answer is). Not "a third": a small,
        # focused manual (nic_qa's 49-chunk vehicle manual) has "engine" in half its chunks,
        # and a third left it no questions at all.
        d = self.df(word)
        return d >= 2 and d <= max(2, (3 * self.n) // 5)

    def idf(self, word: str) -> float:
        terms = analyze(word)
        return self.bm.term_idf(terms[0]) if terms else 0.0


_NP = re.compile(r"\b(?:the|a|an|this|each|your|its|their|both)\s+((?:[a-z][a-z-]{2,}\s+){0,2}[a-z][a-z-]{2,})\b")


_LINE_NP = re.compile(r"^[ \t]*(?:[-*\u2022]|\(?\d{1,2}[.)])?[ \t]*((?:[a-z][a-z-]{2,}[ \t]+){0,2}[a-z][a-z-]{2,})\b",
                      re.M)


def noun_phrases(passage: str, vocab: _Vocab) -> list[tuple[int, str]]:
    """(word position, phrase) of the things a passage talks about: what follows an article
    or determiner up to the next function word ("remove the carburetor float" -> "carburetor
    float"). Plain English manuals name parts that way; no tagger needed."""
    low = passage.lower()
    out: list[tuple[int, str]] = []
    # Terse manuals write lists and tables without articles ("Clogged fuel filter (service
    # life ...)"): the words opening a line name a thing too.
    for m in [*_NP.finditer(low), *_LINE_NP.finditer(low)]:
        ws: list[str] = []
        for w in m.group(1).split():
            if (w in STOPWORDS or w in VERBS or w in NOT_THINGS or w.endswith(("ly", "ing"))
                    or not vocab.good(w)):
                break
            ws.append(w)
        if ws:
            out.append((len(words(low[:m.start(1)])), " ".join(ws[-2:])))
    out.sort()
    return out


def _candidates(passage: str, vocab: _Vocab, rng: random.Random) -> list[str]:
    tokens = words(passage)
    nps = noun_phrases(passage, vocab)
    if not nps:
        return []
    # Ties broken by the word: set order changes with PYTHONHASHSEED, the questions must not.
    heads = sorted({np.split()[-1] for _, np in nps}, key=lambda w: (-vocab.idf(w), w))
    out: list[str] = []
    # "How do I <verb> the <thing>?": a work verb followed within two words by a noun phrase.
    how = [(tokens[i], np) for pos, np in nps for i in range(max(0, pos - 2), pos + 1)
           if i < len(tokens) and tokens[i] in VERBS]
    if how:
        v, np = rng.choice(how)
        out.append(rng.choice(HOW).format(v=v, n=np))
    quants = [i for i, w in enumerate(tokens) if w.rstrip("s") in QUANTITIES]
    if quants and _UNIT.search(passage):
        i = rng.choice(quants)
        near = [np for pos, np in nps if abs(pos - i) <= 8 and np.split()[-1].rstrip("s") not in QUANTITIES]
        if near:
            out.append(rng.choice(WHAT_Q).format(q=tokens[i].rstrip("s"), n=rng.choice(near)))
    counts: dict[str, int] = {}
    for _, np in nps:
        counts[np] = counts.get(np, 0) + 1
    repeated = [np for np, c in counts.items() if c >= 2]
    if repeated:
        out.append(rng.choice(WHAT_PART).format(n=rng.choice(sorted(repeated))))
    if len(heads) >= 2:
        picked = rng.sample(heads[:6], min(len(heads[:6]), rng.randint(2, 3)))
        out.append(rng.choice(KEYWORDS).format(k=" ".join(picked)))
    rng.shuffle(out)
    return out


def answerable(snap: Any, limit: int, seed: int, per_chunk: int = 3) -> list[tuple[str, int]]:
    """Up to ``limit`` (question, row) pairs, each asked about the chunk at ``row``.

    Chunks are visited in a seeded random order; a large index gives one question per chunk,
    a small one up to ``per_chunk`` of different kinds."""
    if snap.n == 0 or limit <= 0:
        return []
    rng = random.Random(seed)
    vocab = _Vocab(snap)
    rows = list(range(snap.n))
    rng.shuffle(rows)
    rows = rows[: limit * 3]
    take = 1 if len(rows) >= limit else per_chunk
    seen: set[str] = set()
    out: list[tuple[str, int]] = []
    for row in rows:
        section = snap.section(row) or ""
        passage = section + "\n" + snap.text(row)
        made = 0
        for q in _candidates(passage, vocab, rng):
            key = " ".join(words(q))
            if key in seen or len(analyze(q)) < 1 or copies_run(q, passage):
                continue
            seen.add(key)
            out.append((q, row))
            made += 1
            if made >= take or len(out) >= limit:
                break
        if len(out) >= limit:
            break
    return out


@dataclass(frozen=True)
class Pool:
    questions: list[tuple[frozenset[str], str]]   # (topic keywords, question)
    parts: list[str]                              # things of other equipment
    manuals: list[tuple[str, str, str]] = ()      # (manual file name, its sha256, question)


def load_pool(text: str | None = None, manuals: str | None = None) -> Pool:
    """The bundled pool (or ``text``): ``# topic: word, word`` lines, each followed by that
    topic's questions, then a ``# parts:`` line followed by comma-separated part names; and
    the questions about other manuals (``manuals``: ``# manual: NAME sha256=HEX`` lines, each
    followed by questions generated from that manual by tools/gen_pool_questions.py)."""
    data = resources.files("nic_edge.data")
    if text is None:
        text = data.joinpath(POOL_FILE).read_text("utf-8")
    if manuals is None:
        manuals = data.joinpath(MANUALS_FILE).read_text("utf-8")
    by_manual: list[tuple[str, str, str]] = []
    name = sha = ""
    for line in manuals.splitlines():
        line = line.strip()
        if line.startswith("# manual:"):
            name, _, sha = line[9:].strip().partition(" sha256=")
        elif line and not line.startswith("#") and name:
            by_manual.append((name, sha, line))
    questions: list[tuple[frozenset[str], str]] = []
    parts: list[str] = []
    topic: frozenset[str] = frozenset()
    in_parts = False
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("# topic:"):
            topic, in_parts = frozenset(w.strip().lower() for w in line[8:].split(",") if w.strip()), False
        elif line.startswith("# parts:"):
            in_parts = True
        elif line.startswith("#"):
            continue
        elif in_parts:
            parts.extend(x.strip().lower() for x in line.split(",") if x.strip())
        else:
            questions.append((topic, line))
    return Pool(questions, parts, by_manual)


def foreign_parts(snap: Any, pool: Pool) -> list[str]:
    """Pool parts this index does not know: the last word (what the part is) never occurs."""
    vocab = _Vocab(snap)
    return [p for p in pool.parts if vocab.df(p.split()[-1]) == 0]


def unanswerable(snap: Any, limit: int, seed: int, pool: Pool | None = None) -> list[str]:
    """Up to ``limit`` questions the index should not answer, three kinds:

    * technician questions about parts of other equipment ("How do I bleed the fuel
      injector?" asked of a 1919 car manual): worded like the answerable ones, sharing the
      manual's verbs and quantities, so the threshold is set against questions about another
      product and not only against small talk -- on a held-out manual, calibrating on small
      talk alone dropped the threshold to its floor and answered questions about other
      vehicles;
    * pool questions (other products, other domains, small talk), minus the topics this
      index is about: a pool topic whose keywords are common in the index (a printer manual
      makes printer questions answerable) is left out.
    * questions generated (as the answerable ones are) from other, public-domain manuals --
      the closest stand-in for "a question about another product" -- minus the manuals that
      are in this index (same file name or same sha256).
    Half are about other manuals, a quarter about unknown parts, a quarter general."""
    pool = load_pool() if pool is None else pool
    rng = random.Random(seed ^ 0x5EED)
    vocab = _Vocab(snap)
    floor = max(3, snap.n // 200)
    excluded: dict[frozenset[str], bool] = {}
    general = []
    for topic, q in pool.questions:
        if topic not in excluded:
            excluded[topic] = any(vocab.df(w) >= floor for w in topic)
        if not excluded[topic]:
            general.append(q)
    rng.shuffle(general)
    info = snap.file_info()
    present = {Path(f).name.lower() for f in info} | {str(v.get("sha256")) for v in info.values()}
    present |= {str(r).lower() for v in info.values() for r in (v.get("records") or {})}
    others = [q for name, sha, q in pool.manuals if name.lower() not in present and sha not in present]
    rng.shuffle(others)
    others = others[: limit // 2]
    parts = foreign_parts(snap, pool)
    technical: list[str] = []
    seen: set[str] = set()
    verbs = sorted(VERBS)
    for _ in range(4 * limit):
        if not parts or len(technical) >= (limit - len(others)) // 2:
            break
        part = rng.choice(parts)
        kind = rng.randrange(4)
        if kind == 0:
            q = rng.choice(HOW).format(v=rng.choice(verbs), n=part)
        elif kind == 1:
            q = rng.choice(WHAT_Q).format(q=rng.choice(sorted(QUANTITIES)), n=part)
        elif kind == 2:
            q = rng.choice(WHAT_PART).format(n=part)
        else:
            q = rng.choice(KEYWORDS).format(k=part)
        if q not in seen:
            seen.add(q)
            technical.append(q)
    out = others + technical + general[: limit - len(technical) - len(others)]
    rng.shuffle(out)
    return out
