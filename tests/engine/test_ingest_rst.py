"""reStructuredText manuals (.rst): read as the built page shows them -- titles by their
underlines, admonitions as labelled text, code as written, tables one row a line -- and what
the page does not show (comments, targets, toctrees, options, images) is not indexed."""

from __future__ import annotations

from pathlib import Path

from nic_edge.engine.ingest import SUPPORTED_SUFFIXES, load_file
from nic_edge.engine.ingest.rst import parse_rst, rst_lines

PAGE = """.. _esp32_quickref:

=============================
Quick reference for the board
=============================

.. image:: img/board.jpg
    :alt: The board
    :width: 640px

The board runs the firmware described in :ref:`the general notes <general>`
and in :doc:`tutorial/index`.

.. toctree::
   :maxdepth: 1

   general.rst

Installing
----------

Hold :kbd:`BOOT` while pressing *reset*, then run ``esptool.py erase_flash``.

.. note:: The board must be powered from USB
   while it is flashed.

.. warning::

   Never connect 5 V to a GPIO pin.

.. versionadded:: 1.20
   The ``--after`` option.

.. admonition:: Hot surface

   The regulator gets hot under load.

.. This comment is not shown.
   Nor is this line.

The machine module::

    import machine
    machine.freq(240000000) # set the CPU to 240 MHz

Pins
^^^^

.. function:: Pin(id, mode=-1, pull=-1)

   Create a pin object. See `the datasheet <https://example.com/ds.pdf>`_ and |vendor|.

.. |vendor| replace:: Espressif Systems

.. list-table:: Pin functions
   :header-rows: 1

   * - Pin
     - Use
   * - GPIO1
     - UART0 TX
   * - GPIO3
     - UART0 RX

=====  ========
Mode   Meaning
=====  ========
IN     input
OUT    output
=====  ========
"""


def _sections() -> dict[str | None, list[str]]:
    return {s.heading: [t for _, t in s.paras] for s in parse_rst(PAGE)}


def test_titles_by_their_underlines_and_overlines() -> None:
    assert list(_sections()) == ["Quick reference for the board", "Installing", "Pins"]


def test_inline_markup_reads_as_rendered_and_hidden_parts_go() -> None:
    s = _sections()
    assert s["Quick reference for the board"] == [
        "The board runs the firmware described in the general notes and in tutorial/index."]
    text = "\n".join(t for lines in s.values() for t in lines)
    for hidden in ("esp32_quickref", "img/board.jpg", "640px", "maxdepth", "general.rst",
                   "This comment", "Nor is this line", ":ref:", "``", "|vendor|"):
        assert hidden not in text, hidden


def test_admonitions_versions_and_code() -> None:
    s = _sections()["Installing"]
    assert s[0] == "Hold BOOT while pressing reset, then run esptool.py erase_flash."
    assert "Note: The board must be powered from USB while it is flashed." in s
    assert "Warning:" in s and "Never connect 5 V to a GPIO pin." in s
    assert "New in version 1.20: The --after option." in s
    assert "Hot surface:" in s and "The regulator gets hot under load." in s
    # "::" ends the paragraph with the colon the page shows; the code after it is as written
    i = s.index("The machine module:")
    assert s[i + 1] == "import machine machine.freq(240000000) # set the CPU to 240 MHz"


def test_api_entries_substitutions_and_tables() -> None:
    s = _sections()["Pins"]
    assert s[0] == "Pin(id, mode=-1, pull=-1)"
    assert s[1] == "Create a pin object. See the datasheet and Espressif Systems."
    assert s[2:6] == ["Pin functions", "| Pin | Use |", "| GPIO1 | UART0 TX |", "| GPIO3 | UART0 RX |"]
    assert s[6:] == ["| Mode | Meaning |", "| IN | input |", "| OUT | output |"]


def test_a_literal_block_in_a_list_item_ends_where_its_indent_does() -> None:
    page = """Example
=======

* A complete example::

    from machine import PWM
    pwm = PWM(2)

  Output is::

    PWM(Pin(2), freq=5000)
"""
    lines = [t for _, t in rst_lines(page) if t]
    assert "Output is:" in lines and "PWM(Pin(2), freq=5000)" in lines
    assert lines.index("Output is:") < lines.index("PWM(Pin(2), freq=5000)")


def test_markup_broken_over_lines_is_read_whole() -> None:
    page = """Errors
======

The stack raises errors named in the
`Espressif ESP-NOW docs
<https://docs.espressif.com/esp_now.html>`_. For example::

    e.send(peer, b'x')
"""
    lines = [t for _, t in rst_lines(page) if t]
    assert lines[1] == "The stack raises errors named in the"
    assert lines[2] == "Espressif ESP-NOW docs. For example:"
    assert lines[3] == "e.send(peer, b'x')"


def test_directives_nested_deeper_than_the_limit_are_read_as_lines() -> None:
    page = "Deep\n====\n\n" + "".join("   " * k + ".. note::\n\n" for k in range(60)) + "   " * 60 + "Unplug it.\n"
    lines = [t for _, t in rst_lines(page) if t]
    assert lines[-1] == "Unplug it." and len(lines) < 200


def test_rst_through_load_file(tmp_path: Path) -> None:
    assert ".rst" in SUPPORTED_SUFFIXES
    path = tmp_path / "quickref.rst"
    path.write_text(PAGE, encoding="utf-8")
    [doc] = load_file(path).documents
    assert doc.kind == "rst"
    assert any("Never connect 5 V to a GPIO pin." in c.text and c.section == "Installing" for c in doc.chunks)


