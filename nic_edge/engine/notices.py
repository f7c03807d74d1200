"""Find WARNING / CAUTION / DANGER safety notices in cleaned manual text.

Answers must carry the notices of the sections they cite verbatim, and the chunker must never
split a notice from its text, so both use :func:`notice_spans` (character offsets into the
text). NOTE paragraphs are deliberately not notices: manuals use them for trivia.

The rule (tested over every corpus manual, the bundled sample and nic_qa's manual against
tests/engine/fixtures/notices_expected.json):
* inline with punctuation: ``WARNING: Disconnect the battery ...`` (also ``⚠ SAFETY WARNING:``,
  ``Caution:``, ``CAUTION—``, ``Caution. Winding ...`` with a capital after the full stop);
* inline bare: an upper-case keyword that opens a line or a sentence, then blanks and a
  capitalised word in lower case: ``CAUTION  To avoid electric shock ...`` (two spaces, no
  colon, as exported from a phone manual). Upper case followed by upper case is a table head
  or a plate name ("KNOWN INFO 1 WARNING TEST OPTIONS", "CAUTION PLATE"), not a notice, and
  a keyword inside a sentence ("Read WARNING on ...") is a reference to one;
  inline notices run to the end of their line (lines are unwrapped paragraphs after ingest),
  capped at a few sentences so a reflowed OCR page does not become one "notice";
* standalone: a line holding only ``CAUTION`` followed by its paragraph (TM style), also when
  OCR reflow left the keyword at the end of the previous sentence's line ("... boards. CAUTION");
  a block whose text points elsewhere ("Read WARNING on Voltage test.") is a table cell.
"""

from __future__ import annotations

import re

KEYWORDS = ("WARNING", "CAUTION", "DANGER")
MAX_INLINE_WORDS = 80  # an inline notice longer than this is cut at a sentence end
MAX_BLOCK_WORDS = 120  # standalone keyword + paragraph lines up to about this many words

_STANDALONE = re.compile(
    r"^[ \t]*(?:[⚠•*][ \t]*)?(?:SAFETY[ \t]+)?(?:WARNING|CAUTION|DANGER)S?[ \t]*[.!:]?[ \t]*$",
    re.MULTILINE,
)
# The keyword closing a line right after a sentence: its paragraph follows on the next lines.
_TRAILING = re.compile(r"(?<=[.;:)] )(?:WARNING|CAUTION|DANGER)S?[.!:]?[ \t]*$", re.MULTILINE)
_INLINE = re.compile(
    r"(?:⚠[ \t]*)?(?:SAFETY[ \t]+)?\b(?:WARNING|CAUTION|DANGER|Warning|Caution|Danger)"
    r"(?:[ \t]*[:!—–][ \t]*|[ \t]+-[ \t]+|\.[ \t]+(?=[A-Z]))(?=\S)"
    # bare: upper case keyword opening a line or a sentence, blanks, then "To avoid"-style text
    r"|(?:^|(?<=[.;:!?)\]•] ))(?:⚠[ \t]*)?(?:SAFETY[ \t]+)?(?:WARNING|CAUTION|DANGER)S?[ \t]+(?=[A-Z][a-z])",
    re.MULTILINE,
)
# "Read WARNING on Voltage test." -- a troubleshooting table's pointer to a notice printed
# elsewhere (TM 10-3930-673-20-1): under a WARNING column head it is not a notice itself.
_REFERENCE = re.compile(r"\bRead (?:WARNING|CAUTION|DANGER)S? on\b")
_SENTENCE_END = re.compile(r"[.!?][\"”’)\]]*(?=\s|$)")


def _cut_at_sentence(text: str, start: int, end: int, max_words: int) -> int:
    """End offset no later than ``end`` keeping at most ``max_words`` words (whole sentences)."""
    if len(text[start:end].split()) <= max_words:
        return end
    best = -1
    for m in _SENTENCE_END.finditer(text, start, end):
        if len(text[start : m.end()].split()) > max_words:
            break
        best = m.end()
    if best < 0:  # one giant sentence: keep its first sentence-free run whole anyway
        first = _SENTENCE_END.search(text, start, end)
        best = first.end() if first else end
    return best


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def notice_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of every notice, in order, non-overlapping."""
    lowered = text.lower()
    if not any(k in lowered for k in ("warning", "caution", "danger")):
        return []  # the common case, and much cheaper than the regex scans below
    spans: list[tuple[int, int]] = []
    heads = sorted(list(_STANDALONE.finditer(text)) + list(_TRAILING.finditer(text)),
                   key=lambda m: m.start())
    for m in heads:
        pos = m.end()
        words = 0
        end = m.end()
        # Take the following lines until a blank line, the next notice, or the word cap.
        while pos < len(text) and words < MAX_BLOCK_WORDS:
            if text.startswith("\n", pos):
                pos += 1
            line_end = _line_end(text, pos)
            line = text[pos:line_end]
            if not line.strip() or _STANDALONE.match(line) or _INLINE.match(line.lstrip()):
                break
            trailing = _TRAILING.search(line)
            if trailing:  # the next notice's keyword closes this line: ours ends before it
                if line[:trailing.start()].strip():
                    end = pos + len(line[:trailing.start()].rstrip())
                break
            words += len(line.split())
            end = line_end
            pos = line_end
        if end > m.end() and not _REFERENCE.search(text, m.end(), min(end, m.end() + 200)):
            first_line_start = text.find("\n", m.end()) + 1
            cut = _cut_at_sentence(text, first_line_start, end, MAX_BLOCK_WORDS)
            spans.append((m.start() + len(m.group()) - len(m.group().lstrip()), cut))
    for m in _INLINE.finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        end = _cut_at_sentence(text, m.end(), _line_end(text, m.end()), MAX_INLINE_WORDS)
        spans.append((m.start(), end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        end = start + len(text[start:end].rstrip())
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def find_notices(text: str) -> list[str]:
    """The WARNING/CAUTION/DANGER notices in ``text``, verbatim, in order of appearance."""
    return [text[s:e] for s, e in notice_spans(text)]
