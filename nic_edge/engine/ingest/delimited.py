"""Emphasis-like markup (``*x*``, ``**x**``, ``_x_``) taken out of a line in linear time.

The inline readers of Markdown and reStructuredText wrote these as lazy regular expressions,
``(\\*)(?=\\S)(.+?)(?<=\\S)\\1``. Python's engine tries every opening mark against the whole rest of
the line, so a line of marks that never close ("*a *a *a ...", 60 KB) took 20 s to read and a
megabyte of it hours: one hostile or broken file stalled `nic-edge index`. ``subn`` gives
exactly what ``re.subn`` of such a pattern gives (tests compare the two on every short string
of a small alphabet), finding each mark's closing mark by bisection in a list made once.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Delim:
    """One pair of marks: ``mark`` opens and closes; ``not_before`` (a one-character pattern)
    must not match the character before the opening mark, ``not_after`` the one after the
    closing mark (the word-edge rules of ``_x_``, of reStructuredText's ``*x*``)."""

    mark: str
    not_before: re.Pattern[str] | None = None
    not_after: re.Pattern[str] | None = None
    # reStructuredText's pattern, ``\S(?:.*?\S)?``, tries a one-character content only after
    # every longer one: "**a***" is "a*" there, "a" in Markdown's ``(?=\S)(.+?)(?<=\S)``
    one_char_last: bool = False


def _closers(text: str, d: Delim) -> list[int]:
    """Where ``d.mark`` may close: after a non-space, and not before what ``not_after`` forbids."""
    out: list[int] = []
    size = len(d.mark)
    pos = text.find(d.mark, 1)
    while pos >= 0:
        after = text[pos + size:pos + size + 1]
        if not text[pos - 1].isspace() and not (after and d.not_after and d.not_after.match(after)):
            out.append(pos)
        pos = text.find(d.mark, pos + 1)
    return out


def subn(text: str, alts: tuple[Delim, ...], repl: Callable[[Delim, str], str]) -> tuple[str, int]:
    """``re.subn`` of ``(mark)(?=\\S)(.+?)(?<=\\S)mark`` over ``alts`` (tried in order at each
    position, as a regex alternation is), each content replaced by ``repl(delim, content)``."""
    if not any(d.mark in text for d in alts):
        return text, 0
    closers = {d.mark: _closers(text, d) for d in alts}
    breaks = [m.start() for m in re.finditer("\n", text)]
    starts = sorted({m.start() for d in alts for m in re.finditer(re.escape(d.mark[0]), text)})
    out: list[str] = []
    pos = count = 0
    for i in starts:
        if i < pos:
            continue
        for d in alts:
            if not text.startswith(d.mark, i):
                continue
            if i and d.not_before is not None and d.not_before.match(text[i - 1]):
                continue
            c0 = i + len(d.mark)
            if c0 >= len(text) or text[c0].isspace():
                continue
            found = closers[d.mark]
            nl = bisect_left(breaks, c0)
            end = breaks[nl] if nl < len(breaks) else len(text)   # "." does not cross a line break
            k = bisect_left(found, c0 + 1 + d.one_char_last)
            j = found[k] if k < len(found) and found[k] <= end else -1
            if j < 0 and d.one_char_last:
                k = bisect_left(found, c0 + 1)
                j = c0 + 1 if k < len(found) and found[k] == c0 + 1 else -1
            if j < 0:
                continue
            out.append(text[pos:i])
            out.append(repl(d, text[c0:j]))
            pos = j + len(d.mark)
            count += 1
            break
    if not count:
        return text, 0
    out.append(text[pos:])
    return "".join(out), count


__all__ = ["Delim", "subn"]
