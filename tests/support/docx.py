"""A small Word (.docx) writer for tests and evaluation tools: the package parts Word itself
writes (content types, relationships, styles with the built-in names, numbering definitions),
and a body of headings, paragraphs, list items numbered by Word (the numbers are not in the
text) and tables. Raw XML may be passed for the odd cases (tracked changes, text boxes)."""

from __future__ import annotations

import io
import zipfile
from typing import Sequence
from xml.sax.saxutils import escape

NS = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
      'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
      'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>
<Override PartName="/word/numbering.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml"/>
</Types>"""

RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
</Relationships>"""

# Style ids as a German Word writes them; the names are the built-in English ones Word keeps.
STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles {NS}>
<w:style w:type="paragraph" w:default="1" w:styleId="Standard"><w:name w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Titel"><w:name w:val="Title"/><w:basedOn w:val="Standard"/></w:style>
<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/><w:basedOn w:val="Standard"/>
<w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/><w:basedOn w:val="Standard"/>
<w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Listenabsatz"><w:name w:val="List Paragraph"/><w:basedOn w:val="Standard"/></w:style>
<w:style w:type="paragraph" w:styleId="Aufzhlungszeichen"><w:name w:val="List Bullet"/><w:basedOn w:val="Standard"/>
<w:pPr><w:numPr><w:numId w:val="2"/></w:numPr></w:pPr></w:style>
<w:style w:type="character" w:styleId="Fett"><w:name w:val="Strong"/></w:style>
</w:styles>"""

NUMBERING = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:numbering {NS}>
<w:abstractNum w:abstractNumId="0">
<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="%2)"/></w:lvl>
</w:abstractNum>
<w:abstractNum w:abstractNumId="1">
<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="bullet"/><w:lvlText w:val="\uf0b7"/></w:lvl>
</w:abstractNum>
<w:abstractNum w:abstractNumId="2">
<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1"/></w:lvl>
<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%2"/></w:lvl>
</w:abstractNum>
<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>
<w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>
<w:num w:numId="3"><w:abstractNumId w:val="0"/></w:num>
<w:num w:numId="4"><w:abstractNumId w:val="2"/></w:num>
</w:numbering>"""

Block = tuple   # ("h1", text) | ("p", text) | ("num", text, level, list_id) | ("bullet", text)
#               (list ids 1 and 3 share one definition, 4 numbers "1", "1.1"; ids above 4 are
#               each a new list numbered like 1)
#               | ("table", rows, header) | ("xml", raw paragraph XML)


def _run(text: str) -> str:
    parts = text.split("\t")
    runs = "<w:tab/>".join(f'<w:t xml:space="preserve">{escape(p)}</w:t>' for p in parts)
    return f"<w:r>{runs}</w:r>"


def _para(text: str, style: str = "", num: tuple[int, int] | None = None) -> str:
    props = ""
    if style or num:
        numpr = (f'<w:numPr><w:ilvl w:val="{num[1]}"/><w:numId w:val="{num[0]}"/></w:numPr>' if num else "")
        pstyle = f'<w:pStyle w:val="{style}"/>' if style else ""
        props = f"<w:pPr>{pstyle}{numpr}</w:pPr>"
    return f"<w:p>{props}{_run(text)}</w:p>"


def _table(rows: Sequence[Sequence[str]], header: bool) -> str:
    out = ["<w:tbl><w:tblPr><w:tblStyle w:val=\"Tabellenraster\"/></w:tblPr><w:tblGrid/>"]
    for i, row in enumerate(rows):
        trpr = "<w:trPr><w:tblHeader/></w:trPr>" if header and i == 0 else ""
        cells = "".join(f"<w:tc><w:tcPr/>{_para(c)}</w:tc>" for c in row)
        out.append(f"<w:tr>{trpr}{cells}</w:tr>")
    out.append("</w:tbl>")
    return "".join(out)


def document_xml(blocks: Sequence[Block]) -> str:
    body: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2"):
            body.append(_para(b[1], "berschrift1" if kind == "h1" else "berschrift2"))
        elif kind == "title":
            body.append(_para(b[1], "Titel"))
        elif kind == "p":
            body.append(_para(b[1]))
        elif kind == "num":
            body.append(_para(b[1], "Listenabsatz", (b[3] if len(b) > 3 else 1, b[2] if len(b) > 2 else 0)))
        elif kind == "bullet":
            body.append(_para(b[1], "Aufzhlungszeichen"))
        elif kind == "table":
            body.append(_table(b[1], b[2] if len(b) > 2 else True))
        elif kind == "xml":
            body.append(b[1])
        else:
            raise ValueError(kind)
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document {NS}><w:body>'
            + "".join(body) + "<w:sectPr/></w:body></w:document>")


def make_docx(blocks: Sequence[Block], parts: dict[str, str | bytes] | None = None,
              styles: bool = True, numbering: bool = True) -> bytes:
    """The bytes of a .docx holding ``blocks``; ``parts`` adds or replaces package parts."""
    files: dict[str, str | bytes] = {"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": RELS,
                                     "word/document.xml": document_xml(blocks)}
    if styles:
        files["word/styles.xml"] = STYLES
    if numbering:
        # list ids past the four defined above: each a list of its own, numbered "1." like list 1
        extra = sorted({b[3] for b in blocks if b[0] == "num" and len(b) > 3 and b[3] > 4})
        nums = "".join(f'<w:num w:numId="{i}"><w:abstractNumId w:val="0"/></w:num>' for i in extra)
        files["word/numbering.xml"] = NUMBERING.replace("</w:numbering>", nums + "</w:numbering>")
    files.update(parts or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return buf.getvalue()
