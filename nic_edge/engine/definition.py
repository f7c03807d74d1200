"""Questions whose kind shapes the answer: what something is, and a single fact.

"What is an identifier?" is best answered from the sentence that defines the thing ("An
identifier is a name that ..."), not from the first sentence that mentions it. The reader gives a
window that opens with such a sentence a small bonus (reader.DEF_BONUS).

"Is compressed air OK for the sensor?", "Does it have GPS?", "Which card speed do I need?":
a yes/no question or one asking which, who, when or where wants the sentence that states the
fact, with what leads to it -- not the 200 words around it. The reader gives such questions the
shorter window it gives an amount (reader.FACT_TARGET_WORDS).

"IBM Cloud Event Notifications" or "What is IBM Cloud Pak for Data?" names a topic: the section
about it answers, not a sentence that mentions it in passing (``names_topic``).
"""

from __future__ import annotations

import re

from nic_edge.engine.bm25 import stem

_WHAT_IS = re.compile(r"^\s*what\s*(?:is|are|'s)\s+(?:an?\s+|the\s+)?(?P<x>[^?]+?)\s*\??\s*$", re.I)
_DEFINES = r"(?:is|are|refers?|means?|represents?|describes?|stands?|acts?)\b"


def defined_thing(question: str) -> re.Pattern[str] | None:
    """For "What is X?" (X up to 4 words), a pattern for a sentence that defines X: X's last
    word, then "is", "are", "refers", "means" ... ("An identifier is a name ...", "Operators are
    the separators ...")."""
    m = _WHAT_IS.match(question or "")
    if not m:
        return None
    words = m.group("x").split()
    if not words or len(words) > 4:
        return None
    head = re.escape(stem(words[-1].lower()))
    return re.compile(r"\b" + head + r"\w*\s+(?:\w+\s+)?" + _DEFINES, re.I)


_ASKS = re.compile(r"^\s*(?:how|why|when|where|which|who|what|can|could|do|does|did|is|are|should|will|would|may)\b"
                   r"|\?\s*$", re.I)


def names_topic(question: str) -> bool:
    """The question names what it is about rather than asks something of it: "What is X?" (of
    any length), or words without a question word or mark -- a topic ("IBM Cloud Event
    Notifications", "Defining network policies") or a statement ("my brakes squeal"). The section
    about that answers, not a sentence that names it in passing (reader.SENTENCE_COVER_WAIVER)."""
    return bool(_WHAT_IS.match(question or "")) or not _ASKS.search(question or "")


# The first word of a question that asks for one fact: yes/no (an auxiliary verb first) or
# which / who / when / where. "What" and "how" questions ask for anything from a definition to a
# procedure and are left alone.
_FACT_FIRST = frozenset("""
is are was were am can could does do did will would should shall may must has have had
which who whom whose when where
""".split())
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")   # "2.4 GHz" and "v1.2" do not end a sentence
_LETTERS = re.compile(r"[a-z]+")
_REQUESTS = frozenset("tell explain describe give show help list provide walk share".split())


def asks_fact(question: str) -> bool:
    """True when the question is one sentence that opens with a word of ``_FACT_FIRST``. A
    question said after a description ("My brake pedal sinks to the floor when I hold it. Is
    this dangerous?") asks about what it describes: the symptom's entry, not one sentence."""
    parts = [p for p in _SENTENCE_END.split((question or "").strip()) if p.strip()]
    if len(parts) != 1:
        return False
    words = _LETTERS.findall(parts[0].lower())   # "where's" / "where\u2019s" -> "where", "s"
    if not words or words[0] not in _FACT_FIRST:
        return False
    # "Can you tell me about ...", "Could you explain ...": a request to explain, not yes/no
    return not (len(words) > 2 and words[1] == "you" and words[2] in _REQUESTS)


_HOW_TO = re.compile(r"\s*(?:how\s+(?:do|does|did|can|could|should|would|to)\b|what\s+are\s+the\s+steps\b)", re.I)


def asks_how_to(question: str) -> bool:
    """The question asks how to do something ("How do I clean the filter?", "how to reset it",
    "What are the steps to ..."): its answer is a whole procedure, from its first step."""
    return bool(_HOW_TO.match(question or ""))
