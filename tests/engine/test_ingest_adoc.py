"""AsciiDoc manuals (.adoc): read as the built page shows them -- titles give the sections,
admonitions keep their label, code stays as written, lists keep their marks and numbers,
tables are read one row a line -- and what the page does not show (comments, attribute entries,
block attributes, includes, images, anchors, the author line) is not indexed."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine.ingest import SUPPORTED_SUFFIXES, load_file
from nic_edge.engine.ingest.adoc import adoc_lines, parse_adoc
from nic_edge.engine.ingest.structure import HEADING_MARK
from nic_edge.errors import IngestError

PAGE = """= Pump Controller PC-200 Manual
Jane Fitter <jane@example.com>
v2.1, 2026-01-10
:toc: left
:product: PC-200
:url-support: https://example.com/support

// an editor's note the page does not show

== Installing the {product}

Mount the {product} on a *dry* wall, at least 300 mm above the floor.
See xref:wiring.adoc#mains[the wiring chapter] and <<cleaning>>.

NOTE: The controller must be powered off while it is wired.

[WARNING]
====
Never connect mains voltage to the sensor terminals.
====

.Mounting steps
. Drill two 6 mm holes, 120 mm apart.
. Fit the wall plugs.
.. Use the plugs from the box.
. Hang the controller and tighten the screws.

image::mounting.png[Mounting plate]

////
A comment block: internal, not shown.
////

[source,bash]
----
sudo pc200-setup --mode auto   # <1>
----
<1> Starts the automatic set-up.

Press kbd:[Ctrl+R] or btn:[Reset], then choose menu:Settings[Network > Wi-Fi].
Contact {url-support}[support^] for spare parts.

[[cleaning]]
== Cleaning the filter

Flow rate:: 12 l/min at 2 bar
Filter:: replace every 6 months

[cols="1,2", options="header"]
|===
|Code |Meaning

|E-21
|Dry run: the inlet is blocked.

|E-22 |Sensor fault
|===

include::appendix.adoc[]
"""


def _sections(text: str) -> list[tuple[str | None, list[str]]]:
    return [(s.heading, [t for _, t in s.paras if t]) for s in parse_adoc(text)]


def test_a_page_reads_as_its_site_shows_it() -> None:
    sections = _sections(PAGE)
    # the document title heads no text of its own here (its header lines are not shown)
    assert [h for h, _ in sections] == ["Installing the PC-200", "Cleaning the filter"]
    assert adoc_lines(PAGE)[0][1] == HEADING_MARK + "Pump Controller PC-200 Manual"
    text = "\n".join(line for _, lines in sections for line in lines)
    for shown in ("Mount the PC-200 on a dry wall, at least 300 mm above the floor.",
                  "See the wiring chapter and Cleaning the filter.",
                  "Note: The controller must be powered off while it is wired.",
                  "Warning:", "Never connect mains voltage to the sensor terminals.",
                  "Mounting steps", "1. Drill two 6 mm holes, 120 mm apart.", "2. Fit the wall plugs.",
                  "1. Use the plugs from the box.", "3. Hang the controller and tighten the screws.",
                  "sudo pc200-setup --mode auto", "(1) Starts the automatic set-up.",
                  "Press Ctrl+R or Reset, then choose Settings > Network > Wi-Fi.",
                  "Contact support for spare parts.",
                  "Flow rate: 12 l/min at 2 bar", "Filter: replace every 6 months",
                  "| Code | Meaning |", "| E-21 | Dry run: the inlet is blocked. |", "| E-22 | Sensor fault |"):
        assert shown in text, shown
    for hidden in ("Jane", "v2.1", ":toc:", "editor's note", "comment block", "[WARNING]", "====",
                   "image::", "mounting.png", "[[cleaning]]", "include::", "appendix", "<1>", "*dry*",
                   "{product}", "xref:", "kbd:", "[source"):
        assert hidden not in text, hidden


def test_conditional_lines_follow_the_attributes_the_file_sets() -> None:
    page = """== Setup
:model-b:

ifdef::model-b[]
Model B has two ports.
endif::[]
ifndef::model-b[]
Model A has one port.
endif::[]
ifdef::env-github[Seen on GitHub only.]
ifeval::[{x} > 1]
Kept: the expression is not evaluated here.
endif::[]
"""
    lines = [t for _, t in adoc_lines(page) if t]
    assert "Model B has two ports." in lines and "Kept: the expression is not evaluated here." in lines
    assert not any("Model A" in t or "GitHub" in t or "endif" in t for t in lines)


def test_tables_of_spanning_cells_csv_and_cols() -> None:
    page = """== Pins

[cols="3*"]
|===
|Pin |Use |Voltage
2+|GPIO1 and GPIO2 |3.3 V
.2+|GPIO3 |UART RX |3.3 V
|UART TX |3.3 V
|===

