"""An asker's word the manual never uses, read as the manual's word for the same thing.

Owners ask in everyday words ("guarantee", "tyre", "reboot"); a manual uses its own
("warranty", "tire", "restart"). A word no chunk of the index contains adds nothing to BM25
and counts as missing content in the reader's coverage and the confidence features, so a fair
question in other words is scored as if it asked about something the manual lacks.

``nic_edge/data/synonyms.txt`` holds groups of interchangeable words (one group per line,
written from general English by a writer who saw no manual or evaluation set:
docs/benchmarks/answers.md, "Thirteenth session"). ``swap`` replaces a query term that the
index's vocabulary does not hold by the group member the index uses most (highest document
frequency); failing that, a solid compound by the two words the index writes side by side
("wifi" for "Wi-Fi"). An owner's adjective in -y ("squeaky", "leaky", "noisy") is first read as
the word it is made from, when the index or the list knows that word (``adjective_base``). A
term the index holds is never touched: the manual's own word is the best
evidence of what it is about, and adding near-synonyms beside it would let a question match
sections about other things (the reader does count a group-mate written in a passage at part of
the word's weight, ``reader.MATE_CREDIT``, when choosing what to quote). The question's raw text (the query vector, amount and polarity
checks) is unchanged. The confidence counts the terms put in at part of their weight
(answer.SWAP_CREDIT).

A list that cannot be read (a damaged install) is logged once and the engine answers without
it, as before this module existed. An integrator adds groups for a product's own words in a file
of the same format named by ``engine.words_file`` (``groups``); ``nic-edge check-config`` reads
it, provisioning copies it onto the card and backups keep it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nic_edge.core.resources import data_file
from nic_edge.engine.bm25 import STOPWORDS, stem

log = logging.getLogger(__name__)
_WORD = re.compile(r"^[a-z]+$")
_MAP: dict[str, tuple[str, ...]] | None = None
_DIGEST = ""


def _load() -> dict[str, tuple[str, ...]]:
    global _MAP, _DIGEST
    if _MAP is None:
        path = data_file("synonyms.txt")
        try:
            _MAP, _DIGEST = read_groups(path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("word list %s unusable, answering without it: %s", path, exc)
            _MAP, _DIGEST = {}, "none"
    return _MAP


def parse(text: str) -> dict[str, tuple[str, ...]]:
    """stem -> the other stems of its group (a stem in two groups gets both groups' members)."""
    out: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        bad = [w for w in words if not _WORD.match(w)]
        if bad or len(words) < 2:
            raise ValueError(f"line {n}: a group is two or more lowercase words (letters only), got {line!r}")
        stems = list(dict.fromkeys(stem(w) for w in words))
        for s in stems:
            have = out.setdefault(s, [])
            have.extend(o for o in stems if o != s and o not in have)
    return {s: tuple(o) for s, o in out.items() if o}


ADJECTIVE_Y = True
MIN_BASE = 4
# endings of nouns and other words in -y, not adjectives made from a word: "battery", "memory",
# "summary", "identity", "policy", "energy", "warranty", "entry", "key", "display", "convoy"
_NOT_ADJECTIVE = ("ey", "ay", "oy", "uy", "ery", "ory", "ary", "ity", "cy", "gy", "phy", "try", "nty")
SPLIT_COMPOUNDS = True
MIN_PART = 2
COMPOUND_PROBE = 64   # chunks holding both parts searched for them written side by side

# apart(a, b, sa, sb): does the index write ``a`` and ``b`` side by side ("Wi-Fi", "anti-freeze")?
Apart = Callable[[str, str, str, str], bool]


def compound_splits(term: str, vocab: Mapping[str, int]) -> list[tuple[str, str, str, str]]:
    """Every split of ``term`` into two indexed words of at least ``MIN_PART`` letters, neither a
    stopword: (first, second, first's stem, second's stem)."""
    out = []
    for i in range(MIN_PART, len(term) - MIN_PART + 1):
        a, b = term[:i], term[i:]
        if a in STOPWORDS or b in STOPWORDS:
            continue
        sa, sb = stem(a), stem(b)
        if sa in vocab and sb in vocab:
            out.append((a, b, sa, sb))
    return out


def written_apart(bm: Any, text_of: Callable[[int], str]) -> Apart:
    """``Apart`` over a BM25 index: the two words stand side by side (a space or hyphen between
    them) in one of the first ``COMPOUND_PROBE`` chunks that hold both. OCR fragments ("proc"
    and "ur" for "procedure") are indexed words too; side by side they mostly are not."""
    def apart(a: str, b: str, sa: str, sb: str) -> bool:
        ia, ib = bm.vocab[sa], bm.vocab[sb]
        both = np.intersect1d(bm.doc[bm.ptr[ia]:bm.ptr[ia + 1]], bm.doc[bm.ptr[ib]:bm.ptr[ib + 1]])
        # a two-letter part only with a hyphen ("Wi-Fi"): OCR breaks words into short runs
        # with spaces between ("di ff")
        join = "[\\s-]?" if min(len(a), len(b)) > 2 else "-"
        pat = re.compile(rf"\b{re.escape(a)}{join}{re.escape(b)}", re.IGNORECASE)
        return any(pat.search(text_of(int(r))) for r in both[:COMPOUND_PROBE])
    return apart


@dataclass(frozen=True)
class Groups:
    """The groups a question is read with, and their version for the answer cache key."""
    table: Mapping[str, tuple[str, ...]]
    version: str


def read_groups(path: Path) -> tuple[dict[str, tuple[str, ...]], str]:
    """A list of groups (the bundled one, or an integrator's ``engine.words_file``): its table and
    digest. Raises OSError, UnicodeDecodeError or ValueError (with the line) when unusable."""
    raw = Path(path).read_bytes()
    return parse(raw.decode("utf-8")), hashlib.sha256(raw).hexdigest()[:12]


def groups(extra: Path | None = None) -> Groups:
    """The bundled list, with ``extra``'s groups added when given. A stem in both gets the members
    of both. An unusable ``extra`` is logged and left out: the box still answers."""
    base = _load()
    if extra is None:
        return Groups(base, version())
    try:
        more, digest = read_groups(extra)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("engine.words_file %s unusable, using the bundled list only: %s", extra, exc)
        return Groups(base, version())
    merged = dict(base)
    for stem_, others in more.items():
        merged[stem_] = tuple(dict.fromkeys(merged.get(stem_, ()) + others))
    return Groups(merged, f"{version()}+{digest}")


def version() -> str:
    """Part of the answer cache key: a changed list never serves an answer read with the old one."""
    _load()
    return f"synonyms-3:{_DIGEST}:{int(SPLIT_COMPOUNDS)}{int(ADJECTIVE_Y)}"


def adjective_base(term: str, vocab: Mapping[str, int], table: Mapping[str, tuple[str, ...]]) -> str | None:
    """The word an owner's adjective in -y is made from ("squeaky" -> "squeak", "noisy" -> "nois",
    "fishy" -> "fish"), when the index or the word list knows it; else None. Nouns in -y
    ("battery", "policy") have no such base that is a word here, and are left alone."""
    if len(term) < MIN_BASE + 1 or not term.endswith("y") or term.endswith(_NOT_ADJECTIVE):
        return None
    root = term[:-1]
    cands = [root, stem(root + "e")]
    if len(root) > MIN_BASE and root[-1] == root[-2]:
        cands.append(root[:-1])        # "sunny" -> "sun"
    for c in cands:
        if len(c) >= MIN_BASE and (c in vocab or c in table):
            return c
    return None


def manual_terms(terms: Sequence[str], vocab: Mapping[str, int], df: Sequence[int] | None = None,
                 groups: Mapping[str, tuple[str, ...]] | None = None) -> list[str]:
    """``terms`` (analysed, stemmed) with each term ``vocab`` lacks replaced by the group member
    the index holds in most chunks (``df`` indexed by vocab id; first listed when absent)."""
    return swap(terms, vocab, df, groups)[0]


def swap(terms: Sequence[str], vocab: Mapping[str, int], df: Sequence[int] | None = None,
         groups: Mapping[str, tuple[str, ...]] | None = None,
         apart: Apart | None = None) -> tuple[list[str], frozenset[str]]:
    """``manual_terms`` and the set of terms it put in (those not asked in the question's own
    words). With ``apart``, a term without a group member in the index that the index writes as
    two words ("wifi": "Wi-Fi") is read as those two."""
    table = _load() if groups is None else groups
    out: list[str] = []
    put: set[str] = set()
    for t in terms:
        if t in vocab:
            out.append(t)
            continue
        base = adjective_base(t, vocab, table) if ADJECTIVE_Y else None
        if base is not None and base in vocab:
            out.append(base)
            put.add(base)
            continue
        alts = [a for a in table.get(base or t, ()) if a in vocab]
        if not alts:
            parts = None
            if SPLIT_COMPOUNDS and apart is not None:
                parts = next(((sa, sb) for a, b, sa, sb in compound_splits(t, vocab) if apart(a, b, sa, sb)), None)
            out.extend(parts or (t,))
            put.update(parts or ())
            continue
        a = alts[0] if df is None or len(alts) == 1 else max(alts, key=lambda a: int(df[vocab[a]]))
        out.append(a)
        put.add(a)
    return out, frozenset(put - set(terms))
