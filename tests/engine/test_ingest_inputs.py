"""What integrators actually load as manuals: odd file names, a data dir inside the folder
indexed, odd encodings. Lexical engine (no model), real ingest."""

from __future__ import annotations

import os
from pathlib import Path

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine

MANUAL = "Para 1-1: Fan Belt\nThe fan belt should deflect 12 mm under thumb pressure.\n"


def lexical(data: Path) -> Engine:
    return Engine(data, load_profiles()["ultra_lite"], EngineConfig(), None)


def test_a_file_name_that_is_not_utf8_is_skipped_by_name_and_the_rest_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "good.txt").write_text(MANUAL, encoding="utf-8")
    bad = folder / os.fsdecode(b"l\xe9gende.txt")  # a Latin-1 name from an old card or zip
    bad.write_text(MANUAL, encoding="utf-8")
    eng = lexical(tmp_path / "data")
    report = eng.index_paths([folder])
    assert report.indexed_files == [str(folder / "good.txt")]
    assert len(report.skipped) == 1 and "not valid UTF-8" in report.skipped[0][1]
    assert "l\\xe9gende.txt" in report.skipped[0][1] and "rename" in report.skipped[0][1]
    assert [m["source"] for m in eng.manuals()] == ["good.txt"]


def test_indexing_the_folder_that_holds_the_data_dir_twice_reads_only_manuals(tmp_path: Path) -> None:
    # `cd manuals && nic-edge index .` with the default ./nic-data: the second run used to index
    # the index's own bm25_terms.txt as a manual and skip audit.jsonl (exit 3)
    (tmp_path / "manual.txt").write_text(MANUAL, encoding="utf-8")
    data = tmp_path / "nic-data"
    lexical(data).index_paths([tmp_path])
    (data / "audit.jsonl").write_text('{"ts": 1, "action": "ask"}\n', encoding="utf-8")
    (data / "manuals").mkdir()
    (data / "manuals" / "flashed.md").write_text("# Horn\n\nThe horn button is on the wheel.\n")
    eng = lexical(data)
    report = eng.index_paths([tmp_path])
    assert report.skipped == [] and not [w for w in report.warnings if "left out" in w], report.warnings
    assert report.indexed_files == [str(data / "manuals" / "flashed.md")]
    assert sorted(m["source"] for m in eng.manuals()) == ["flashed.md", "manual.txt"]
    # naming the data dir itself reads its manuals/ only
    report = eng.index_paths([data])
    assert report.skipped == [] and report.unchanged == [str(data / "manuals" / "flashed.md")]


TEMPS = "Para 2-1: Coolant\nCoolant must not exceed 105 °C; the sensor draws 250 µA.\n"


def test_utf16_without_a_byte_order_mark_and_utf32_are_read(tmp_path: Path) -> None:
    from nic_edge.engine.ingest import load_file

    for codec, data in (("le", TEMPS.encode("utf-16-le")), ("be", TEMPS.encode("utf-16-be")),
                        ("32", TEMPS.encode("utf-32"))):   # utf-32 starts FF FE 00 00, like UTF-16 LE
        path = tmp_path / f"manual-{codec}.txt"
        path.write_bytes(data)
        chunks = load_file(path).documents[0].chunks
        assert [c.section for c in chunks] == ["Para 2-1: Coolant"], codec
        assert "105 °C; the sensor draws 250 µA." in chunks[0].text, codec


def test_utf8_manual_with_a_few_windows_1252_bytes_keeps_its_utf8_text(tmp_path: Path) -> None:
    from nic_edge.engine.ingest.text import decode_text

    # a UTF-8 manual with a note typed in a Windows-1252 editor appended
    data = TEMPS.encode("utf-8") + "Note: torque to 25 N·m ± 2 – see table.\n".encode("cp1252")
    text = decode_text(data, "manual.txt")
    assert "105 °C; the sensor draws 250 µA." in text and "Â" not in text
    assert "Note: torque to 25 N·m ± 2 – see table." in text
    # a Windows-1252 file stays Windows-1252 throughout
    assert decode_text("Won’t exceed 105 °C “hot”\n".encode("cp1252"), "m.txt") == "Won’t exceed 105 °C “hot”\n"
    # a UTF-8 byte-order mark is not left in front of the first heading
    assert decode_text(b"\xef\xbb\xbf" + data, "m.txt").startswith("Para 2-1")


