"""Markdown manuals: ``#`` and setext headings give the sections; inline markup is dropped.

Chunk text is what answers quote, so links keep their words (``[the pump](x.md)`` -> ``the
pump``; an autolink ``<https://...>`` its address), emphasis markers, HTML tags and comments go,
and list markers and table pipes stay (they carry structure a reader expects to see). Manual-style headings in plain lines (``Para 1-2: ...``)
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
# CommonMark autolinks: the address is the text ("see <https://acme.example/pumps>")
_AUTOLINK = re.compile(r"<((?:[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*)|(?:[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+))>")
# block-level HTML ends a run of words: "<summary>Advanced</summary>Set" is two phrases
_BLOCK_TAG = re.compile(r"</?(?:p|div|br|hr|li|ul|ol|tr|td|th|table|details|summary|section|dd|dt|dl"
                        r"|blockquote|figure|figcaption|caption|h[1-6])\b[^>]*>", re.I)
_HIDDEN = re.compile(r"<!--.*?-->|<(script|style)\b[^>]*>.*?</\1\s*>", re.I)
_HIDDEN_OPEN = re.compile(r"<!--|<(script|style)\b[^>]*>", re.I)
_COMMENT_END = re.compile(r"-->")
_QUOTE = re.compile(r"^ {0,3}(?:>\s?)+")
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+")


def strip_inline(text: str) -> str:
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = _EMPHASIS.sub(lambda m: m.group(2), text)
    text = _AUTOLINK.sub(lambda m: m.group(1), text)
    return normalize_line(_TAG.sub("", _BLOCK_TAG.sub(" ", text)))


def _drop_comments(raw: list[str]) -> list[str]:
    """HTML comments (``<!-- internal: ... -->``, one line or several) and the insides of
    ``<script>``/``<style>`` removed outside code fences: a rendered manual never shows them,
    so answers must not quote them (CSS and JavaScript were quoted as manual text)."""
    out: list[str] = []
    in_fence = False
    end_mark: re.Pattern[str] | None = None   # what closes the hidden range we are in
    for line in raw:
        if end_mark is not None:
            m = end_mark.search(line)
            if m is None:
                out.append("")
                continue
            line, end_mark = line[m.end():], None
        elif _FENCE.match(line):
            in_fence = not in_fence
        if not in_fence:
            line = _HIDDEN.sub("", line)
            m = _HIDDEN_OPEN.search(line)
            if m is not None:
                end_mark = _COMMENT_END if m.group(0) == "<!--" else re.compile(
                    rf"</{m.group(1)}\s*>", re.I)
                line = line[:m.start()]
        out.append(line)
    return out


def markdown_lines(text: str) -> list[tuple[int | None, str]]:
    raw = text.split("\n")
    if raw and raw[0].strip() == "---":  # YAML front matter is metadata, not manual text
        for idx in range(1, len(raw)):
            if raw[idx].strip() in ("---", "..."):
                raw = raw[idx + 1:]
                break
    raw = _drop_comments(raw)
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
