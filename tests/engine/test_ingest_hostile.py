"""Hostile manuals (issue 22): broken JSONL lines are warnings, odd _ids are refused, the rest indexed."""

from __future__ import annotations

import json
from pathlib import Path

from nic_edge.engine.ingest import load_file
from tests.support.device import run_cli

GOOD = [{"_id": "doc-1", "title": "Fuel", "text": "Close the fuel valve before removing the filter."},
        {"_id": "doc-2", "title": "Brakes", "text": "Check the brake fluid reservoir weekly."}]


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_deeply_nested_line_is_a_warning_and_the_rest_is_indexed(tmp_path: Path) -> None:
    deep = '{"_id": "x", "text": "t", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    big_int = '{"_id": "y", "text": "t", "n": ' + "9" * 5000 + "}"
    f = _jsonl(tmp_path / "c.jsonl", [json.dumps(GOOD[0]), deep, "[" * 100_000, big_int, json.dumps(GOOD[1])])
    result = load_file(f)
    assert [d.source for d in result.documents] == ["doc-1", "doc-2"]
    assert [w.split(": ", 1)[0] for w in result.warnings] == ["c.jsonl:2", "c.jsonl:3", "c.jsonl:4"]
    assert all("line skipped" in w for w in result.warnings)


def test_ids_with_control_characters_are_refused_with_a_warning(tmp_path: Path) -> None:
    bad = [{"_id": "evil\nid", "text": "x y z"}, {"_id": "bell\x07", "text": "x y z"},
           {"_id": "L" * 600, "text": "x y z"}]
    f = _jsonl(tmp_path / "c.jsonl", [json.dumps(r) for r in bad + GOOD])
    result = load_file(f)
    assert [d.source for d in result.documents] == ["doc-1", "doc-2"]
    assert len(result.warnings) == 3 and all("record skipped" in w for w in result.warnings)
    assert "\n" not in "".join(result.warnings).replace("\\n", "")


def test_cli_indexes_the_good_records_of_a_file_with_a_recursion_bomb(tmp_path: Path) -> None:
    f = _jsonl(tmp_path / "c.jsonl", [json.dumps(GOOD[0]), "[" * 100_000, json.dumps(GOOD[1])])
    r = run_cli("index", str(f), "--data-dir", str(tmp_path / "data"), "--quiet", env={"NIC_EDGE_TIER": "lite"})
    assert r.returncode == 0, r.stderr
    assert "internal error" not in r.stderr and "c.jsonl:2" in r.stderr
    r = run_cli("retrieve", "brake fluid reservoir", "--json", "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 0, r.stderr
    assert "doc-2" in r.stdout


FIX = Path(__file__).parent / "fixtures" / "ingest"


def test_aes_pdf_with_only_an_owner_password_is_indexed() -> None:
    from nic_edge.engine.ingest.pdf import pdf_pages
    plain = pdf_pages((FIX / "manual.pdf").read_bytes(), "manual.pdf")
    assert pdf_pages((FIX / "owner_password_aes.pdf").read_bytes(), "owner_password_aes.pdf") == plain


def test_pdf_extra_brings_what_aes_needs() -> None:
    from importlib.metadata import requires
    pdf_reqs = [r for r in requires("nic-edge") or [] if 'extra == "pdf"' in r]
    assert any(r.startswith("cryptography") for r in pdf_reqs), pdf_reqs


def test_pdf_needing_a_password_to_open_says_so() -> None:
    import pytest
    from nic_edge.engine.ingest.pdf import pdf_pages
    from nic_edge.errors import IngestError
    with pytest.raises(IngestError) as err:
        pdf_pages((FIX / "user_password_aes.pdf").read_bytes(), "user_password_aes.pdf")
    assert "password to open" in err.value.message and "re-export" not in (err.value.hint or "")


def test_aes_pdf_without_cryptography_names_the_extra_not_a_re_export() -> None:
    import subprocess
    import sys
    code = ("import sys; sys.modules['cryptography'] = None\n"  # as if it were not installed
            "from pathlib import Path\n"
            "from nic_edge.engine.ingest.pdf import pdf_pages\n"
            "from nic_edge.errors import MissingDependencyError\n"
            "try:\n"
            f"    pdf_pages(Path({str(FIX / 'owner_password_aes.pdf')!r}).read_bytes(), 'x.pdf')\n"
            "except MissingDependencyError as e:\n"
            "    print('HINT', e.hint)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HINT pip install 'nic-edge[pdf]'" in out.stdout, out.stdout + out.stderr


def test_pypdf_s_own_warnings_reach_the_console_as_one_line(caplog) -> None:
    """pypdf logs a warning per font or page it struggles with (a font's whole width table in
    each); reading a PDF logs one line that counts them instead, and the text is still read."""
    import logging
    import re

    import pytest

    pytest.importorskip("pypdf")
    from nic_edge.engine.ingest.pdf import pdf_pages
    from tests.support.pdf import column, make_pdf
    good = make_pdf([column([("Fuel", GOOD[0]["text"]), ("Brakes", GOOD[1]["text"])], 72, chars=80)])
    bad = re.sub(rb"startxref\s+\d+", b"startxref\n999", good)   # pypdf rebuilds the xref, warning
    with caplog.at_level(logging.DEBUG):
        assert pdf_pages(bad, "bad.pdf") == pdf_pages(good, "good.pdf")
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    ours = [r.getMessage() for r in caplog.records if r.name == "nic_edge.engine.ingest.pdf"
            and r.levelno == logging.WARNING]
    assert len(ours) == 1 and ours[0].startswith("bad.pdf: pypdf noted ") and "startxref" in ours[0], ours
    assert logging.getLogger("pypdf").propagate and not logging.getLogger("pypdf").handlers
