"""Heading detection: turn cleaned lines into sections so citations point somewhere useful.

Format parsers that know their headings (Markdown ``#``, HTML ``<h1>``..``<h6>``) mark a
heading line by prefixing it with :data:`HEADING_MARK`. Plain text and PDF text go through
:func:`detect_headings`, which recognises the ways printed manuals announce a section:
``SECTION 3: ...``/``SECTION III. ...``/``CHAPTER 4``/``APPENDIX A``, labelled items such as
``Para 1-2: Engine Cranks But Won't Start`` or ``Table 7-1: Torque Specifications``, and
TM-style numbered ALL-CAPS paragraphs ``12. FUEL FILTER.`` (also when OCR reflow glued them
to the end of the previous line). Manuals written as questions and answers (the 1919 Ford
manual: ``What about Gasoline? Answer No. 2 ...``) get the questions as headings, and so do the
entries of a FAQ: a line ``Q: How do I turn off the beep?`` anywhere, and a plain question line
(``Can I wash shoes in the machine?``) under a heading that names a FAQ ("Frequently Asked
Questions", "FAQ", "Questions and Answers"). Each entry then is a section of its own, cited by
its question, with its own heading vector: under one "FAQ" heading the entries' chunks mix
unrelated answers and the heading matches no question.

A section is the innermost heading above the text, which in reading order is simply the
latest heading seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nic_edge.engine.ingest.numbering import decimal_headings
from nic_edge.engine.ingest.titles import title_lines

HEADING_MARK = "\x1e"  # ASCII record separator; control characters never survive cleaning
MAX_HEADING_WORDS = 14
MAX_QUESTION_WORDS = 16
TITLES_BELOW = 3   # headings found by the schemes here below which plain title lines are looked for

_SECTION = re.compile(
    r"^(?:SECTION|Section|CHAPTER|Chapter|PART|Part|APPENDIX|Appendix)\s+"
    r"(?:[IVXLC]+|\d{1,3}|[A-Z])\b\s*(?P<sep>[.:\-—–]?)\s*(?P<title>.*)$"
)
_LABELLED = re.compile(
    r"^(?:Para(?:graph)?|Table|Safety Notice|Task|Procedure)\s+[A-Z]?\d{1,3}(?:[-.][0-9A-Z]{1,3})*"
    r"\s*[:.\-—–]\s*(?P<title>[A-Za-z(“\"].*)$"
)
_TOC_TAIL = re.compile(r"(?:\s\d{1,4}(?:-\d{1,4})?){1,2}$|\.{3,}|…")
_NUMBERED = re.compile(r"^(\d{1,3}(?:-\d{1,3})?)\.\s+(?=[A-Z(])")  # "12." or "2-11."
_INLINE_NUMBERED = re.compile(r"(?<=[.:;)])\s+(?=\d{1,3}(?:-\d{1,3})?\.\s+[A-Z][A-Z])")
_CONT = re.compile(r"\s*\((?:CONT(?:'D|INUED)?|Cont(?:'d|inued)?)\.?\)\s*\.?$")
_ANSWER = re.compile(r"\?[\"”’']?\s*Answer\s+No[.,]?\s*\d{1,3}\b[.:,]?\s*")
_QA_BOUNDARY = re.compile(r"[.!?;:)\]”\"’](?:\s+)(?=[A-Z0-9“\"‘(])")
_QUESTION_WORD = re.compile(
    r"(?<=[\s‘“'\"])(?:What|How|Why|When|Where|Which|Who|Is|Are|Should|Can|Could|Does|Do|Will|Must)\b"
)
_MIN_QA_ANSWERS = 5
_FAQ_Q = re.compile(r"^(?:Q|Question)\s*\d{0,3}\s*[:.)\-]\s*(?P<q>\S.*\?)[\"”’']?$")
_FAQ_TITLE = re.compile(r"\bFAQs?\b|frequently\s+asked|questions\s+(?:and|&)\s+answers|\bQ\s*&\s*A\b", re.I)
_FAQ_LINE = re.compile(r"^(?:[-*\u2022]\s+|\d{1,2}[.)]\s+)?(?P<q>[A-Z].*\?)[\"”’']?$")
MAX_FAQ_WORDS = 25


@dataclass
class Section:
    heading: str | None
    paras: list[tuple[int | None, str]] = field(default_factory=list)  # (page, text) lines


def clean_heading(text: str) -> str:
    """A heading line's text: one space between words, no leader or trailing punctuation."""
    text = _CONT.sub("", " ".join(text.split()))
    return text.rstrip(" .:;,—–-") or text


