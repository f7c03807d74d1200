"""Word manuals (.docx): what the document shows is indexed -- headings by their styles, list
numbers Word draws, tables as rows -- and what it does not show (deleted text, field codes, a
text box's second copy) is not; hostile packages are refused with a reason."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from nic_edge.engine.ingest import SUPPORTED_SUFFIXES, load_file, text_size
from nic_edge.engine.ingest.docx import MAX_PART_BYTES, docx_lines, parse_docx
from nic_edge.engine.ingest.structure import HEADING_MARK
from nic_edge.errors import IngestError
from tests.support.docx import NS, STYLES, make_docx

# A German Word's table-of-contents style: id "Verzeichnis1", built-in name "toc 1".
STYLES_WITH_TOC = STYLES.replace("</w:styles>", '<w:style w:type="paragraph" w:styleId="Verzeichnis1">'
                                 '<w:name w:val="toc 1"/></w:style></w:styles>')

KETTLE = [
    ("title", "Kettle KT-200"),
    ("p", "Read this manual before first use."),
    ("h1", "Safety"),
    ("p", "Do not immerse the kettle in water."),
    ("h1", "Descaling"),
    ("p", "Descale every month:"),
    ("num", "Fill with equal parts of white vinegar and water.", 0),
    ("num", "Leave it for one hour.", 0),
    ("num", "Use white vinegar only, not cleaning vinegar.", 1),
    ("num", "Rinse twice with clean water.", 0),
    ("bullet", "Keep the lid closed while it boils."),
    ("p", "After descaling, boil once and pour the water away."),
    ("h2", "Error codes"),
    ("table", [["Code", "Meaning"], ["E1", "No water in the kettle"], ["E2", "Overheated: let it cool"]]),
    ("p", "Call service for any other code."),
]


def _sections(data: bytes) -> list[tuple[str | None, list[str]]]:
    return [(s.heading, [t for _, t in s.paras]) for s in parse_docx(data)]


def test_headings_lists_and_tables_read_as_the_document_shows_them() -> None:
    sections = dict(_sections(make_docx(KETTLE)))
    # heading styles by their built-in names (these style ids are a German Word's)
    assert list(sections) == ["Kettle KT-200", "Safety", "Descaling", "Error codes"]
    assert sections["Descaling"] == [
        "Descale every month:",
        "1. Fill with equal parts of white vinegar and water.", "2. Leave it for one hour.",
        "a) Use white vinegar only, not cleaning vinegar.", "3. Rinse twice with clean water.",
        "- Keep the lid closed while it boils.",
        "After descaling, boil once and pour the water away."]
    assert sections["Error codes"] == [
        "| Code | Meaning |", "| E1 | No water in the kettle |",
        "| E2 | Overheated: let it cool |", "Call service for any other code."]


def test_each_list_counts_on_its_own_and_headings_show_their_numbers() -> None:
    data = make_docx([
        ("h1", "Filling"), ("num", "Open the lid.", 0, 1), ("num", "Fill to MAX.", 0, 1),
        ("h1", "Boiling"), ("num", "Press the switch.", 0, 3), ("num", "Wait for the click.", 0, 3),
        ("xml", '<w:p><w:pPr><w:pStyle w:val="berschrift2"/><w:numPr><w:ilvl w:val="1"/>'
                '<w:numId w:val="4"/></w:numPr></w:pPr><w:r><w:t>Cleaning the filter</w:t></w:r></w:p>'),
        ("p", "Lift the filter out and rinse it."),
    ])
    sections = dict(_sections(data))
    assert sections["Filling"] == ["1. Open the lid.", "2. Fill to MAX."]
    assert sections["Boiling"] == ["1. Press the switch.", "2. Wait for the click."]   # a new list
    assert sections["1.1 Cleaning the filter"] == ["Lift the filter out and rinse it."]


def test_what_the_document_does_not_show_is_not_text() -> None:
    paras = [
        ("h1", "Wiring"),
        # tracked changes: the deletion is gone, the insertion is text
        ("xml", '<w:p><w:r><w:t xml:space="preserve">Use a </w:t></w:r><w:del w:id="1"><w:r>'
                '<w:delText>10 A</w:delText></w:r></w:del><w:ins w:id="2"><w:r><w:t>16 A</w:t></w:r>'
                '</w:ins><w:r><w:t xml:space="preserve"> fuse.</w:t></w:r></w:p>'),
        # a field: its code is not text, its result is
        ("xml", '<w:p><w:r><w:t xml:space="preserve">See page </w:t></w:r><w:r><w:fldChar w:fldCharType="begin"/>'
                '</w:r><w:r><w:instrText> PAGEREF _Toc12 \\h </w:instrText></w:r><w:r><w:fldChar '
                'w:fldCharType="separate"/></w:r><w:r><w:t>12</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/>'
                '</w:r><w:r><w:t>.</w:t></w:r></w:p>'),
        # a text box: Word stores it twice (drawing and VML fallback); it is read once
        ("xml", '<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent>'
                '<w:p><w:r><w:t>Caution: mains voltage.</w:t></w:r></w:p></w:txbxContent></w:drawing>'
                '</mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Caution: mains voltage.'
                '</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>'),
        # a tab, a line break, a non-breaking hyphen, a hyperlink and a content control
        ("xml", '<w:p><w:r><w:t>Torque</w:t><w:tab/><w:t>2 Nm</w:t><w:br/><w:t>Cable</w:t>'
                '<w:noBreakHyphen/><w:t>tie</w:t></w:r><w:hyperlink r:id="rId9"><w:r><w:t xml:space="preserve">'
                ' (see the web)</w:t></w:r></w:hyperlink></w:p>'),
        ("xml", '<w:sdt><w:sdtPr/><w:sdtContent><w:p><w:r><w:t>Serial number: 42-7</w:t></w:r></w:p>'
                '</w:sdtContent></w:sdt>'),
    ]
    text = [t for _, t in docx_lines(make_docx(paras))]
    assert "Use a 16 A fuse." in text and not any("10 A" in t for t in text)
    assert "See page 12." in text and not any("PAGEREF" in t for t in text)
    assert text.count("Caution: mains voltage.") == 1
    assert "Torque 2 Nm" in text and "Cable-tie (see the web)" in text
    assert "Serial number: 42-7" in text


def test_a_document_without_styles_or_numbering_parts_still_reads() -> None:
    data = make_docx([("p", "Fill the tank."), ("p", "Close the cap.")], styles=False, numbering=False)
    assert [t for _, t in docx_lines(data) if t] == ["Fill the tank.", "Close the cap."]


def test_a_direct_outline_level_makes_a_heading() -> None:
    data = make_docx([("xml", '<w:p><w:pPr><w:outlineLvl w:val="0"/></w:pPr><w:r><w:t>Storage</w:t></w:r></w:p>'),
                      ("p", "Store it dry.")])
    assert docx_lines(data)[0][1] == HEADING_MARK + "Storage"


def test_docx_through_load_file_and_a_renamed_one(tmp_path: Path) -> None:
    assert ".docx" in SUPPORTED_SUFFIXES
    path = tmp_path / "kettle.docx"
    path.write_bytes(make_docx(KETTLE))
    result = load_file(path)
    [doc] = result.documents
    assert doc.kind == "docx"
    assert any("2. Leave it for one hour." in c.text for c in doc.chunks)
    # saved under a .txt name: read as the Word document it is, not refused as a ZIP
    renamed = tmp_path / "kettle.txt"
    renamed.write_bytes(make_docx(KETTLE))
    assert load_file(renamed).documents[0].kind == "docx"


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_hostile_and_damaged_packages_are_refused_with_a_reason() -> None:
    with pytest.raises(IngestError, match="without a Word document"):
        docx_lines(_zip({"photo.jpg": b"x"}))
    with pytest.raises(IngestError, match="damaged"):
        docx_lines(make_docx([], parts={"word/document.xml": "<w:document><w:body><w:p>"}))
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
              f'<w:document {NS}><w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>')
    with pytest.raises(IngestError, match="DOCTYPE"):
        docx_lines(make_docx([], parts={"word/document.xml": laughs}))


def test_a_part_that_unpacks_past_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ZIP bomb (8 MiB of spaces pack to a few KiB) is refused before it is read, by the size
    its header gives; zipfile itself reads no further than that size, and the stream counts
    what it reads as well."""
    from nic_edge.engine.ingest import docx

    monkeypatch.setattr(docx, "MAX_PART_BYTES", 2**20)
    bomb = make_docx([], parts={"word/document.xml": b" " * (8 * 2**20)})
    assert len(bomb) < 64 * 1024
    with pytest.raises(IngestError, match="unpacks to more than 1 MiB"):
        docx_lines(bomb)
    monkeypatch.setattr(docx, "MAX_SIDE_BYTES", 1024)
    with pytest.raises(IngestError, match="styles.xml unpacks to more than"):
        docx_lines(make_docx([("p", "x")]))
    assert MAX_PART_BYTES >= 32 * 2**20   # the shipped limit holds a long manual


