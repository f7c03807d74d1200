"""The pure-Python WordPiece tokenizer reproduces the HF reference ids exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nic_edge.engine.tokenizer import MAX_CHARS_PER_WORD, WordPieceTokenizer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def tok() -> WordPieceTokenizer:
    from nic_edge.engine.embedder import default_model_dir

    return WordPieceTokenizer.from_file(default_model_dir() / "vocab.txt", max_length=256)


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((FIXTURES / "embedder_reference.json").read_text(encoding="utf-8"))


def test_reference_set_is_large_and_varied(reference: dict) -> None:
    sents = reference["sentences"]
    assert len(sents) >= 200 and len(reference["ids"]) == len(sents)
    assert any(not s.isascii() for s in sents)
    assert any(len(ids) == 256 for ids in reference["ids"])  # truncation is exercised


def test_ids_match_reference_on_every_sentence(tok: WordPieceTokenizer, reference: dict) -> None:
    mismatches = [s for s, ids in zip(reference["sentences"], reference["ids"]) if tok.encode(s) != ids]
    assert mismatches == []


def test_cached_second_pass_is_identical(tok: WordPieceTokenizer, reference: dict) -> None:
    for s, ids in zip(reference["sentences"][:50], reference["ids"][:50]):
        assert tok.encode(s) == ids


def test_special_cases(tok: WordPieceTokenizer) -> None:
    assert tok.encode("") == [tok.cls_id, tok.sep_id]
    assert tok.encode("x" * (MAX_CHARS_PER_WORD + 1)) == [tok.cls_id, tok.unk_id, tok.sep_id]
    assert tok.decode_tokens(tok.encode("Café's")[1:-1]) == ["cafe", "'", "s"]
    assert tok.decode_tokens(tok.encode("中文")[1:-1]) == ["中", "文"]


def test_truncation_and_count(tok: WordPieceTokenizer) -> None:
    text = "pump " * 400
    ids = tok.encode(text)
    assert len(ids) == 256 and ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    assert tok.count(text) == 402
    assert len(tok.encode(text, max_length=16)) == 16
