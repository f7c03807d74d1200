"""Ingest: each format, bad files, BEIR duplicates (fixtures in fixtures/ingest/)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest

from nic_edge.engine.document import Chunk, Document
from nic_edge.engine.ingest import expand_paths, load_documents, load_file
from nic_edge.errors import IngestError

FIX = Path(__file__).parent / "fixtures" / "ingest"
HAS_PYPDF = importlib.util.find_spec("pypdf") is not None


def _one(path: Path) -> Document:
    docs = load_documents(path)
    assert len(docs) == 1
    return docs[0]


def test_text_manual_sections_pages_and_ids() -> None:
    doc = _one(FIX / "tm_manual.txt")
    assert doc.kind == "text" and doc.source == "tm_manual.txt"
    assert doc.sha256 == hashlib.sha256((FIX / "tm_manual.txt").read_bytes()).hexdigest()
    by_section = {c.section: c for c in doc.chunks}
    crank = by_section["Para 1-2: Engine Cranks But Won't Start"]
    assert crank.page == 2 and "Bleed air from the fuel filter housing." in crank.text
    assert by_section["Table 1-1: Battery Specifications"].page == 3
    assert "Change the oil filter every 250 hours." in by_section["12. OIL FILTER"].text
    assert "13. FUEL FILTER" in by_section
    assert [c.ordinal for c in doc.chunks] == list(range(len(doc.chunks)))
    assert all(c.chunk_id == f"tm_manual.txt#{c.ordinal}" for c in doc.chunks)
    assert doc.sections[0] == "Para 1-1: Starting System Overview"
    # Soft line wraps are re-joined so sentences can be quoted whole.
    assert "and the start switch. Each part is tested in turn." in by_section[
        "Para 1-1: Starting System Overview"].text


def test_ingest_is_deterministic() -> None:
    a, b = _one(FIX / "tm_manual.txt"), _one(FIX / "tm_manual.txt")
    assert a.chunks == b.chunks and a.sha256 == b.sha256


def test_markdown_headings_and_inline_markup() -> None:
    doc = _one(FIX / "manual.md")
    assert doc.kind == "markdown"
    sections = {c.section: c.text for c in doc.chunks}
    assert sections["Pump Manual"] == "Intro text about the pump. See the parts list for part numbers."
    assert "Bolt the pump" in sections["Installation"]
    assert "WARNING: Isolate the supply" in sections["Wiring"]  # innermost heading (###)
    assert "Grease the bearing every 500 hours." in sections["Maintenance"]  # setext heading
    assert all(c.page is None for c in doc.chunks)
    assert not any("title: Pump manual" in c.text for c in doc.chunks)  # front matter dropped


def test_html_headings_entities_and_skipped_elements() -> None:
    doc = _one(FIX / "manual.html")
    assert doc.kind == "html"
    sections = {c.section: c.text for c in doc.chunks}
    assert sections["Belt Tension"].startswith("Press the belt midway; deflection should be 10 mm & no more.")
    assert "Replace cracked belts." in sections["Belt Tension"]
    assert sections["Safety"].startswith("DANGER: Stop the compressor")
    assert sections["Drain Valve"] == "Open the drain valve daily to remove condensate."
    text = " ".join(sections.values())
    assert "junk" not in text and "color" not in text and "Home | Back" not in text


@pytest.mark.skipif(not HAS_PYPDF, reason="pypdf not installed: pip install 'nic-edge[pdf]'")
def test_pdf_pages_and_sections() -> None:
    doc = _one(FIX / "manual.pdf")
    assert doc.kind == "pdf"
    first, second = doc.chunks
    assert (first.section, first.page) == ("Para 2-1: Radiator Service", 1)
    assert (second.section, second.page) == ("Para 2-2: Thermostat Test", 2)
    assert "CAUTION: Hot water can scald. Use tongs to handle the thermostat." in second.text


@pytest.mark.skipif(not HAS_PYPDF, reason="pypdf not installed: pip install 'nic-edge[pdf]'")
def test_broken_pdf_is_an_ingest_error() -> None:
    with pytest.raises(IngestError) as err:
        load_documents(FIX / "broken.pdf")
    assert "broken.pdf" in err.value.message and err.value.hint


def test_pdf_without_header_is_an_ingest_error(tmp_path: Path) -> None:
    if not HAS_PYPDF:
        pytest.skip("pypdf not installed: pip install 'nic-edge[pdf]'")
    bad = tmp_path / "fake.pdf"
    bad.write_text("just text pretending to be a PDF\n")
    with pytest.raises(IngestError, match="not a PDF"):
        load_documents(bad)


def test_beir_records_duplicates_and_warnings() -> None:
    result = load_file(FIX / "corpus.jsonl")
    docs = {d.source: d for d in result.documents}
    assert set(docs) == {"doc-1", "doc-2"}
    assert result.duplicates_replaced == 1
    assert docs["doc-1"].duplicates_replaced == 1 and docs["doc-2"].duplicates_replaced == 0
    # The later record wins, with its own title as section.
    (chunk,) = docs["doc-1"].chunks
    assert chunk.section == "Resetting the controller (rev B)"
    assert chunk.text.startswith("Press and hold the reset button for ten seconds")
    assert chunk.chunk_id == "doc-1#0" and chunk.page is None
    assert docs["doc-2"].chunks[0].section is None  # empty title
    assert len(result.warnings) == 4
    assert any(":3:" in w and "JSON" in w for w in result.warnings)
    assert any("no _id" in w for w in result.warnings)
    assert any("doc-3" in w and "no text" in w for w in result.warnings)
    assert all(d.kind == "beir" for d in result.documents)
    assert len({d.sha256 for d in result.documents}) == 2
    # load_documents gives the same documents; file-level warnings ride on the first one.
    again = load_documents(FIX / "corpus.jsonl")
    assert [d.source for d in again] == [d.source for d in result.documents]
    assert again[0].warnings == result.warnings


def test_beir_without_usable_records(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "x"}\n[1, 2]\n')
    with pytest.raises(IngestError, match="no usable records"):
        load_documents(bad)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n \t\n", "empty"),
        ("binary.txt", b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50, "binary"),
        ("noise.html", bytes(range(1, 32)) * 40, "non-text"),
        ("sheet.xlsx", b"PK\x03\x04 whatever", "unsupported file type"),
        ("manual.odt", b"PK\x03\x04 whatever", "not a readable OpenDocument document"),
        ("manual.docx", b"PK\x03\x04 whatever", "not a readable Word document"),
        ("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "password, or an old .doc renamed"),
        ("README", b"no suffix", "unsupported file type"),
    ],
)
def test_bad_files_raise_ingest_error(tmp_path: Path, name: str, content: bytes, match: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=match) as err:
        load_documents(path)
    assert err.value.hint


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        load_documents(tmp_path / "missing.txt")
    folder = tmp_path / "dir.txt"
    folder.mkdir()
    with pytest.raises(IngestError, match="directory"):
        load_documents(folder)


def test_only_furniture_left_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text("12\n- 13 -\nPage 14\n")
    with pytest.raises(IngestError, match="no text left"):
        load_documents(path)


def test_cp1252_text_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes("Set the gap to 0.025\u201d \u2013 check twice.\n".encode("cp1252"))
    (chunk,) = _one(path).chunks
    assert chunk.text == "Set the gap to 0.025\u201d \u2013 check twice."


def test_expand_paths_walks_directories() -> None:
    files = expand_paths([FIX])
    names = [f.name for f in files]
    assert "manual.md" in names and "corpus.jsonl" in names and "manual.pdf" in names
    assert names == sorted(names)


def test_bundled_ford_manual_questions_become_sections() -> None:
    from nic_edge.core.resources import SAMPLE_MANUAL, data_file

    doc = _one(data_file(SAMPLE_MANUAL))
    sections = doc.sections
    assert "What about Gasoline?" in sections
    assert "How are Valves removed for grinding?" in sections
    assert "What is the principle of the 4 gasoline-driven Engine?" in sections
    gas = next(c for c in doc.chunks if c.section == "What about Gasoline?")
    assert "gasoline tank should be filled" in gas.text
    assert all(isinstance(c, Chunk) and len(c.text.split()) <= 360 for c in doc.chunks)
