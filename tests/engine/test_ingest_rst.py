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
