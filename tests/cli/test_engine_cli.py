"""nic-edge index / manuals / ask / retrieve / cache as a user runs them (real model, subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.device import ROOT, TINY_MANUAL, run_cli


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    manual = root / "tiny_manual.txt"
    manual.write_text(TINY_MANUAL)
    data = root / "data"
    r = run_cli("index", str(manual), "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    assert "1 file(s) indexed" in r.stdout
    return data, manual


def test_reindex_unchanged_is_noop(indexed: tuple[Path, Path]) -> None:
    data, manual = indexed
    r = run_cli("index", str(manual), "--data-dir", str(data))
    assert r.returncode == 0 and "0 file(s) indexed" in r.stdout and "1 unchanged" in r.stdout


def test_partial_and_failed_batches(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    data, manual = indexed
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = run_cli("index", str(manual), str(bad), "--data-dir", str(data))
    assert r.returncode == 3, r.stderr
    assert "broken.pdf" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("index", str(empty), str(tmp_path / "missing.txt"), "--data-dir", str(tmp_path / "d2"))
    assert r.returncode == 1
    assert "empty.txt" in r.stderr and "missing.txt" in r.stderr


def test_manuals_json(indexed: tuple[Path, Path]) -> None:
    data, _ = indexed
    r = run_cli("manuals", "--json", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["manuals"]
    assert rows[0]["source"] == "tiny_manual.txt" and rows[0]["chunks"] >= 1


def test_ask_json_answer_contract(indexed: tuple[Path, Path]) -> None:
    data, _ = indexed
    r = run_cli("ask", "How do I replace the fuel filter?", "--json", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    assert set(a) >= {"id", "question", "answer", "abstained", "reason", "confidence", "citations",
                      "warnings", "cached", "latency_ms", "tier", "mode"}
    assert a["abstained"] is False and a["mode"] == "hybrid"
    assert a["citations"][0]["section"] == "Para 1-1: Fuel Filter Replacement"
    assert any("Fuel vapour is explosive" in w for w in a["warnings"])
    for sentence in a["answer"].split("\n"):
        assert any(sentence in c["snippet"] or sentence in TINY_MANUAL for c in a["citations"])


def test_ask_jsonl_batch_with_bad_lines(indexed: tuple[Path, Path]) -> None:
    data, _ = indexed
    lines = [json.dumps({"id": "a", "question": "How often should I check the brake fluid?"}),
             "not json",
             json.dumps({"id": "b", "question": ""}),
             json.dumps({"id": "c", "question": "What is the capital of France?"}),
             json.dumps({"id": "d"})]
    p = subprocess.run([sys.executable, "-m", "nic_edge", "ask", "--jsonl", "--data-dir", str(data)],
                       input="\n".join(lines) + "\n", capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert p.returncode == 0, p.stderr
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(out) == 5
    assert out[0]["id"] == "a" and out[0]["abstained"] is False
    assert out[1]["id"] is None and "error" in out[1]
    assert out[2]["id"] == "b" and out[2]["reason"] == "invalid_input"
    assert out[3]["id"] == "c" and out[3]["abstained"] is True and out[3]["answer"] is None
    assert out[4]["id"] is None and "error" in out[4]


def test_retrieve_and_cache_commands(indexed: tuple[Path, Path]) -> None:
    data, _ = indexed
    r = run_cli("retrieve", "brake fluid level", "--k", "2", "--json", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert len(hits) <= 2 and set(hits[0]) >= {"chunk_id", "source", "section", "page", "score"}
    run_cli("ask", "How do I replace the fuel filter?", "--data-dir", str(data))
    r = run_cli("ask", "how do i replace the FUEL filter", "--json", "--data-dir", str(data))
    assert json.loads(r.stdout)["cached"] in ("l1", "l2")
    r = run_cli("cache", "stats", "--data-dir", str(data))
    assert r.returncode == 0 and json.loads(r.stdout)["l2_items"] >= 1
    r = run_cli("cache", "clear", "--data-dir", str(data))
    assert r.returncode == 0
    r = run_cli("ask", "How do I replace the fuel filter?", "--json", "--data-dir", str(data))
    assert json.loads(r.stdout)["cached"] is None


def test_remove_manual(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    data, manual = indexed
    other = tmp_path / "other.md"
    other.write_text("# Winch\n\nGrease the winch drum monthly with GAA grease.\n")
    assert run_cli("index", str(other), "--data-dir", str(data)).returncode == 0
    r = run_cli("index", "--remove", "other.md", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    rows = json.loads(run_cli("manuals", "--json", "--data-dir", str(data)).stdout)["manuals"]
    assert [m["source"] for m in rows] == ["tiny_manual.txt"]
    assert run_cli("index", "--remove", "nope.txt", "--data-dir", str(data)).returncode == 1
