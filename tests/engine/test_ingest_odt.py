"""OpenDocument text manuals (.odt): headings, numbered lists counted as the list style draws
them, tables one row a line; footnotes, comments, tracked deletions and tables of contents are
not text; hostile packages are refused as for Word (package.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine.ingest import SUPPORTED_SUFFIXES, load_file, text_size
from nic_edge.engine.ingest.odt import odt_lines, parse_odt
from nic_edge.engine.ingest.structure import HEADING_MARK
from nic_edge.errors import IngestError
from tests.support.odt import NS, make_odt

KETTLE = [
    ("title", "Kettle KT-200"), ("p", "Read this manual before first use."),
    ("h1", "Descaling"), ("p", "Descale every month:"),
    ("num", ["Fill with equal parts of white vinegar and water.",
             ("Leave it for one hour.", ["Use white vinegar only.", "not cleaning vinegar"]),
             "Rinse twice."]),
    ("p", "If scale remains:"), ("num", ["Repeat once more."], True),
    ("bullet", ["Keep the lid closed while it boils."]),
    ("h2", "Error codes"), ("table", [["Code", "Meaning"], ["E1", "No water"], ["E2", "Overheated"]]),
]


def test_headings_lists_and_tables_read_as_the_document_shows_them() -> None:
    sections = {s.heading: [t for _, t in s.paras] for s in parse_odt(make_odt(KETTLE))}
    assert list(sections) == ["Kettle KT-200", "Descaling", "Error codes"]
    assert sections["Descaling"] == [
        "Descale every month:", "1. Fill with equal parts of white vinegar and water.",
        "2. Leave it for one hour.", "a) Use white vinegar only.", "b) not cleaning vinegar",
        "3. Rinse twice.", "If scale remains:", "4. Repeat once more.",   # the list goes on
        "- Keep the lid closed while it boils."]
    assert sections["Error codes"] == ["| Code | Meaning |", "| E1 | No water |", "| E2 | Overheated |"]


def test_what_the_document_does_not_show_is_not_text() -> None:
    body = [
        ("h1", "Wiring"),
        ("xml", '<text:tracked-changes><text:changed-region text:id="c1"><text:deletion>'
                '<text:p>Use a 10 A fuse.</text:p></text:deletion></text:changed-region></text:tracked-changes>'),
        ("xml", '<text:p>Use a<text:s/>16<text:s text:c="3"/>A fuse.<text:note text:note-class="footnote">'
                '<text:note-citation>1</text:note-citation><text:note-body><text:p>Or 15 A.</text:p>'
                '</text:note-body></text:note><office:annotation><text:p>Check this</text:p></office:annotation></text:p>'),
        ("xml", '<text:table-of-content><text:index-body><text:p>Wiring 3</text:p></text:index-body></text:table-of-content>'),
        ("xml", '<text:p>Torque<text:tab/>2 Nm<text:line-break/>Cable tie</text:p>'),
        ("xml", '<text:section text:name="S1"><text:p>In a section.</text:p></text:section>'),
    ]
    lines = [t for _, t in odt_lines(make_odt(body)) if t]
    assert lines == [HEADING_MARK + "Wiring", "Use a 16 A fuse.", "Torque 2 Nm", "Cable tie", "In a section."]


def test_through_load_file_and_a_renamed_one(tmp_path: Path) -> None:
    assert ".odt" in SUPPORTED_SUFFIXES
    path = tmp_path / "kettle.odt"
    path.write_bytes(make_odt(KETTLE))
    [doc] = load_file(path).documents
    assert doc.kind == "odt" and any("2. Leave it for one hour." in c.text for c in doc.chunks)
    renamed = tmp_path / "kettle.txt"
    renamed.write_bytes(make_odt(KETTLE))
    assert load_file(renamed).documents[0].kind == "odt"
    assert text_size(path) >= path.stat().st_size


def test_hostile_and_damaged_packages_are_refused_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from nic_edge.engine.ingest import odt

    with pytest.raises(IngestError, match="without an OpenDocument text"):
        odt_lines(make_odt([], parts={}) .replace(b"content.xml", b"contents.xm"))
    with pytest.raises(IngestError, match="damaged"):
        odt_lines(make_odt([], parts={"content.xml": "<office:document-content><office:body>"}))
    laughs = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
              f'<office:document-content {NS}><office:body><office:text><text:p>&a;</text:p>'
              '</office:text></office:body></office:document-content>')
    with pytest.raises(IngestError, match="DOCTYPE"):
        odt_lines(make_odt([], parts={"content.xml": laughs}))
    monkeypatch.setattr(odt, "MAX_PART_BYTES", 2**20)
    with pytest.raises(IngestError, match="unpacks to more than 1 MiB"):
        odt_lines(make_odt([("p", "x" * (3 * 2**20))]))


def test_lists_nested_thousands_deep_are_read_without_recursion() -> None:
    depth = 3000
    nested = "<text:list><text:list-item>" * depth + "<text:p>Deep item.</text:p>" + \
        "</text:list-item></text:list>" * depth
    spans = "<text:p>" + "<text:span>" * depth + "Deep text." + "</text:span>" * depth + "</text:p>"
    lines = [t for _, t in odt_lines(make_odt([("xml", nested), ("xml", spans)])) if t]
    assert lines[-1] == "Deep text." and len(lines) <= 2


def test_header_rows_count_and_a_nested_table_is_its_cell_s_text_once() -> None:
    inner = ('<table:table><table:table-row><table:table-cell><text:p>M4</text:p></table:table-cell>'
             '<table:table-cell><text:p>2 Nm</text:p></table:table-cell></table:table-row></table:table>')
    outer = ('<table:table><table:table-header-rows><table:table-row><table:table-cell><text:p>Part</text:p>'
             '</table:table-cell><table:table-cell><text:p>Torque</text:p></table:table-cell></table:table-row>'
             '</table:table-header-rows><table:table-row><table:table-cell><text:p>Screws</text:p>'
             f'</table:table-cell><table:table-cell>{inner}</table:table-cell></table:table-row></table:table>')
    assert [t for _, t in odt_lines(make_odt([("xml", outer)])) if t] == ["| Part | Torque |", "| Screws | M4 2 Nm |"]


def test_merged_cells_stand_under_their_column_names() -> None:
    def cell(text: str, attrs: str = "") -> str:
        return f"<table:table-cell {attrs}><text:p>{text}</text:p></table:table-cell>"
    covered = "<table:covered-table-cell/>"
    rows = [cell("Group") + cell("Item") + cell("Value"),
            cell("Power", 'table:number-rows-spanned="2"') + cell("Voltage") + cell("5 V"),
            covered + cell("Current") + cell("3 A"),
            cell("Weight") + cell("285 g", 'table:number-columns-spanned="2"') + covered,
            cell("Size", 'table:number-rows-spanned="x"') + cell("Width") + cell("14 cm")]
    table = "<table:table>" + "".join(f"<table:table-row>{r}</table:table-row>" for r in rows) + "</table:table>"
    # before, the covered cell was skipped: "| Current | 3 A |" stood under "Group" and "Item"
    assert [t for _, t in odt_lines(make_odt([("xml", table)])) if t] == [
        "| Group | Item | Value |", "| Power | Voltage | 5 V |", "| Power | Current | 3 A |",
        "| Weight | 285 g |  |", "| Size | Width | 14 cm |"]


def test_repeated_cells_and_rows_are_read_as_many_times_as_they_stand_for() -> None:
    """A run of equal cells or rows is written once with a count (``number-columns-repeated``,
    ``number-rows-repeated``): before, "Yes" under three columns was read once and the next cell
    stood under the second column's name."""
    def cell(text: str, attrs: str = "") -> str:
        return f"<table:table-cell {attrs}><text:p>{text}</text:p></table:table-cell>" if text else \
            f"<table:table-cell {attrs}/>"
    rows = [("", cell("Feature") + cell("S") + cell("M") + cell("L") + cell("Note")),
            ("", cell("Wi-Fi") + cell("Yes", 'table:number-columns-repeated="3"') + cell("2.4 GHz")),
            ('table:number-rows-repeated="2"', cell("Spare") + cell("-", 'table:number-columns-repeated="3"')
             + cell("")),
            ("", cell("Weight") + cell("", 'table:number-columns-repeated="2"') + cell("4 kg") + cell("")
             + cell("", 'table:number-columns-repeated="1020"')),
            ('table:number-rows-repeated="1048570"', cell("", 'table:number-columns-repeated="1024"'))]
    table = "<table:table>" + "".join(f"<table:table-row {a}>{r}</table:table-row>" for a, r in rows) + "</table:table>"
    assert [t for _, t in odt_lines(make_odt([("xml", table)])) if t] == [
        "| Feature | S | M | L | Note |", "| Wi-Fi | Yes | Yes | Yes | 2.4 GHz |",
        "| Spare | - | - | - |  |", "| Spare | - | - | - |  |", "| Weight |  |  | 4 kg |  |  |"]


def test_repeats_cannot_multiply_a_table_s_text() -> None:
    big = "<table:table-cell table:number-columns-repeated=\"999999\"><text:p>" + "x" * 50 + \
        "</text:p></table:table-cell>"
    table = f'<table:table><table:table-row table:number-rows-repeated="999999">{big}</table:table-row></table:table>'
    text = "\n".join(t for _, t in odt_lines(make_odt([("xml", table)])))
    assert 50 <= text.count("x") <= 3 * 50
