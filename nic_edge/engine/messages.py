"""Plain words for a technician when the box does not answer (the answer's ``message``).

``reason`` stays the code for machines; ``message`` says what it means for the person asking:
the manuals on this box do not cover the question, and which manuals those are, so they know
whether to rephrase or to look elsewhere.
"""

from __future__ import annotations

from typing import Any

from nic_edge.engine.labels import file_labels

NAMED = 3   # manuals named in full; the rest are counted ("and 4 more")
VERSION = "messages-3"   # part of the answer cache key: a cached abstention never keeps old words


def manual_names(file_info: dict[str, Any] | None) -> list[str]:
    """The manuals on the box by file name (a BEIR file is one manual, not its records), two
    files of the same name by the trailing paths that tell them apart ("a/manual.md",
    labels.py); ``file_info`` is the index's per-file catalog (Snapshot.file_info)."""
    if not file_info:
        return []
    return sorted(set(file_labels(file_info).values()), key=str.lower)


def _listing(names: list[str]) -> str:
    shown = names[:NAMED]
    rest = len(names) - len(shown)
    if rest > 0:
        return ", ".join(shown) + f" and {rest} more"
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def indexing() -> str:
    return ("The manuals on this box are still being indexed, so it cannot answer yet. Ask again in a "
            "few minutes.")


def not_covered(names: list[str]) -> str:
    if not names:
        return "No manuals are loaded on this box yet, so it cannot answer. Ask the integrator to add them."
    if len(names) == 1:
        head = f"The manual on this box ({names[0]}) does not cover this question"
    else:
        head = f"The {len(names)} manuals on this box ({_listing(names)}) do not cover this question"
    return head + (", so no answer is given rather than a guess. Try other words, or check a manual "
                   "that is not on this box.")


def unclear(names: list[str], sections: list[str], keywords: bool = False) -> str:
    """Every word of the question is in the manuals but no passage answers it confidently (a
    bare keyword such as "brakes", a question that spans several sections): "does not cover"
    would be untrue, so it says so and points at the sections that hold the words.
    ``keywords``: the question is a word or two, not a question."""
    where = (f"the manual on this box ({names[0]})" if len(names) == 1
             else f"the {len(names)} manuals on this box ({_listing(names)})")
    shown = ", ".join(f"\u201c{s}\u201d" for s in sections)
    advice = ("Ask a full question about one thing, for example what you want to do with it, or "
              "read those sections." if keywords else "Read those sections, or ask again in other words.")
    return (f"No passage in {where} answers this clearly enough to quote, so no answer is given "
            f"rather than a guess. Sections that use the question's words: {shown}. {advice}")


def not_named(names: list[str]) -> str:
    """A question whose subject is only a pronoun ("How is it adjusted?"): the box answers each
    question on its own and cannot tell what "it" is."""
    where = f" The manuals on this box: {_listing(names)}." if names else ""
    return ("The question does not say what it is about (\u201cit\u201d, \u201cthey\u201d), and this box "
            "answers each question on its own, so no answer is given rather than a guess. Name the "
            "part or feature and ask again, for example \u201cHow is the carburetor adjusted?\u201d "
            "rather than \u201cHow is it adjusted?\u201d." + where)


def invalid(detail: str) -> str:
    return f"This question could not be used: {detail}. Type the question as plain text and ask again."