def _is_caps(text: str, ratio: float = 0.8) -> bool:
    letters = [c for c in re.sub(r"\([^)]*\)", "", text) if c.isalpha()]
    return len(letters) >= 3 and sum(c.isupper() for c in letters) >= ratio * len(letters)


def _title_ok(title: str) -> bool:
    return (
        bool(title)
        and (title[0].isupper() or title[0].isdigit())
        and len(title.split()) <= MAX_HEADING_WORDS
        and not _TOC_TAIL.search(title)
        and not title.endswith(",")
    )


def numbered_heading(line: str) -> tuple[str, str] | None:
    """``12. FUEL FILTER. Every few days ...`` -> ("12. FUEL FILTER", "Every few days ...")."""
    m = _NUMBERED.match(line)
    if not m:
        return None
    words = line[m.end():].split(" ")
    taken: list[str] = []
    depth = 0
    for word in words:
        depth_before = depth
        depth += word.count("(") - word.count(")")
        if depth_before <= 0 and depth <= 0 and any(c.islower() for c in word):
            break
        taken.append(word)
        if depth <= 0 and word.endswith("."):
            break
    title = " ".join(taken)
    rest = " ".join(words[len(taken):]).strip()
    if not _is_caps(title, 0.9) or len(taken) > MAX_HEADING_WORDS:
        return None
    if rest and not title.endswith("."):
        return None  # "2. INTERVALS indicated are ..." is a numbered note, not a heading
    return clean_heading(f"{m.group(1)}. {title}"), rest


def split_inline_headings(line: str) -> list[str]:
    """Split a reflowed line where a numbered ALL-CAPS heading starts mid-line."""
    if not _INLINE_NUMBERED.search(line):
        return [line]
    parts: list[str] = []
    start = 0
    for m in _INLINE_NUMBERED.finditer(line):
        if numbered_heading(line[m.end():]) is not None:
            parts.append(line[start:m.start()])
            start = m.end()
    parts.append(line[start:])
    return [p for p in parts if p]


def line_heading(line: str, next_line: str | None) -> tuple[str, str, bool] | None:
    """(heading, remainder of the line, whether next_line was used as the title) or None."""
    m = _SECTION.match(line)
    if m:
        title = m.group("title").strip()
        if not title:
            if (next_line and _is_caps(next_line) and len(next_line.split()) <= 10
                    and not next_line.endswith(".") and line_heading(next_line, None) is None):
                return clean_heading(f"{line}: {next_line}"), "", True
            return clean_heading(line), "", False
        if _title_ok(title) and (m.group("sep") or _is_caps(title)):
            return clean_heading(line), "", False
        return None
    m = _LABELLED.match(line)
    if m and _title_ok(m.group("title")):
        return clean_heading(line), "", False
    numbered = numbered_heading(line)
    if numbered is not None:
        return numbered[0], numbered[1], False
    return None


def count_qa_answers(text: str) -> int:
    return sum(1 for _ in _ANSWER.finditer(text))


def is_qa_manual(text: str) -> bool:
    # Below a handful of "Answer No." the pattern is a coincidence, not the manual's format.
    return count_qa_answers(text) >= _MIN_QA_ANSWERS


