"""Markdown manuals: ``#`` and setext headings give the sections; inline markup is dropped.

Chunk text is what answers quote, so links keep their words (``[the pump](x.md)`` -> ``the
pump``), emphasis markers and HTML tags go, and list markers and table pipes stay (they carry
structure a reader expects to see). Manual-style headings in plain lines (``Para 1-2: ...``)
are recognised too, since manuals converted to Markdown often keep them as text.
"""

from __future__ import annotations

import re

from nic_edge.engine.ingest.ocr import normalize_line
from nic_edge.engine.ingest.structure import HEADING_MARK, Section, build_sections, detect_headings

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\[[^\]]*\]")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_QUOTE = re.compile(r"^ {0,3}(?:>\s?)+")
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+")


def strip_inline(text: str) -> str:
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = _EMPHASIS.sub(lambda m: m.group(2), text)
    return normalize_line(_TAG.sub("", text))


def markdown_lines(text: str) -> list[tuple[int | None, str]]:
    raw = text.split("\n")
    if raw and raw[0].strip() == "---":  # YAML front matter is metadata, not manual text
        for idx in range(1, len(raw)):
            if raw[idx].strip() in ("---", "..."):
                raw = raw[idx + 1:]
                break
    lines: list[tuple[int | None, str]] = []
    in_fence = False
    for idx, line in enumerate(raw):
        if _FENCE.match(line):
            in_fence = not in_fence
            lines.append((None, ""))
            continue
        if in_fence:
            lines.append((None, normalize_line(line)))
            continue
        m = _ATX.match(line)
        if m:
            lines.append((None, HEADING_MARK + strip_inline(m.group(2))))
            continue
        nxt = raw[idx + 1] if idx + 1 < len(raw) else ""
        if line.strip() and _SETEXT.match(nxt) and not line.lstrip().startswith(("-", "*", "|")):
            lines.append((None, HEADING_MARK + strip_inline(line)))
            continue
        if _SETEXT.match(line) and lines and lines[-1][1].startswith(HEADING_MARK):
            continue  # the underline of a setext heading
        if _LINK_DEF.match(line):
            continue
        lines.append((None, strip_inline(_QUOTE.sub("", line))))
    return lines


def parse_markdown(text: str) -> list[Section]:
    return build_sections(detect_headings(markdown_lines(text)))