def _paged_manual(footer: str) -> str:
    bodies = ["Para 1-1: Oil Pressure\nThe oil pressure must read 40 psi at idle.",
              "Para 1-2: Fan Belt\nThe fan belt should deflect 12 mm under thumb pressure.",
              "Para 2-1: Coolant\nACME X-200 SERVICE MANUAL\nCoolant must not exceed 105 °C.\nCheck daily.",
              "Para 2-2: Battery\nWARNING: Disconnect the battery first.\nThe battery must hold 12.6 V."]
    return "\f".join(f"ACME X-200 SERVICE MANUAL\n\n{b}\n\n{footer.format(n)}\n"
                     for n, b in enumerate(bodies, 11))


def test_running_header_and_footer_on_every_page_are_not_quoted(tmp_path: Path) -> None:
    from nic_edge.engine.ingest import load_file

    path = tmp_path / "paged.txt"
    path.write_text(_paged_manual("Rev. 3   Page {}"), encoding="utf-8")
    doc = load_file(path).documents[0]
    got = {c.section: (c.page, c.text) for c in doc.chunks}
    assert set(got) == {"Para 1-1: Oil Pressure", "Para 1-2: Fan Belt", "Para 2-1: Coolant", "Para 2-2: Battery"}
    assert got["Para 1-2: Fan Belt"] == (12, "The fan belt should deflect 12 mm under thumb pressure.")
    # the footer's number is the printed page; the header's words inside a page body stay
    assert doc.page_kind == "printed" and got["Para 2-1: Coolant"][0] == 13
    assert got["Para 2-1: Coolant"][1] == "ACME X-200 SERVICE MANUAL\nCoolant must not exceed 105 °C.\nCheck daily."
    assert got["Para 2-2: Battery"][1].startswith("WARNING: Disconnect the battery first.")
    # a footer without a page number is removed as well; pages stay counted
    path.write_text(_paged_manual("Rev. 3 (c) ACME Corp."), encoding="utf-8")
    doc = load_file(path).documents[0]
    assert doc.page_kind == "counted"
    assert all("ACME" not in c.text or c.section == "Para 2-1: Coolant" for c in doc.chunks)
    assert {c.section: c.page for c in doc.chunks}["Para 2-2: Battery"] == 4


def test_markdown_comments_and_autolinks_as_a_reader_sees_them(tmp_path: Path) -> None:
    from nic_edge.engine.ingest import load_file

    path = tmp_path / "pump.md"
    path.write_text("# Pump\n\n<!-- internal: do not publish. Relief opens at 9 bar. -->\n\n"
                    "The relief valve opens at 6 bar. <!-- check -->Close the tap.\n\n<!--\nold: 7 bar\n-->\n"
                    "| Item | Value |\n|------|:-----:|\n| Fuse | 10 A |\n\n"
                    "<details><summary>Advanced</summary>Set cut-in to 2.8 bar.</details>\n\n"
                    "Parts: <https://acme.example/pumps> or <parts@acme.example>.\n\n"
                    "```\n<!-- kept: code -->\n```\n", encoding="utf-8")
    (chunk,) = load_file(path).documents[0].chunks
    assert "do not publish" not in chunk.text and "9 bar" not in chunk.text and "7 bar" not in chunk.text
    assert chunk.text.split("\n") == [
        "The relief valve opens at 6 bar. Close the tap.", "| Item | Value |", "|------|:-----:|", "| Fuse | 10 A |",
        "Advanced Set cut-in to 2.8 bar.", "Parts: https://acme.example/pumps or parts@acme.example.",
        "<!-- kept: code -->"]


def test_hidden_files_and_folders_in_a_folder_walked_are_not_manuals(tmp_path: Path) -> None:
    # a USB stick from a Mac: AppleDouble "._" files and a deleted manual in .Trashes/
    stick = tmp_path / "stick"
    (stick / ".Trashes" / "501").mkdir(parents=True)
    (stick / "manual.txt").write_text(MANUAL, encoding="utf-8")
    (stick / "._manual.txt").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02")
    (stick / ".Trashes" / "501" / "old.txt").write_text(MANUAL.replace("12 mm", "30 mm"), encoding="utf-8")
    eng = lexical(tmp_path / "data")
    report = eng.index_paths([stick])
    assert report.skipped == [] and report.indexed_files == [str(stick / "manual.txt")]
    assert [m["source"] for m in eng.manuals()] == ["manual.txt"]
    # a hidden file named on its own is read
    assert eng.index_paths([stick / ".Trashes" / "501" / "old.txt"]).indexed_files


def test_a_link_to_a_folder_is_named_not_silently_dropped(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "pump.txt").write_text(MANUAL, encoding="utf-8")
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "own.txt").write_text(MANUAL, encoding="utf-8")
    (folder / "vendor").symlink_to(vendor, target_is_directory=True)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    report = lexical(tmp_path / "data").index_paths([folder])
    assert report.indexed_files == [str(folder / "own.txt")]
    assert sorted(report.skipped) == [(str(folder / "loop"), "a link to a folder is not followed; name the folder it points to"),
                                      (str(folder / "vendor"), "a link to a folder is not followed; name the folder it points to")]