def _rows(page: str) -> list[str]:
    return [t for _, t in rst_lines(page) if t]


def test_grid_tables_are_read_cell_by_cell() -> None:
    # a cell over several lines is one cell; a line block inside it is text; "|*mode* |" is a
    # cell, not a substitution; the rows above "+===+" are the header; a table inside a directive
    page = """Filters
-------

.. table::

   +------------+-----------------------------+
   |*mode*      |Contents of *params*         |
   +============+=============================+
   |CAN.LIST16  |Four 16 bit ids              |
   +------------+-----------------------------+
   |CAN.MASK16  |Two id/mask pairs.           |
   |            || The first pair accepts     |
   |            || all ids with bit 0 = 1.    |
   +------------+-----------------------------+

After.
"""
    assert _rows(page)[1:] == ["| mode | Contents of params |", "|---|---|", "| CAN.LIST16 | Four 16 bit ids |",
                               "| CAN.MASK16 | Two id/mask pairs. The first pair accepts all ids with bit 0 = 1. |",
                               "After."]


def test_grid_table_spans() -> None:
    # a header spanning two columns that the rows divide (its border has fewer "+"), and a cell
    # spanning two rows (its border broken): it stands beside each row it spans (before
    # ingest-13 the two rows were read as one: "| PEP 515 | Underscores Later part | Done Open |")
    page = """+-------------------------+--------+
| **Feature**             | Status |
+==========+==============+========+
| PEP 498  | Formatting   | Done   |
+----------+--------------+--------+
| PEP 515  | Underscores  | Done   |
+          +--------------+--------+
|          | Later part   | Open   |
+----------+--------------+--------+
"""
    assert _rows(page) == ["| Feature |  | Status |", "|---|---|---|", "| PEP 498 | Formatting | Done |",
                           "| PEP 515 | Underscores | Done |", "| PEP 515 | Later part | Open |"]


def test_a_cell_spanning_rows_names_each_row_it_spans() -> None:
    # a spec sheet's group key over two rows, a cell spanning rows in the last column too, and
    # a row whose own cells span every column after the key
    page = """+---------+---------+--------+---------+
| Group   | Item    | Value  | Note    |
+=========+=========+========+=========+
| Power   | Voltage | 5 V    | USB-C   |
|         +---------+--------+ only    |
|         | Current | 3 A    |         |
+---------+---------+--------+---------+
| Weight  | 285 g                      |
+---------+---------+--------+---------+
| Size    | Width   | 14 cm  | -       |
+         +---------+--------+---------+
|         | Depth   | 9 cm   | approx. |
+---------+---------+--------+---------+
"""
    assert _rows(page) == ["| Group | Item | Value | Note |", "|---|---|---|---|",
                           "| Power | Voltage | 5 V | USB-C only |", "| Power | Current | 3 A | USB-C only |",
                           "| Weight | 285 g |  |  |",
                           "| Size | Width | 14 cm | - |", "| Size | Depth | 9 cm | approx. |"]


def test_grid_borders_that_open_no_table_are_no_text() -> None:
    # a border with nothing under it, a transition-like border, a border of too many columns
    assert _rows("Text.\n\n+-----+-----+\n\nMore.\n") == ["Text.", "More."]
    wide = "+" + "-+" * 100
    assert _rows(f"{wide}\n|" + "a|" * 100 + f"\n{wide}\n")[0].count("a") == 100   # read as a line of text


def test_a_run_of_borders_is_looked_at_once(monkeypatch) -> None:
    # a page of borders and no rows: trying each border again would read the rest of the run
    # from each of them (quadratic in a hostile page)
    import nic_edge.engine.ingest.rst as rst
    calls = []
    real = rst.grid_table
    monkeypatch.setattr(rst, "grid_table", lambda lines, start: calls.append(start) or real(lines, start))
    assert _rows("Text.\n" + "+----+----+\n" * 1000 + "\nMore.\n") == ["Text.", "More."]
    assert calls == [1]


def test_the_docutils_grid_table_example() -> None:
    # text on a border broken by a cell that spans rows ("+----+ span rows. |") belongs to that
    # cell; the header's two lines are one row; a cell spanning columns
    page = """+------------------------+------------+----------+----------+
| Header row, column 1   | Header 2   | Header 3 | Header 4 |
| (header rows optional) |            |          |          |
+========================+============+==========+==========+
| body row 1, column 1   | column 2   | column 3 | column 4 |
+------------------------+------------+----------+----------+
| body row 2             | Cells may span columns.          |
+------------------------+------------+---------------------+
| body row 3             | Cells may  | - Table cells       |
+------------------------+ span rows. | - contain           |
| body row 4             |            | - body elements.    |
+------------------------+------------+---------------------+
"""
    assert _rows(page) == [
        "| Header row, column 1 (header rows optional) | Header 2 | Header 3 | Header 4 |", "|---|---|---|---|",
        "| body row 1, column 1 | column 2 | column 3 | column 4 |",
        "| body row 2 | Cells may span columns. |  |  |",
        "| body row 3 | Cells may span rows. | - Table cells - contain - body elements. |  |",
        "| body row 4 | Cells may span rows. | - Table cells - contain - body elements. |  |"]
