"""A small OpenDocument text (.odt) writer for tests and evaluation tools: the package as
LibreOffice writes it (the mimetype stored first, a manifest, styles.xml with a "Title"
paragraph style and a named numbered list style, content.xml whose automatic styles come
before the body), and a body of headings, paragraphs, lists numbered by their style and tables.
Raw XML may be passed for the odd cases (tracked changes, notes, tables of contents)."""

from __future__ import annotations

import io
import zipfile
from typing import Sequence
from xml.sax.saxutils import escape

NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
      'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
      'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
      'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
      'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
      'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.3"')

MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">
<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"""

STYLES = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-styles {NS}><office:styles>
<style:style style:name="Standard" style:family="paragraph"/>
<style:style style:name="Title" style:display-name="Title" style:family="paragraph" style:parent-style-name="Standard"/>
<text:list-style style:name="Numbering_20_123" style:display-name="Numbering 123">
<text:list-level-style-number text:level="1" style:num-suffix="." style:num-format="1"/>
<text:list-level-style-number text:level="2" style:num-suffix=")" style:num-format="a"/>
</text:list-style>
</office:styles></office:document-styles>"""

AUTOMATIC = """<office:automatic-styles>
<style:style style:name="P1" style:family="paragraph" style:parent-style-name="Title"/>
<text:list-style style:name="L1"><text:list-level-style-bullet text:level="1" text:bullet-char="•"/></text:list-style>
</office:automatic-styles>"""

Block = tuple   # ("title"|"h1"|"h2"|"p", text) | ("num", [items or (item, [subitems])], continue)
#               | ("bullet", [items]) | ("table", rows) | ("xml", raw body XML)


def _p(text: str, style: str = "Standard") -> str:
    parts = escape(text).split("\t")
    return f'<text:p text:style-name="{style}">' + "<text:tab/>".join(parts) + "</text:p>"


def _list(items: Sequence, style: str, cont: bool = False) -> str:
    out = [f'<text:list text:style-name="{style}"' + (' text:continue-numbering="true"' if cont else "") + ">"]
    for item in items:
        text, sub = (item, None) if isinstance(item, str) else item
        inner = _p(text) + (_list(sub, style) if sub else "")
        out.append(f"<text:list-item>{inner}</text:list-item>")
    out.append("</text:list>")
    return "".join(out)


def content_xml(blocks: Sequence[Block]) -> str:
    body: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2"):
            body.append(f'<text:h text:outline-level="{kind[1]}">{escape(b[1])}</text:h>')
        elif kind == "title":
            body.append(_p(b[1], "P1"))
        elif kind == "p":
            body.append(_p(b[1]))
        elif kind == "num":
            body.append(_list(b[1], "Numbering_20_123", len(b) > 2 and b[2]))
        elif kind == "bullet":
            body.append(_list(b[1], "L1"))
        elif kind == "table":
            rows = "".join("<table:table-row>" + "".join(f"<table:table-cell>{_p(c)}</table:table-cell>"
                                                        for c in row) + "</table:table-row>" for row in b[1])
            body.append(f'<table:table table:name="T1"><table:table-column/>{rows}</table:table>')
        elif kind == "xml":
            body.append(b[1])
        else:
            raise ValueError(kind)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {NS}>{AUTOMATIC}'
            '<office:body><office:text><text:sequence-decls><text:sequence-decl text:name="Table"/>'
            "</text:sequence-decls>" + "".join(body) + "</office:text></office:body></office:document-content>")


def make_odt(blocks: Sequence[Block], parts: dict[str, str | bytes] | None = None) -> bytes:
    files: dict[str, str | bytes] = {"META-INF/manifest.xml": MANIFEST, "styles.xml": STYLES,
                                     "content.xml": content_xml(blocks)}
    files.update(parts or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text",
                    compress_type=zipfile.ZIP_STORED)
        for name, data in files.items():
            zf.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return buf.getvalue()