def test_nul_padding_at_the_end_of_a_text_file_is_not_binary(tmp_path: Path) -> None:
    from nic_edge.engine.ingest import load_file
    from nic_edge.errors import IngestError

    # a copy cut short by a power loss on an SD card: the file's tail reads as zeros
    path = tmp_path / "manual.txt"
    path.write_bytes(MANUAL.encode("utf-8") + b"\x00" * 4096)
    (chunk,) = load_file(path).documents[0].chunks
    assert chunk.text == "The fan belt should deflect 12 mm under thumb pressure."
    # NULs inside the text still mean binary
    path.write_bytes(b"\x00\x01\x02" + MANUAL.encode("utf-8") + b"\x00" * 4096)
    try:
        load_file(path)
    except IngestError as exc:
        assert "binary file" in str(exc)
    else:
        raise AssertionError("binary data was read as a manual")


def test_remove_a_folder_removes_what_indexing_it_added(tmp_path: Path) -> None:
    for sub in ("pumps", "pumps/old", "valves"):
        (tmp_path / "m" / sub).mkdir(parents=True, exist_ok=True)
        (tmp_path / "m" / sub / f"{sub.replace('/', '-')}.txt").write_text(MANUAL, encoding="utf-8")
    eng = lexical(tmp_path / "data")
    eng.index_paths([tmp_path / "m"])
    report = eng.remove([str(tmp_path / "m" / "pumps") + "/"])
    assert sorted(report.removed) == ["pumps-old.txt", "pumps.txt"] and report.skipped == []
    assert [m["source"] for m in eng.manuals()] == ["valves.txt"]
    # a folder already deleted from disk is resolved by its path all the same
    (tmp_path / "m" / "valves" / "valves.txt").unlink()
    (tmp_path / "m" / "valves").rmdir()
    assert eng.remove([str(tmp_path / "m" / "valves")]).removed == ["valves.txt"]


def test_byte_order_marks_of_joined_files_do_not_hide_a_heading(tmp_path: Path) -> None:
    from nic_edge.engine.ingest import load_file

    # `cat a.txt b.txt > manual.txt` of two files saved "UTF-8 with BOM"
    path = tmp_path / "manual.txt"
    path.write_bytes(b"\xef\xbb\xbf" + MANUAL.encode() + b"\xef\xbb\xbf" + TEMPS.encode())
    chunks = load_file(path).documents[0].chunks
    assert [c.section for c in chunks] == ["Para 1-1: Fan Belt", "Para 2-1: Coolant"]
    assert not any("\ufeff" in c.text for c in chunks)


def test_soft_hyphens_do_not_split_words_for_search(tmp_path: Path) -> None:
    from nic_edge.engine.bm25 import chunk_terms
    from nic_edge.engine.ingest import load_file

    # HTML/PDF exports of justified text carry soft hyphens (&shy;, U+00AD) inside words
    path = tmp_path / "manual.html"
    path.write_text("<h2>Lubrication</h2><p>Apply lubri&shy;cation grease to the bear\u00adings.</p>",
                    encoding="utf-8")
    (chunk,) = load_file(path).documents[0].chunks
    assert chunk.text == "Apply lubrication grease to the bearings."
    assert set(chunk_terms(None, "lubrication bearings")) <= set(chunk_terms(chunk.section, chunk.text))


def test_a_manual_folder_with_a_file_called_current_is_not_a_data_dir(tmp_path: Path) -> None:
    (tmp_path / "m" / "pumps" / "index").mkdir(parents=True)
    (tmp_path / "m" / "pumps" / "index" / "CURRENT").write_text("rev 3\n")
    (tmp_path / "m" / "pumps" / "pump.txt").write_text(MANUAL, encoding="utf-8")
    report = lexical(tmp_path / "data").index_paths([tmp_path / "m"])
    assert report.indexed_files == [str(tmp_path / "m" / "pumps" / "pump.txt")]


def test_a_folder_walk_takes_every_suffix_ingest_reads(tmp_path: Path) -> None:
    from nic_edge.engine.ingest import SUPPORTED_SUFFIXES
    from nic_edge.engine.walk import expand

    for suffix in SUPPORTED_SUFFIXES:
        (tmp_path / f"m{suffix}").write_text("x\n")
    (tmp_path / "UPPER.TXT").write_text("x\n")
    other: dict[str, int] = {}
    found = expand([tmp_path], [], other)
    assert sorted(p.name for p in found) == sorted([f"m{s}" for s in SUPPORTED_SUFFIXES] + ["UPPER.TXT"])
    assert other == {}


