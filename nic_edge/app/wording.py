"""How an answer reads to a person, shared by the status page and ``nic-edge ask``.

Pure functions over the Answer dict (DESIGN.md), stdlib only: the HTTP surface imports this
module and must stay light. Both surfaces number sources the same way, so "[2]" on the page and
in the terminal point at the same passage.
"""

from __future__ import annotations

from typing import Any, Sequence

MAX_NAMES = 8


def where(c: dict[str, Any]) -> str:
    """"file.txt, Para 1-2: Starting, page 12"; a counted page (not the number printed in the
    manual) says so: "page 12 (counted)". The manual is named by its ``label`` ("b/manual.md"
    when another folder holds a manual.md too), by ``source`` in an answer without one."""
    parts = [str(x) for x in (name(c), c.get("section")) if x]
    page = c.get("page")
    if page is not None:
        parts.append(f"page {page} (counted)" if c.get("page_kind") == "counted" else f"page {page}")
    return ", ".join(parts) or "unknown source"


def numbered(answer: dict[str, Any]) -> tuple[list[tuple[str, int]], list[tuple[int, dict[str, Any]]]]:
    """(quotes as (text, n), sources as (n, citation)): each distinct place listed once.

    With ``quotes`` (the reader's output) the sources are the cited ones, in quote order; an
    answer without ``quotes`` (an older engine) gives no quotes and all its citations."""
    cites = [c for c in answer.get("citations") or [] if isinstance(c, dict)]
    quotes = [q for q in answer.get("quotes") or []
              if isinstance(q, dict) and isinstance(q.get("text"), str) and q["text"].strip()]
    order = [q.get("citation") for q in quotes] if quotes else list(range(len(cites)))
    number: dict[str, int] = {}
    sources: list[tuple[int, dict[str, Any]]] = []
    by_index: dict[int, int] = {}
    for i in order:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(cites) or i in by_index:
            continue
        key = where(cites[i])
        if key not in number:
            number[key] = len(number) + 1
            sources.append((number[key], cites[i]))
        by_index[i] = number[key]
    out_quotes = [(q["text"].strip(), by_index.get(q.get("citation"), 0)) for q in quotes]
    return out_quotes, sources


def name(entry: dict[str, Any]) -> Any:
    """A citation's or a listed manual's name for a person: ``label``, else ``source``."""
    return entry.get("label") or entry.get("source")


def manual_names(manuals: Sequence[Any] | None) -> list[str]:
    names: list[str] = []
    if not isinstance(manuals, (list, tuple)):
        return names
    for m in manuals:
        n = name(m) if isinstance(m, dict) else m
        if n:
            names.append(str(n))
    return names


def _join(names: list[str]) -> str:
    shown = names[:MAX_NAMES]
    more = len(names) - len(shown)
    if more:
        return ", ".join(shown) + f" and {more} more"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def abstention(answer: dict[str, Any], manuals: Sequence[Any] | None) -> str:
    """The engine's ``message`` when it gives one, else plain words naming the manuals on the box."""
    msg = answer.get("message")
    if isinstance(msg, str) and msg.strip():
        return msg.strip()
    names = manual_names(manuals)
    if answer.get("reason") == "invalid_input":
        return "That question could not be read: type a question in plain words."
    if not names:
        return "No manuals are indexed on this box yet, so there is nothing to answer from."
    if answer.get("reason") == "low_confidence":
        head = "The manuals on this box do not answer that clearly enough to quote."
    else:
        head = "Nothing in the manuals on this box matches that question."
    box = "Manual on this box" if len(names) == 1 else f"The {len(names)} manuals on this box"
    return f"{head} {box}: {_join(names)}. Try other words, or look in the manual itself."
