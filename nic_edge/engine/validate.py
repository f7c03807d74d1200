"""Question validation: anything a surface hands the engine is checked before use.

Rejected: non-str (bytes are decoded as UTF-8 first and rejected when invalid), empty,
whitespace-only or invisible-only (zero-width space, BOM), longer than the configured maximum,
control characters other than tab and newline, lone surrogates (what invalid UTF-8 becomes
through ``surrogateescape``), and the Unicode "noncharacters". Each rejection carries a short
reason for the user.
"""

from __future__ import annotations

import unicodedata

from nic_edge.errors import InvalidInputError

MAX_CHARS = 2000
MAX_TOP_K = 50    # chunks an answer may be built from (ask --top-k, "top_k")
MAX_K = 100       # hits a retrieval may return (retrieve --k, "k")
ECHO_CHARS = 200  # a rejected question is shown back cut to this
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


def echo(question: str) -> str:
    """A rejected question as an answer may show it back: encodable (a lone surrogate becomes
    ``\\udXXX``, so printing it as UTF-8 cannot fail) and cut to ECHO_CHARS."""
    text = question.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…"


def validate_question(question: object, max_chars: int = MAX_CHARS) -> str:
    """The question as a clean str, or InvalidInputError saying what is wrong."""
    if isinstance(question, (bytes, bytearray)):
        try:
            question = bytes(question).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError("question is not valid UTF-8",
                                    "send the question as UTF-8 text") from exc
    if not isinstance(question, str):
        raise InvalidInputError(f"question must be a string, not {type(question).__name__}",
                                "send the question as text")
    # invisible format characters alone (zero-width space, BOM, bidi marks) are no question either
    if not question or all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in question):
        raise InvalidInputError("question is empty", "type a question")
    if len(question) > max_chars:
        raise InvalidInputError(f"question is longer than {max_chars} characters",
                                "shorten the question")
    for ch in question:
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            raise InvalidInputError("question is not valid UTF-8 (lone surrogate)",
                                    "send the question as UTF-8 text")
        if ch in _ALLOWED_CONTROLS:
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc":
            raise InvalidInputError(f"question contains control character U+{cp:04X}",
                                    "remove control characters")
        if (0xFDD0 <= cp <= 0xFDEF) or (cp & 0xFFFE) == 0xFFFE:
            raise InvalidInputError(f"question contains non-character U+{cp:04X}",
                                    "remove the invalid character")
    return question.strip()
