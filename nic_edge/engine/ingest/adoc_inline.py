"""AsciiDoc inline markup read as Asciidoctor renders it (adoc.py reads the blocks).

What a line shows, in the order Asciidoctor substitutes: passthroughs (``+x+``, ``++x++``,
``pass:[x]``) and escaped marks (``\\*``) as written; ``{attribute}`` references by their values
(an unknown one stays as written, as Asciidoctor shows it); ``monospace`` as written; links,
cross references and ``kbd:``/``btn:``/``menu:`` macros by their words; footnotes, anchors,
index terms and icons out; *strong*, _emphasis_, #marked#, ^super^ and ~sub~ text by their text.
Every pattern stops at the next mark of its kind, and the paired marks are found with
delimited.py, so a line is read in one pass however its marks are left open.
"""

from __future__ import annotations

import re

from nic_edge.engine.ingest import delimited
from nic_edge.engine.ingest.delimited import Delim
from nic_edge.engine.ingest.ocr import normalize_line

# what a line may not hold for the hiding below (Supplementary Private Use Area-A, drawn by no font)
_PRIVATE = re.compile("[\U000F0000-\U000FFFFF]")
_HIDE_BASE = 0xF0000
_MAX_HIDDEN = 0xFFFD
_SHOWN = re.compile("[\U000F0000-\U000FFFFD]")

BUILTIN = {"nbsp": "\u00a0", "sp": " ", "empty": "", "zwsp": "", "amp": "&", "lt": "<", "gt": ">",
           "plus": "+", "startsb": "[", "endsb": "]", "vbar": "|", "caret": "^", "asterisk": "*",
           "tilde": "~", "apostrophe": "'", "apos": "'", "quot": '"', "backslash": "\\",
           "backtick": "`", "two-colons": "::", "two-semicolons": ";;", "cpp": "C++", "deg": "\u00b0",
           "brvbar": "\u00a6", "ldquo": "\u201c", "rdquo": "\u201d", "lsquo": "\u2018",
           "rsquo": "\u2019", "cxx": "C++", "pp": "++"}
_PASS = re.compile(r"\+\+\+([^+]+(?:\+{1,2}[^+]+)*)\+\+\+|\+\+([^+]+(?:\+[^+]+)*)\+\+"
                   r"|(?<![\w+])\+([^\s+](?:[^+]*[^\s+])?)\+(?![\w+])|pass:[a-z,]*\[([^\[\]]*)\]")
_ESCAPED = re.compile(r"\\([*_#^~`+{}\[\]<>|\\:])")
_ATTR_REF = re.compile(r"\{([A-Za-z0-9_][\w-]*)\}")
_WORD_OR = re.compile(r"[\w;:\"'`}]")
_WORD = re.compile(r"[\w\"'`]")
_MONO = (Delim("``"), Delim("`", _WORD_OR, _WORD))
_URL = re.compile(r"(?<![\w/])((?:https?|ftp|irc|file|mailto):[^\s\[\]<>]+)\[([^\[\]]*)\]")
_LINK = re.compile(r"\blink:([^\s\[\]]+)\[([^\[\]]*)\]")
_XREF = re.compile(r"\bxref:([^\s\[\]]+)\[([^\[\]]*)\]")
_REF = re.compile(r"<<([^<>,\s][^<>,]*)(?:,\s*([^<>]*))?>>")
_KEYS = re.compile(r"\b(?:kbd|btn):\[([^\[\]]*)\]")
_MENU = re.compile(r"\bmenu:([^\s\[\]]+)\[([^\[\]]*)\]")
_MATH = re.compile(r"\b(?:stem|latexmath|asciimath):\[([^\[\]]*)\]")
_IMAGE = re.compile(r"\bimage:(?!:)([^\s\[\]]+)\[([^\[\]]*)\]")
_DROPPED = re.compile(r"\b(?:footnote|footnoteref|indexterm|icon|anchor):[\w.-]*\[[^\[\]]*\]"
                      r"|\[\[[^\[\]]*\]\]|\(\(\([^()]*\)\)\)")
_INDEX_TERM = re.compile(r"\(\(([^()]+)\)\)")
_BARE_URL = re.compile(r"(?<![\w/])(?:https?|ftp|file)://[^\s\[\]<>]+")
_ROLE = re.compile(r"\[[.#%]?[\w.#% -]*\](?=[*_#`])")
_QUOTE_BEFORE = re.compile(r"[\w;:}]")
_WORD_AFTER = re.compile(r"\w")
_STRONG = (Delim("**"), Delim("*", _QUOTE_BEFORE, _WORD_AFTER))
_EMPH = (Delim("__"), Delim("_", _QUOTE_BEFORE, _WORD_AFTER))
_MARK = (Delim("##"), Delim("#", _QUOTE_BEFORE, _WORD_AFTER))
_SUPER = re.compile(r"\^([^\s^]+)\^")
_SUB = re.compile(r"~([^\s~]+)~")


