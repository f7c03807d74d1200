"""What a Word document's styles and numbering parts say about its paragraphs (docx.py): which
styles are headings (by the built-in names Word keeps whatever the style ids: "heading 1" is a
German Word's "berschrift1") or tables of contents, and the number or bullet Word draws before
a list paragraph, counted per list and level as Word counts them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MAX_COUNT = 100_000   # a list's start value and count stay below this (roman above 3999: digits)
_HEADING_NAME = re.compile(r"^heading ([1-9])$", re.I)
_TOC_NAME = re.compile(r"^(toc [1-9]|toc heading|table of figures)$", re.I)
_BULLETS = frozenset({"bullet", "none"})


def int_val(el: ET.Element | None, default: int, low: int = 0, high: int = 9) -> int:
    """An element's integer ``w:val``, clamped to [low, high]; ``default`` when absent or not a
    number (a hostile file's "x" or "1e9" is no crash and no billion-item count)."""
    raw = el.get(W + "val") if el is not None else None
    try:
        return min(max(int(raw), low), high) if raw is not None else default
    except ValueError:
        return default


class Styles:
    """Heading levels and list numbering of paragraph styles (styles.xml), following basedOn."""

    def __init__(self, root: ET.Element | None) -> None:
        self.level: dict[str, int] = {}
        self.num: dict[str, tuple[str, int]] = {}
        self.toc: set[str] = set()   # a table of contents' entries and title: not the manual's text
        based: dict[str, str] = {}
        if root is None:
            return
        for st in root.iter(W + "style"):
            if st.get(W + "type") != "paragraph":
                continue
            sid = st.get(W + "styleId") or ""
            name_el = st.find(W + "name")
            name = (name_el.get(W + "val") or "") if name_el is not None else ""
            if _TOC_NAME.match(name.strip()):
                self.toc.add(sid)
                continue
            m = _HEADING_NAME.match(name.strip())
            outline = st.find(f"{W}pPr/{W}outlineLvl")
            if m:
                self.level[sid] = int(m.group(1))
            elif name.strip().lower() == "title":
                self.level[sid] = 1
            elif outline is not None and int_val(outline, 9) < 9:
                self.level[sid] = int_val(outline, 9) + 1
            num = st.find(f"{W}pPr/{W}numPr")
            if num is not None:
                num_id = num.find(W + "numId")
                ilvl = num.find(W + "ilvl")
                if num_id is not None:
                    self.num[sid] = (num_id.get(W + "val") or "0", int_val(ilvl, 0, 0, 8))
            parent = st.find(W + "basedOn")
            if parent is not None and parent.get(W + "val"):
                based[sid] = parent.get(W + "val") or ""
        for sid in list(based):   # inherit what a style does not set itself (a few levels deep)
            seen, cur = {sid}, based.get(sid)
            while cur and cur not in seen:
                seen.add(cur)
                if sid not in self.level and cur in self.level:
                    self.level[sid] = self.level[cur]
                if sid not in self.num and cur in self.num:
                    self.num[sid] = self.num[cur]
                cur = based.get(cur)


class Numbering:
    """The number Word draws before a list paragraph: numbering.xml's format and text of each
    list level (``%1.``, ``%1.%2``, ``Step %1:``), counted per list and level."""

    def __init__(self, root: ET.Element | None) -> None:
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}   # numId -> ilvl -> (fmt, text, start)
        self.counters: dict[str, dict[int, int]] = {}
        if root is None:
            return
        abstract: dict[str, dict[int, tuple[str, str, int]]] = {}
        for ab in root.iter(W + "abstractNum"):
            lv: dict[int, tuple[str, str, int]] = {}
            for lvl in ab.iter(W + "lvl"):
                fmt = lvl.find(W + "numFmt")
                text = lvl.find(W + "lvlText")
                start = lvl.find(W + "start")
                try:
                    ilvl = min(max(int(lvl.get(W + "ilvl") or 0), 0), 8)
                except ValueError:
                    continue
                lv[ilvl] = (
                    (fmt.get(W + "val") if fmt is not None else "decimal") or "decimal",
                    (text.get(W + "val") if text is not None else "%1.") or "",
                    int_val(start, 1, 0, _MAX_COUNT))
            abstract[ab.get(W + "abstractNumId") or ""] = lv
        for num in root.iter(W + "num"):
            ref = num.find(W + "abstractNumId")
            if ref is not None:
                self.levels[num.get(W + "numId") or ""] = abstract.get(ref.get(W + "val") or "", {})

    def label(self, num_id: str, ilvl: int) -> str:
        levels = self.levels.get(num_id)
        if not levels or num_id == "0":
            return ""
        fmt, text, _start = levels.get(ilvl, ("bullet", "-", 1))
        count = self.counters.setdefault(num_id, {})
        count[ilvl] = min(count.get(ilvl, levels.get(ilvl, ("", "", 1))[2] - 1) + 1, _MAX_COUNT)
        for deeper in [k for k in count if k > ilvl]:
            del count[deeper]   # a deeper level starts again under the next item
        if fmt in _BULLETS:
            return "-" if fmt == "bullet" else ""

        def number(m: re.Match[str]) -> str:
            lvl = int(m.group(1)) - 1
            lfmt = levels.get(lvl, ("decimal", "", 1))[0]
            return format_number(count.get(lvl, levels.get(lvl, ("", "", 1))[2]), lfmt)
        return re.sub(r"%([1-9])", number, text).strip()


def format_number(n: int, fmt: str) -> str:
    """``n`` as a list level of format ``fmt`` draws it (decimal, letters, roman)."""
    if fmt in ("lowerLetter", "upperLetter"):
        s = ""
        while n > 0:
            n, r = divmod(n - 1, 26)
            s = chr(97 + r) + s
        return s.upper() if fmt == "upperLetter" else s
    if fmt in ("lowerRoman", "upperRoman") and 0 < n < 4000:
        vals = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"),
                (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))
        s = ""
        for v, r in vals:
            while n >= v:
                s, n = s + r, n - v
        return s.upper() if fmt == "upperRoman" else s
    return str(n)


__all__ = ["Numbering", "Styles", "W", "format_number", "int_val"]
