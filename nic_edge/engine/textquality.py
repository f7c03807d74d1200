"""Is a line of manual text readable prose, or noise a technician should not be shown?

Scanned manuals carry figure callouts ("Reverse Pedal Support Brake Pedal Shaft"), OCR debris
("N' J -- Stow Speed Shaki Lf Sten Spits"), and e-manuals carry menu-label runs ("Try Now Try
Now"). None of that answers a question. The rules are measurable properties of the line, not
lists of phrases:

* **known words**: the share of its alphabetic tokens the index knows from at least two chunks
  (``df >= 2``). OCR debris is made of one-off misreadings; prose is made of words the manual
  uses again. A unit right after its number ("240 V", "60 Hz", "4K") is neither: a short token
  of a specification, it is left out of the count (a small manual's table rows and menu paths
  were dropped as debris for their "V", "Hz" and "K"). Nor are the letters of a code glued to
  digits ("P100", "H4", "E5"), of a standard joined by slashes ("b/g/n", "km/h"), of a label in
  parentheses ("(R)", "(W x H x D)"), a unit after a degree sign ("°C", "°dH"), or an
  acronym the manual uses again ("EU"): the e-bike's "Screw ... the left pedal (L)
  anticlockwise" and a printer's "(IEEE 802.11 b/g/n)" were dropped as debris for them.
* **label run**: several tokens, (nearly) all capitalised, no function words, no sentence
  punctuation -- callouts and menu labels, not sentences. Short list items ("Clogged fuel
  filter") keep a lowercase word or are too short to count; units after numbers do not count
  as capitalised labels ("| Power supply | AC 100-240 V, 50/60 Hz |" is a row, not a callout),
  and a numbered or bulleted item ("1. Uneven Brake Pad Wear (40% probability)") is a list.
* **repetition**: the same few tokens over and over ("Try Now Try Now").
"""

from __future__ import annotations

import re
from typing import Callable

from nic_edge.engine.bm25 import STOPWORDS, UNIT_SYMBOLS, stem

_ALPHA = re.compile(r"[A-Za-z][A-Za-z'’]*")
_HYPHENATED = re.compile(r"[A-Za-z][A-Za-z'’]*(?:-[A-Za-z][A-Za-z'’]*)+")   # "Wi-Fi", "end-of-cycle"
_DIGIT = re.compile(r"\d")
_END_PUNCT = re.compile(r"[.!?:;,]\s*$")

MIN_KNOWN_SHARE = 0.6    # below: OCR debris
LABEL_MIN_TOKENS = 4     # a label run has at least this many words
LABEL_CAPS_SHARE = 0.8   # ... nearly all capitalised
MIN_ALPHA_SHARE = 0.45   # tokens with letters, of all tokens (tables of numbers stay: see below)


# A unit right after a number, at most one space between ("240 V", "50/60 Hz", "4K", "10 mm"):
# the short symbols of units (or any capitalised symbol: "30 GPH", "600 CCA"), not any short
# token after a digit (OCR debris has "48 bs"). Energy, flow, print and area units too: "625 Wh"
# (a battery), "24 vdc", "20 ppm", "4800 dpi", "5 gpm", "2 qts", "12 cu ft" -- an e-bike FAQ's
# "At 625 Wh, the battery is well above the 160 Wh limit" was dropped as debris for its two "Wh".
# UNIT_SYMBOLS: bm25.py's (a figure against its unit is two terms there)
_UNIT_AFTER_NUMBER = re.compile(r"\d\s?([A-Za-z]{1,3})\b")
# A multiplication sign between two figures with their units ("140mm x 95mm x 21mm", "10 cm x 5
# cm"): a figure with a unit ends before it, another begins after it.
_TIMES = re.compile(r"\d\s?[A-Za-z]{1,3}\s([xX])\s?(?=\d)")
# After a degree sign any short symbol is a unit: "195°F", "10 °C", "18 °dH".
_UNIT_AFTER_DEGREE = re.compile(r"\u00b0\s?([A-Za-z]{1,3})\b")
# Letters that are not words of the sentence and so cannot be OCR fragments: a code or model
# number glued to digits ("P100", "H4", "E5", "802.11ax"), a standard's letters joined by
# slashes ("b/g/n", "km/h"), a single-letter label in parentheses ("(R)", "(W x H x D)").
_CODE_TOKEN = re.compile(r"\S*(?:\d[A-Za-z]|[A-Za-z]\d|[A-Za-z]/[A-Za-z])\S*")
_LETTER_LABELS = re.compile(r"\(\s*[A-Za-z](?:\s*(?:x|,|/|or|and)?\s*[A-Za-z])*\s*\)")
# a table cell that is one tick, cross or bullet mark
_MARK_CELL = re.compile("\\|[ \t]*[\u2713\u2714\u2715\u2716\u2717\u2718\u00d7\u2022\u25cf\u25cb\u2610\u2611\u2612][ \t]*(?=\\|)")
_LIST_MARK = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|[-*\u2022])\s")


