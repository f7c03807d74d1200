"""Questions that ask what something is, and the sentence that defines it.

"What is an identifier?" is best answered from the sentence that defines the thing ("An
identifier is a name that ..."), not from the first sentence that mentions it. The reader gives a
window that opens with such a sentence a small bonus (reader.DEF_BONUS).
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
