"""What a table row looks like in a manual's text: the few rules both the reader
(engine/tables.py) and the status page (http/page.py, which stays free of numpy) need."""

from __future__ import annotations

import re

_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
HEADER_CELL_WORDS = 4   # a header cell names a column ("Factory setting"), it says nothing of a record


def is_table_row(line: str) -> bool:
    """A table row: "| a | b |" (a scanned page's stray "|" at a line's start is not one)."""
    line = line.strip()
    return line.startswith("|") and line.endswith("|") and line.count("|") >= 3


def is_rule(line: str) -> bool:
    """A Markdown table rule ("|---|:---:|")."""
    return bool(_TABLE_RULE.match(line))


def header_like(line: str) -> bool:
    """A table row that reads as column names: two or more cells, no figure (unless its first
    cell is the empty corner of a matrix), each at most ``HEADER_CELL_WORDS`` words without a
    sentence's punctuation ("| No. | Parameter | Range | Factory setting |"); a record's row
    states something ("| E21 | Pump blocked |")."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    named = [c for c in cells if c]
    corner = len(cells) >= 3 and not cells[0] and len(named) == len(cells) - 1
    # (an empty first cell over named columns is a matrix's corner: "|  | Tier 1 | Tier 2 |"
    # names its columns, figures and all)
    if len(named) < 2 or (any(ch.isdigit() for ch in line) and not corner):
        return False
    return all(len(c.split()) <= HEADER_CELL_WORDS and not c.endswith(("!", "?", ";", ":", ","))
               and not (c.endswith(".") and len(c.split()) > 1) for c in named)