def _fragment_candidates(text: str, units: set[str]) -> list[str]:
    """The content words of ``text`` that may be OCR fragments: not stopwords or units, not a
    short part of a hyphenated word ("Wi-Fi", "x-ray"), not the letters of a code, a
    slash-joined standard or a letter label (``_CODE_TOKEN``, ``_LETTER_LABELS``)."""
    skip = [(m.start(), m.end()) for m in _HYPHENATED.finditer(text)] if "-" in text else []
    codes = [(m.start(), m.end()) for rx in (_CODE_TOKEN, _LETTER_LABELS) for m in rx.finditer(text)]
    return [w for m in _ALPHA.finditer(text)
            if (w := m.group(0)).lower() not in STOPWORDS and w not in units
            and not (len(w) <= 2 and any(a <= m.start() < b for a, b in skip))
            and not any(a <= m.start() < b for a, b in codes)]


def is_noise(text: str, known: Callable[[str], bool]) -> bool:
    """True when ``text`` (one sentence or line) is not readable prose.

    ``known(term)`` says whether the index knows a stemmed, lowercased term from >= 2 chunks.
    """
    n_tokens = len(text.split())   # (its whitespace-separated tokens)
    if not n_tokens:
        return True
    stripped = text.strip()
    row = len(stripped) > 1 and stripped[0] == "|" and stripped[-1] == "|"   # a table row
    if row and _ALPHA.search(stripped) and _MARK_CELL.search(stripped):
        # A table row of tick marks is a record: a mark is a cell's value ("| tested on hardware
        # for releases | ✔ | ✔ |  |  |"), not a symbol of OCR debris.
        return False
    words = _ALPHA.findall(text)
    digit = _DIGIT.search(text) is not None
    if n_tokens >= 4 and len(words) / n_tokens < MIN_ALPHA_SHARE and not digit:
        return True   # mostly symbols: "— -— (( ,, J". A row of figures with units still has words.
    # A unit right after its number ("240 V", "60 Hz", "4K", "10 mm") is short and may be rare,
    # but it is what a specification says, not a fragment. (Each pattern needs a digit or "°".)
    units: set[str] = set()
    if digit:
        units = {u for u in _UNIT_AFTER_NUMBER.findall(text) if u.isupper() or u.lower() in UNIT_SYMBOLS}
        if "x" in text or "X" in text:
            units |= set(_TIMES.findall(text))
    if "\u00b0" in text:
        units |= set(_UNIT_AFTER_DEGREE.findall(text))
    if units:
        words = [w for w in words if w not in units]
    # OCR debris: fragments ("Sh", "Lf", "sen") and one-off misreadings the manual never uses
    # again. A rare but real word is fine alone; debris comes in runs, with at least two
    # fragments of one or two letters. Most lines have none, and leaving out the letters that
    # are no fragments (``_fragment_candidates``) only takes some away: only then is the rest
    # looked at. An acronym the manual uses again ("EU", "UK") is short but no fragment.
    # (The short content words are counted first: most lines have fewer than two.)
    if sum(1 for w in words if len(w) <= 2 and w.lower() not in STOPWORDS) >= 2 \
            and sum(1 for w in words if w.lower() not in STOPWORDS) >= 4:
        content = _fragment_candidates(text, units)
        short = sum(1 for w in content if len(w) <= 2
                    and not (len(w) == 2 and w.isupper() and known(w.lower())))
        if len(content) >= 4 and short >= 2:
            odd = sum(1 for w in content
                      if len(w) <= 2 or not known(stem(w.lower().replace("’", "'").split("'")[0])))
            if odd / len(content) > 1 - MIN_KNOWN_SHARE:
                return True
    # A table row ("| Ports | 1 x Gigabit WAN, 4 x Gigabit LAN |") is a record, not a run of
    # labels; elsewhere units after numbers (left out of ``words`` above) do not count as
    # capitalised labels.
    if row:
        return False
    if len(words) >= LABEL_MIN_TOKENS and not _END_PUNCT.search(stripped) \
            and not _LIST_MARK.match(stripped):
        func = sum(1 for w in words if w.lower() in STOPWORDS)
        caps = sum(1 for w in words if w[0].isupper())
        if func == 0 and caps / len(words) >= LABEL_CAPS_SHARE:
            return True
        lowered = [w.lower() for w in words]
        if len(set(lowered)) * 2 <= len(lowered):  # every word at least twice on average
            return True
    return False