,===
Model,Current
Pi 4,3.0A
,===
"""
    lines = [t for _, t in adoc_lines(page) if t]
    assert lines[1:] == ["| Pin | Use | Voltage |", "| GPIO1 and GPIO2 | 3.3 V |", "| GPIO3 | UART RX | 3.3 V |",
                         "| UART TX | 3.3 V |", "| Model | Current |", "| Pi 4 | 3.0A |"]


def test_inline_markup_is_read_by_its_text() -> None:
    lines = [t for _, t in adoc_lines(
        "== T\n\nSet `boot_order` to *0xf41* (_not_ `0x1`), see https://rpi.example/boot[the boot docs]"
        " or https://rpi.example/x_y_z. H~2~O and x^2^; a +*literal*+ and \\*escaped* star.\n"
        "Use pass:[<b>raw</b>] and [.underline]#marked# text.footnote:[Not shown.]\n") if t]
    assert lines[1:] == ["Set boot_order to 0xf41 (not 0x1), see the boot docs or https://rpi.example/x_y_z."
                         " H2O and x2; a *literal* and *escaped* star.",
                         "Use <b>raw</b> and marked text."]


def test_setext_titles_and_literal_paragraphs() -> None:
    page = ("Quick Start\n===========\n\nRead this first.\n\nFirst steps\n-----------\n\nType this:\n\n"
            "  ls -l /boot\n\nDone.\n")
    sections = _sections(page)
    assert [h for h, _ in sections] == ["Quick Start", "First steps"]
    assert sections[1][1] == ["Type this:", "ls -l /boot", "Done."]


def test_deeply_nested_blocks_are_read_without_recursing_further(tmp_path: Path) -> None:
    page = "== Deep\n\n" + "".join(f"{'=' * (4 + k)}\n" for k in range(60)) + "inside\n" \
        + "".join(f"{'=' * (4 + k)}\n" for k in reversed(range(60)))
    lines = [t for _, t in adoc_lines(page) if t]
    assert "inside" in " ".join(lines)


def test_adoc_files_are_indexed_and_a_file_of_includes_says_why_it_has_no_text(tmp_path: Path) -> None:
    assert ".adoc" in SUPPORTED_SUFFIXES and ".asciidoc" in SUPPORTED_SUFFIXES
    manual = tmp_path / "pump.adoc"
    manual.write_text(PAGE, encoding="utf-8")
    doc = load_file(manual).documents[0]
    assert doc.kind == "asciidoc" and {c.section for c in doc.chunks} >= {"Cleaning the filter"}
    book = tmp_path / "book.adoc"
    book.write_text("include::pump.adoc[]\n\ninclude::wiring.adoc[]\n", encoding="utf-8")
    with pytest.raises(IngestError, match="only include:: lines") as err:
        load_file(book)
    assert "index the folder" in (err.value.hint or "")


def test_a_cells_last_letter_is_no_specifier_and_its_plus_no_line_break() -> None:
    # a specifier ("m" for monospace, "2+" for a span) stands right before its separator, on
    # its line; a row written one cell a line ends in words that look like one ("3 m")
    page = "== Spec\n\n|===\n| Pipe length | 3 m\n| Height | 20 m\n| Volume + | Raises the volume\n|===\n"
    rows = [t for _, t in adoc_lines(page) if t.startswith("|")]
    assert rows == ["| Pipe length | 3 m |", "| Height | 20 m |", "| Volume + | Raises the volume |"]


def test_a_steps_text_over_two_lines_keeps_the_count_and_a_paragraph_ends_the_list() -> None:
    page = ("== Steps\n\n. Open the lid\nand lift the tray.\n. Close it.\n\nThen wait.\n\n"
            ". Press Start.\n\nOn the desktop::\n. Open the menu.\n")
    lines = [t for _, t in adoc_lines(page) if t]
    assert lines[1:] == ["1. Open the lid", "and lift the tray.", "2. Close it.", "Then wait.",
                         "1. Press Start.", "On the desktop:", "1. Open the menu."]


def test_a_tables_header_row_is_marked_by_a_rule_as_in_markdown() -> None:
    """options="header", %header, or the implicit header (a first line of cells, then a blank
    line) put a Markdown rule after the first row; %noheader, a first row run on into the
    next, or a CSV table without the option do not."""
    def rows(attrs: str, body: str, delim: str = "|===") -> list[str]:
        page = f"== Spec\n\n{attrs}\n{delim}\n{body}\n{delim}\n"
        return [t for _, t in adoc_lines(page) if t.startswith("|")]

    implicit = "| Product | Recommended supply current capacity\n\n| Board 4 | 3.0A\n| Board 5 | 5.0A"
    assert rows("", implicit) == ["| Product | Recommended supply current capacity |", "|---|---|",
                                  "| Board 4 | 3.0A |", "| Board 5 | 5.0A |"]
    assert rows("[%noheader]", implicit)[1] == "| Board 4 | 3.0A |"
    run_on = "| Product | Current\n| Board 4 | 3.0A"
    assert rows("", run_on) == ["| Product | Current |", "| Board 4 | 3.0A |"]
    assert rows('[cols="1,1", options="header,footer"]', run_on)[1] == "|---|---|"
    assert rows("[%header%autowidth]", run_on)[1] == "|---|---|"
    assert rows("", "Model,Current\nPi 4,3.0A", ",===") == ["| Model | Current |", "| Pi 4 | 3.0A |"]
    assert rows("[%header]", "Model,Current\nPi 4,3.0A", ",===")[1] == "|---|---|"


def test_a_text_cell_shows_a_line_in_brackets_an_asciidoc_cell_reads_it_as_attributes() -> None:
    page = ("== Model Filters\n\n|===\n| Filter | Applicable model(s)\n\n| [pi4]\n| Model 4B, Pi 400\n\n"
            "a| [source,bash]\n----\nvcgencmd version\n----\n| Any\n|===\n\n"
            '[cols="1a,1"]\n|===\n| [NOTE]\nHot. | x\n|===\n')
    rows = [t for _, t in adoc_lines(page) if t.startswith("|")]
    assert rows == ["| Filter | Applicable model(s) |", "|---|---|", "| [pi4] | Model 4B, Pi 400 |",
                    "| vcgencmd version | Any |", "| Hot. | x |"]