def test_the_memory_estimate_counts_what_a_docx_unpacks_to(tmp_path: Path) -> None:
    path = tmp_path / "long.docx"
    path.write_bytes(make_docx([("p", "The pump primes itself within two minutes. " * 40)] * 400))
    assert text_size(path) > 2 * path.stat().st_size
    plain = tmp_path / "long.txt"
    plain.write_text("words " * 100, encoding="utf-8")
    assert text_size(plain) == plain.stat().st_size


def test_a_table_of_contents_is_not_indexed() -> None:
    toc_styles = STYLES_WITH_TOC
    toc_sdt = ('<w:sdt><w:sdtPr><w:docPartObj><w:docPartGallery w:val="Table of Contents"/>'
               '</w:docPartObj></w:sdtPr><w:sdtContent><w:p><w:r><w:t>Contents</w:t></w:r></w:p>'
               '<w:p><w:r><w:t>Safety 2</w:t></w:r></w:p></w:sdtContent></w:sdt>')
    toc_style = ('<w:p><w:pPr><w:pStyle w:val="Verzeichnis1"/></w:pPr><w:r><w:t>Descaling 3</w:t></w:r></w:p>')
    data = make_docx([("xml", toc_sdt), ("xml", toc_style), ("h1", "Safety"), ("p", "Unplug it first.")],
                     parts={"word/styles.xml": toc_styles})
    assert [t for _, t in docx_lines(data) if t] == [HEADING_MARK + "Safety", "Unplug it first."]


