"""Model and error codes a question names, and whether the index has them.

A question naming a model or code the manuals never name is about something they do not cover:
"What's the battery life of the Z70?" asked of the Z50's guide, "the bigger HP-14" asked of the
HP-9's manual, an error code the fault list lacks. The confidence keeps only ``CODE_FACTOR``
of itself then (answer.py). A code is letters then digits. Written in one piece ("Z70", "E07",
"P0420") it is one term of the index; written with a hyphen ("HP-14", "E-99", "IW-580") the
index has it as two terms ("hp", "14"), each of which may well be known, so it is known only when
a chunk holding both writes the code itself. Measurements ("24MP", "100-400mm") start with
their digits and are not names; a hexadecimal value ("0x1", "0x80070005": a register, a boot
mode, a Windows error) is one, written as programmers write codes (confidence-21).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import numpy as np

from nic_edge.engine.bm25 import analyze

CODE = re.compile(r"^(?:[a-z]+\d|0x[0-9a-f]+$)")   # an analyzed term naming a code ("e10", "z70", hex "0x1f")
_SPLIT_CODE = re.compile(r"(?<![\w-])([A-Za-z]{1,4})-(\d{1,5}[A-Za-z]{0,2})(?![\w-])")
SPLIT_CODE_ROWS = 64   # chunks holding both halves of a hyphenated code that are read for it


def names_unknown_code(terms: Sequence[str], vocab: Any) -> bool:
    """Does one of the question's (analyzed) ``terms`` name a model or code -- letters then
    digits: "z70", "e07", "p0420" -- that the index never contains?"""
    return any(CODE.match(t) and t not in vocab for t in terms)


def names_unknown_split_code(question: str, bm: Any, text: Callable[[int], str]) -> bool:
    """Does ``question`` name a code written with a hyphen ("HP-14", "E-99") that no chunk of
    the index (``bm``, a BM25Index; ``text``: a chunk's text by row) writes -- with a hyphen, a
    space or nothing between its letters and digits? Unknown when either half is a term the
    index lacks, or none of the first ``SPLIT_CODE_ROWS`` chunks holding both halves has the
    code; a half the analyzer drops (a stopword: "A-1") leaves the code undecided (known)."""
    for m in _SPLIT_CODE.finditer(question):
        letters, digits = m.group(1).lower(), m.group(2).lower()
        if digits.endswith("s") and digits[:-1].isdigit():
            digits = digits[:-1]    # "two HP-9s": the HP-9
        a, b = analyze(letters), analyze(digits)
        if letters + digits in bm.vocab or a != [letters] or b != [digits]:
            continue
        if a[0] not in bm.vocab or b[0] not in bm.vocab:
            return True
        rows = np.intersect1d(bm.docs_with(a[0]), bm.docs_with(b[0]))
        if rows.shape[0] > SPLIT_CODE_ROWS:
            continue
        written = re.compile(rf"(?<![\w-]){re.escape(letters)}[- ]?{re.escape(digits)}(?![\w-])", re.I)
        if not any(written.search(text(int(r))) for r in rows):
            return True
    return False
