"""Which words of a symptom are said to be missing: "No picture, but sound is present" against
"Picture is good but there is no sound".

Troubleshooting sections name their symptoms by what works and what does not ("Engine cranks
but won't start" / "Engine won't crank"). As bags of words such headings are the same, so a
question ("I have picture but no sound") matches both equally and the wrong one is quoted with
full confidence. Here each content word of a heading, a question line or a question is marked
*negated* when a negator ("no", "not", "never", "fails", any "...n't") stands before
it in the same clause (clauses end at punctuation and at "but", "and", "or", "although",
"however", "while"), or when a word of absence follows it by a linking verb ("the screen is
black", "pages come out blank"), else *affirmed* -- as first said: an entry names its symptom before its
remedy ("| Water does not drain | Check the drain hose |"). Two texts **agree** on a word negated in both and
**clash** on a word negated in one and affirmed in the other; words only one of them has say
nothing. There is a verdict only when both say something is missing: both name a symptom. A
question with no negator ("How do I fix the sound?") says nothing about which entry it means,
and a heading with none ("Adjusting the sound") is not a symptom.
"""

from __future__ import annotations

import re
from functools import lru_cache

from nic_edge.engine.bm25 import STOPWORDS, stem

SCOPE = 3   # content words a negator reaches within its clause
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,;:!?()\[\]|\u2014\u2013]")
# ("without" is left out: it states a condition -- "without removing the head", "without a water
# pump" -- not a symptom.)
_NEGATORS = frozenset("no not never cannot nothing none nobody unable fail fails failed failing".split())
_CLAUSE_WORDS = frozenset("but and or although though however while whereas yet".split())
# Said *after* the thing, by a linking verb, an absence: "the screen is black", "pages come out
# blank", "the display stays dark", "the speaker is dead", "the tank is empty". Each marks the
# content words of its clause said before it (at most SCOPE) as missing. Words of output that is
# not there, not of a fault in general ("stuck", "loose", "noisy" name a fault of something that
# is present); and only after a linking verb: "print only black" names a colour.
_ABSENT_AFTER = frozenset("black blank dark dead empty missing gone silent".split())
_LINKING = frozenset("is are was were be been stays stay stayed remains remain remained goes go went "
                     "turns turn turned becomes become became looks look seems seem come comes came out".split())
_SKIP = (STOPWORDS | {"without"}) - _NEGATORS


@lru_cache(maxsize=1024)
def polarity(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(affirmed, negated) stemmed content words of ``text``."""
    said: dict[str, bool] = {}   # word -> negated, as first said
    reach = 0
    clause: list[str] = []       # content words first said in this clause
    prev = ""
    toks = _WORD.findall(text.lower().replace("\u2019", "'"))
    for k, tok in enumerate(toks):
        linked, prev = prev in _LINKING, tok
        if not tok[0].isalnum() or tok in _CLAUSE_WORDS:
            reach = 0   # a clause ends
            clause = []
            continue
        if tok in _NEGATORS or tok.endswith("n't"):
            reach = SCOPE
            continue
        if tok in _ABSENT_AFTER and linked and clause and _ends_phrase(toks, k):
            for w in clause[-SCOPE:]:
                said[w] = True
            clause = []
            continue
        word = tok.split("'")[0]
        if word in _SKIP or not word:
            continue
        w = stem(word)
        if w not in said:
            said[w] = reach > 0
            if tok not in _LINKING:   # "stays" in "the display stays dark" is not what is missing
                clause.append(w)
        reach = max(0, reach - 1)
    return (frozenset(w for w, n in said.items() if not n), frozenset(w for w, n in said.items() if n))


def _ends_phrase(toks: list[str], k: int) -> bool:
    """No content word right after ``toks[k]``: "the screen is black." states an absence, "spits
    out empty pages" names the pages."""
    nxt = toks[k + 1] if k + 1 < len(toks) else ""
    return not nxt or not nxt[0].isalnum() or nxt in _CLAUSE_WORDS or nxt in _SKIP


def clash(question: str, text: str, ignore: frozenset[str] = frozenset()) -> int:
    """Words on which ``text`` says the opposite of ``question`` minus words both say are
    missing (``ignore``: words of how people ask). 0 unless both negate something."""
    qp, qn = polarity(question)
    tp, tn = polarity(text)
    if not qn or not tn:
        return 0
    qp, qn, tp, tn = qp - ignore, qn - ignore, tp - ignore, tn - ignore
    return len((qp & tn) | (qn & tp)) - len(qn & tn)