def mark_qa_headings(text: str) -> str:
    """Make ``<question>? Answer No. N`` a heading line (call for Q&A-style manuals only)."""
    matches = list(_ANSWER.finditer(text))
    if not matches:
        return text
    out: list[str] = []
    pos = 0
    for m in matches:
        q_end = m.start() + 1
        lo = max(pos, q_end - 300)
        start = lo
        for b in _QA_BOUNDARY.finditer(text, lo, q_end - 1):
            start = b.end()
        question = text[start:q_end]
        qw = _QUESTION_WORD.search(question)
        if qw:  # "The Ford Engine What is ...?": a chapter title or page furniture runs in
            start += qw.start()
            question = text[start:q_end]
        words = question.split()
        if len(words) > MAX_QUESTION_WORDS:  # no boundary found: OCR junk ran into it
            start = q_end - len(question) + question.find(words[-MAX_QUESTION_WORDS])
            question = text[start:q_end]
        out.append(text[pos:start].rstrip())
        out.append(f"\n{HEADING_MARK}{' '.join(question.split())}\n")
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def faq_question(line: str, in_faq: bool, next_line: str | None) -> str | None:
    """The question of a FAQ entry's question line, or None: ``Q: ...?`` anywhere; a line that
    is only a question (at most ``MAX_FAQ_WORDS`` words, a list marker allowed) when under a
    FAQ heading and followed by an answer (a line that is not itself a question)."""
    m = _FAQ_Q.match(line)
    if m is None and in_faq:
        m = _FAQ_LINE.match(line)
        if m is not None and (not next_line or next_line.startswith(HEADING_MARK)
                              or next_line.rstrip().endswith("?")):
            m = None
    if m is None or len(m.group("q").split()) > MAX_FAQ_WORDS:
        return None
    q = clean_heading(m.group("q"))
    return q if q.endswith("?") else q + "?"


def detect_headings(lines: list[tuple[int | None, str]]) -> list[tuple[int | None, str]]:
    """Mark the heading lines of manual text (already cleaned) with HEADING_MARK."""
    expanded: list[tuple[int | None, str]] = []
    for page, line in lines:
        for part in split_inline_headings(line) if line else [line]:
            expanded.append((page, part))
    # The next non-empty line after each line (a FAQ question line needs its answer after it).
    following: list[str | None] = [None] * len(expanded)
    ahead: str | None = None
    for idx in range(len(expanded) - 1, -1, -1):
        following[idx] = ahead
        if expanded[idx][1]:
            ahead = expanded[idx][1]
    out: list[tuple[int | None, str]] = []
    skip = False
    in_faq = False   # under a heading that names a FAQ (its question lines are its entries)
    decimal = decimal_headings([line for _, line in expanded])   # "3.2 Cleaning the sensor"
    for idx, (page, line) in enumerate(expanded):
        if skip:
            skip = False
            continue
        if not line or line.startswith(HEADING_MARK):
            if line:
                in_faq = bool(_FAQ_TITLE.search(line))
            out.append((page, line))
            continue
        if idx in decimal:
            out.append((page, HEADING_MARK + clean_heading(line)))
            in_faq = bool(_FAQ_TITLE.search(line))
            continue
        question = faq_question(line, in_faq, following[idx])
        if question is not None:
            out.append((page, HEADING_MARK + question))
            continue
        nxt = expanded[idx + 1][1] if idx + 1 < len(expanded) else None
        found = line_heading(line, nxt)
        if found is None:
            out.append((page, line))
            continue
        heading, rest, used_next = found
        out.append((page, HEADING_MARK + heading))
        if rest:
            out.append((page, rest))
        skip = used_next
    if sum(1 for _, line in out if line.startswith(HEADING_MARK)) < TITLES_BELOW:
        # No scheme found: headings may be lines of their own and nothing more (titles.py).
        titles = title_lines([line for _, line in out])
        out = [(page, HEADING_MARK + clean_heading(line)) if idx in titles else (page, line)
               for idx, (page, line) in enumerate(out)]
    return out


def build_sections(lines: list[tuple[int | None, str]]) -> list[Section]:
    """Group marked lines into sections; re-join soft-wrapped lines into paragraphs.

    A line starting in lower case continues the previous one (the original line break was
    only the page width); anything else keeps its own line so lists and steps survive.
    """
    sections: list[Section] = [Section(None)]
    blank = True
    for page, line in lines:
        if line.startswith(HEADING_MARK):
            heading = line[len(HEADING_MARK):].strip()
            sections.append(Section(heading or None))
            blank = True
            continue
        if not line:
            blank = True
            continue
        paras = sections[-1].paras
        if paras and not blank and line[0].islower():
            prev_page, prev = paras[-1]
            paras[-1] = (prev_page, f"{prev} {line}")
        else:
            paras.append((page, line))
        blank = False
    return [s for s in sections if s.paras]
