"""Whether a question asks if the product has a thing its manuals never name.

A manual describes what its product has and does; it seldom lists what it lacks. "Does the TV
have a webcam for zoom calls?", "Is there a plumbing kit so the water tank refills itself?",
"Does it work with Alexa?", "Can I get a student discount?" asked of manuals that never say
"webcam", "plumbing" or "kit", "Alexa", "student" or "discount": whatever passage shares the
question's other words ("zoom", "water tank", "TV") is no answer, and the manuals here do not
cover the question. The confidence keeps ``answer.CODE_FACTOR`` of itself then, as for a model
or code the index never names (codes.py, answer.py: confidence-26).

The thing asked about is the noun phrase after "is/are there", after "does/do/will/can ...
have / support / include / come with / work with / work on" (the subject at most three words),
or after "can I/we buy / get / order" and an article (so "can I get rid of it" asks no such
thing), up to the first word that starts a clause or a qualifier ("so", "for", "to", "in",
"or", ...). It counts as unnamed only when *none* of its content words is a term of the index,
nor is read as one the way retrieval reads the question (synonyms.py: a group-mate, an
-y adjective's base), nor in its British/American spelling (-ise/-ize): "is
there an HDMI lead in the box?" names HDMI, which the manual knows, and is left alone.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from nic_edge.engine.bm25 import analyze
from nic_edge.engine.synonyms import manual_terms

_ART = r"(?:(?:a|an|any|some|the)\s+)?"
_ASKS = re.compile(
    r"(?:^|[.,;:!?]\s+)(?:"
    r"(?:is|are)\s+there\s+" + _ART +
    r"|(?:does|do|did|will|would|can|could)\s+(?:\S+\s+){1,3}?"
    r"(?:have|has|support|include|come\s+with|work\s+with|work\s+on)\s+" + _ART +
    r"|(?:can|could)\s+(?:i|we)\s+(?:buy|get|order)\s+(?:a|an|any|some)\s+"
    r")(?P<thing>[^?.,;:!]+)", re.I)
_THING_END = re.compile(r"\s(?:so|for|to|that|which|who|in|on|at|of|with|without|or|and|like|i|we|you|my|our|"
                        r"when|while|because|if|from|by|as|than|instead|included)\b", re.I)


def asked_thing(question: str) -> str | None:
    """The thing an existence question asks about ("webcam" of "does the TV have a webcam for
    zoom calls?"), or None when the question asks no such thing."""
    m = _ASKS.search(question)
    if not m:
        return None
    thing = " " + m.group("thing")
    end = _THING_END.search(thing)
    return (thing[:end.start()] if end else thing).strip() or None


def names_unknown_thing(question: str, vocab: Mapping[str, int], groups: Mapping[str, Any] | None,
                        ignore: frozenset[str] = frozenset()) -> bool:
    """Does ``question`` ask whether the product has a thing none of whose words (analyzed, less
    ``ignore``: the words of how people ask) the index, the word list or the other spelling knows?"""
    thing = asked_thing(question)
    terms = [t for t in analyze(thing) if t not in ignore] if thing else []

    def known(t: str) -> bool:   # the index's word for it, as retrieval reads the question (synonyms.swap)
        return any(w in vocab for v in (t, t.replace("is", "iz"), t.replace("ys", "yz"))
                   for w in manual_terms([v], vocab, None, groups if groups is not None else {}))
    return bool(terms) and not any(known(t) for t in terms)