def link_text(target: str, text: str) -> str:
    """What a link shows: its text (its first attribute; "^" asks for a new window), else its
    target."""
    text = text.strip()
    if text.startswith('"') and '"' in text[1:]:
        text = text[1:text.index('"', 1)]
    else:
        text = re.split(r",\s*\w+=", text, maxsplit=1)[0]
    text = text.rstrip("^").strip()
    return text or target.removeprefix("mailto:")


def _ref_name(target: str, titles: dict[str, str]) -> str:
    """A cross reference with no text shows its target's title (this file's sections), else the
    id read as words."""
    frag = target.split("#", 1)[1] if "#" in target else target
    frag = frag.removesuffix(".adoc")
    key = re.sub(r"[\W_]+", " ", frag).strip().lower()
    return titles.get(key) or key or target


def id_key(text: str) -> str:
    """The key a section's title or id is found by (Asciidoctor's ids: "_boot_options",
    "boot-options")."""
    return re.sub(r"[\W_]+", " ", text).strip().lower()


class _Hidden:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def __call__(self, text: str) -> str:
        if len(self.parts) >= _MAX_HIDDEN:
            return text
        self.parts.append(text)
        return chr(_HIDE_BASE + len(self.parts) - 1)

    def show(self, text: str) -> str:
        if not self.parts:
            return text
        for _ in range(3):   # a hidden part may hold another (an attribute in a passthrough)
            text = _SHOWN.sub(lambda m: self.parts[ord(m.group()) - _HIDE_BASE]
                              if ord(m.group()) - _HIDE_BASE < len(self.parts) else "", text)
            if not _PRIVATE.search(text):
                break
        return text


def render(text: str, attrs: dict[str, str], titles: dict[str, str]) -> str:
    """One line of AsciiDoc text as the page shows it."""
    text = _PRIVATE.sub("", text)
    hide = _Hidden()
    if "+" in text or "pass:" in text:
        text = _PASS.sub(lambda m: hide(next(g for g in m.groups() if g is not None)), text)
    if "\\" in text:
        text = _ESCAPED.sub(lambda m: hide(m.group(1)), text)
    if "{" in text:
        text = _ATTR_REF.sub(lambda m: _attribute(m, attrs, hide), text)
    if "`" in text:
        text = delimited.subn(text, _MONO, lambda _d, inner: hide(inner))[0]
    if ":" in text:
        text = _URL.sub(lambda m: hide(link_text(m.group(1), m.group(2))), text)
        text = _LINK.sub(lambda m: link_text(m.group(1), m.group(2)), text)
        text = _XREF.sub(lambda m: link_text("", m.group(2)) if m.group(2).strip()
                         else _ref_name(m.group(1), titles), text)
        text = _KEYS.sub(lambda m: m.group(1).strip(), text)
        text = _MENU.sub(lambda m: " > ".join([m.group(1)] + [p.strip() for p in m.group(2).split(">")
                                                               if p.strip()]), text)
        text = _MATH.sub(lambda m: m.group(1), text)
        text = _IMAGE.sub(lambda m: link_text("", m.group(2)), text)
        text = _BARE_URL.sub(lambda m: hide(m.group(0)), text)
    if "<<" in text:
        text = _REF.sub(lambda m: (m.group(2) or "").strip() or _ref_name(m.group(1), titles), text)
    if "[" in text or "((" in text:
        text = _DROPPED.sub("", text)
        text = _INDEX_TERM.sub(lambda m: m.group(1), text)
        text = _ROLE.sub("", text)
    for marks in (_STRONG, _EMPH, _MARK):
        if marks[1].mark in text:
            text = delimited.subn(text, marks, lambda _d, inner: inner)[0]
    if "^" in text:
        text = _SUPER.sub(lambda m: m.group(1), text)
    if "~" in text:
        text = _SUB.sub(lambda m: m.group(1), text)
    return normalize_line(hide.show(text))


def _attribute(m: re.Match[str], attrs: dict[str, str], hide: _Hidden) -> str:
    name = m.group(1).lower()
    if name in attrs:
        return attrs[name]
    if name in BUILTIN:
        return hide(BUILTIN[name])
    return hide(m.group(0))


__all__ = ["BUILTIN", "id_key", "link_text", "render"]