def test_an_office_html_table_row_stays_one_line(tmp_path: Path) -> None:
    from nic_edge.engine.ingest import load_file

    # Word / LibreOffice "save as web page": every cell's text is wrapped in <p>
    path = tmp_path / "boiler.htm"
    path.write_text("<h1>Fault codes</h1><p>See the table.</p><table>"
                    "<tr><td><p class=MsoNormal>Code</p></td><td><p>Meaning</p></td></tr>"
                    "<tr><td><p>E1</p></td><td><p>No ignition:</p><p>check the electrode gap</p></td></tr>"
                    "</table><p>Call service for other codes.</p>", encoding="utf-8")
    (chunk,) = load_file(path).documents[0].chunks
    assert chunk.text.split("\n") == ["See the table.", "| Code | Meaning |", "| E1 | No ignition: check the electrode gap |",
                                      "Call service for other codes."]


def test_pdf_style_ligatures_are_spelled_out_for_search_and_quotes(tmp_path: Path) -> None:
    from nic_edge.engine.bm25 import chunk_terms
    from nic_edge.engine.ingest import load_file

    path = tmp_path / "manual.txt"  # text as pypdf extracts it from a typeset manual
    path.write_text("Para 4-1: Oil Filter\nConﬁgure the ﬁlter, then ﬂush the oﬃce line.\n", encoding="utf-8")
    (chunk,) = load_file(path).documents[0].chunks
    assert chunk.text == "Configure the filter, then flush the office line."
    assert {"filter", "flush"} <= set(chunk_terms(chunk.section, chunk.text))


def test_a_pdf_or_web_page_saved_as_txt_is_read_for_what_it_is(tmp_path: Path) -> None:
    import shutil

    from nic_edge.engine.ingest import load_file
    from nic_edge.errors import IngestError

    fixtures = Path(__file__).parent / "fixtures" / "ingest"
    pdf_as_txt = tmp_path / "manual.pdf.txt"
    shutil.copy(fixtures / "manual.pdf", pdf_as_txt)
    as_pdf = load_file(fixtures / "manual.pdf").documents[0]
    doc = load_file(pdf_as_txt).documents[0]
    assert doc.kind == "pdf" and [c.text for c in doc.chunks] == [c.text for c in as_pdf.chunks]
    page = tmp_path / "saved.txt"
    page.write_text("<!DOCTYPE html>\n<html><body><h1>Pump</h1><p>The relief valve opens at 6&nbsp;bar.</p>"
                    "</body></html>", encoding="utf-8")
    (chunk,) = load_file(page).documents[0].chunks
    assert (chunk.section, chunk.text) == ("Pump", "The relief valve opens at 6 bar.")
    for name, data, what in (("w.txt", b"{\\rtf1\\ansi The oil pressure}", "an RTF document"),
                             ("d.md", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, "a ZIP archive")):
        (tmp_path / name).write_bytes(data)
        try:
            load_file(tmp_path / name)
        except IngestError as exc:
            assert what in str(exc), exc
        else:
            raise AssertionError(name)


def test_markdown_style_and_script_blocks_are_not_manual_text(tmp_path: Path) -> None:
    from nic_edge.engine.ingest import load_file

    path = tmp_path / "pump.md"
    path.write_text("<style>\nbody { font-family: Arial; }\n</style>\n\n# Pump\n\nThe relief valve opens at 6 bar."
                    " <script src=\"a.js\"></script>Close the tap.\n\n<SCRIPT>\nvar x = 'analytics';\n</SCRIPT>\n"
                    "```html\n<style>kept in a code sample</style>\n```\n", encoding="utf-8")
    (chunk,) = load_file(path).documents[0].chunks
    assert chunk.text == "The relief valve opens at 6 bar. Close the tap.\n<style>kept in a code sample</style>"


def test_remove_by_a_name_typed_with_composed_accents(tmp_path: Path) -> None:
    import unicodedata

    folder = tmp_path / "m"
    folder.mkdir()
    nfd = unicodedata.normalize("NFD", "Manuel d'entretien é.txt")  # as copied from a Mac
    (folder / nfd).write_text(MANUAL, encoding="utf-8")
    eng = lexical(tmp_path / "data")
    eng.index_paths([folder])
    typed = "Manuel d'entretien é.txt"
    assert typed != nfd and eng.remove([typed]).removed == [nfd]
    eng.index_paths([folder])
    assert eng.remove([str(folder / typed)]).removed == [nfd]
