"""tools/fuzz_pdf.py: mutated PDFs that read without ingest-3's PDF rules read with them."""

from __future__ import annotations

import importlib.util

import pytest

import fuzz_pdf


@pytest.mark.skipif(importlib.util.find_spec("pypdf") is None, reason="pypdf not installed")
def test_no_mutated_pdf_that_reads_plainly_fails_with_the_pdf_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz_pdf.main(["--mutations", "150", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "150 mutations (seed 7): 0 failures" in out and "ok" in out