def test_nested_tables_are_their_cell_s_text_once() -> None:
    inner = ('<w:tbl><w:tr><w:tc><w:p><w:r><w:t>M4</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>2 Nm</w:t>'
             '</w:r></w:p></w:tc></w:tr></w:tbl>')
    outer = (f'<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Screws</w:t></w:r></w:p></w:tc><w:tc>{inner}</w:tc></w:tr>'
             '</w:tbl>')
    assert [t for _, t in docx_lines(make_docx([("xml", outer)])) if t] == ["| Screws | M4 2 Nm |"]


def test_elements_nested_thousands_deep_are_read_without_recursion() -> None:
    depth = 5000
    runs = "<w:hyperlink>" * depth + "<w:r><w:t>Deep text.</w:t></w:r>" + "</w:hyperlink>" * depth
    sdts = "<w:sdt><w:sdtContent>" * depth + "<w:p><w:r><w:t>In a control.</w:t></w:r></w:p>" \
        + "</w:sdtContent></w:sdt>" * depth
    lines = [t for _, t in docx_lines(make_docx([("xml", f"<w:p>{runs}</w:p>"), ("xml", sdts)])) if t]
    assert lines == ["Deep text.", "In a control."]


def test_the_document_is_streamed_not_held_whole() -> None:
    import tracemalloc
    import xml.etree.ElementTree as ET

    data = make_docx([("p", f"Paragraph {i} tells the technician what to check next.") for i in range(20000)])
    tracemalloc.start()
    try:
        lines = docx_lines(data)
        streamed = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
        tracemalloc.reset_peak()
        ET.fromstring(xml)
        whole = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len([t for _, t in lines if t]) == 20000
    # the lines themselves are most of what streaming holds; the whole tree is several times that
    assert streamed < 0.5 * whole


def test_merged_cells_stand_under_their_column_names() -> None:
    def tc(text: str, props: str = "") -> str:
        return f"<w:tc><w:tcPr>{props}</w:tcPr><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"
    restart, cont = '<w:vMerge w:val="restart"/>', "<w:vMerge/>"
    rows = [tc("Group") + tc("Item") + tc("Value"),
            tc("Power", restart) + tc("Voltage") + tc("5 V"),
            tc("", cont) + tc("Current") + tc("3 A"),
            tc("", '<w:vMerge w:val="continue"/>') + tc("Standby") + tc("0.5 W"),
            tc("Weight") + tc("285 g", '<w:gridSpan w:val="2"/>'),
            tc("", cont) + tc("Orphan") + tc("merge")]   # continues nothing above it: an empty cell
    table = "<w:tbl>" + "".join(f"<w:tr>{r}</w:tr>" for r in rows) + "</w:tbl>"
    # before, the merged cell's continuations were empty: "| | Current | 3 A |"
    assert [t for _, t in docx_lines(make_docx([("xml", table)])) if t] == [
        "| Group | Item | Value |", "| Power | Voltage | 5 V |", "| Power | Current | 3 A |",
        "| Power | Standby | 0.5 W |", "| Weight | 285 g |  |", "|  | Orphan | merge |"]
