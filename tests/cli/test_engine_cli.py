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


def _batch(data: Path, command: str, lines: list[str], *extra: str) -> list[dict]:
    p = subprocess.run([sys.executable, "-m", "nic_edge", command, "--jsonl", *extra, "--data-dir", str(data)],
                       input="\n".join(lines) + "\n", capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return [json.loads(x) for x in p.stdout.splitlines()]


def test_jsonl_batches_survive_hostile_lines_and_echo_ids(indexed: tuple[Path, Path]) -> None:
    data, _ = indexed
    q = "How often should I check the brake fluid?"
    out = _batch(data, "ask", [
        "[" * 100_000 + "]" * 100_000,                       # deeper than the JSON parser's stack
        '{"id": "s", "question": "\\ud800 brake fluid"}',     # a lone surrogate in the question
        json.dumps({"id": 5, "question": q}),               # ids come back as given ...
        json.dumps({"question": q}),                        # ... or new: never a cached answer's
        json.dumps({"question": q}),
        json.dumps({"id": "last", "question": q})])         # the batch reached the end
    assert len(out) == 6
    assert out[0]["id"] is None and "nests too deeply" in out[0]["error"]
    assert out[1]["id"] == "s" and out[1]["reason"] == "invalid_input"
    assert out[1]["question"] == "\\ud800 brake fluid"   # shown back escaped, printable
    assert out[2]["id"] == 5 and out[3]["cached"] and out[4]["cached"]
    assert len({out[2]["id"], out[3]["id"], out[4]["id"]}) == 3
    assert out[5]["id"] == "last" and out[5]["abstained"] is False
    hits = _batch(data, "retrieve", ["[" * 100_000 + "]" * 100_000, json.dumps({"id": "r", "query": ""}),
                                     json.dumps({"id": "k", "query": "brake fluid"})], "--k", "2")
    assert hits[0]["id"] is None and "nests too deeply" in hits[0]["error"]
    assert hits[1]["id"] == "r" and "error" in hits[1]
    assert hits[2]["id"] == "k" and 1 <= len(hits[2]["hits"]) <= 2


@pytest.mark.parametrize("args", [["serve", "--port", "99999"], ["serve", "--port", "-1"],
                                  ["ask", "x", "--top-k", "0"], ["ask", "x", "--top-k", "51"],
                                  ["retrieve", "x", "--k", "101"], ["retrieve", "x", "--k", "many"]])
def test_numbers_out_of_range_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    r = run_cli(*args, "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "data").exists()


def test_a_data_dir_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    manual = tmp_path / "m.txt"
    manual.write_text(TINY_MANUAL)
    r = run_cli("index", str(manual), "--data-dir", str(afile))
    assert r.returncode == 2
    assert r.stderr.strip() == f"nic-edge: invalid configuration: --data-dir: {afile} exists and is not a directory; name a directory"


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
    assert run_cli("index", str(other), "--data-dir", str(data)).returncode == 0
    r = run_cli("index", "--remove", "other.md", "nope.txt", "--data-dir", str(data))
    assert r.returncode == 3 and "skipped nope.txt" in r.stderr  # some removed, some not: as for adding


def test_manuals_flags_a_file_gone_since_it_was_indexed(tmp_path: Path) -> None:
    data, manual = tmp_path / "data", tmp_path / "gone.txt"
    manual.write_text(TINY_MANUAL)
    assert run_cli("index", str(manual), "--data-dir", str(data)).returncode == 0
    assert json.loads(run_cli("manuals", "--json", "--data-dir", str(data)).stdout)["manuals"][0]["file_exists"]
    manual.unlink()
    rows = json.loads(run_cli("manuals", "--json", "--data-dir", str(data)).stdout)["manuals"]
    assert rows[0]["file_exists"] is False
    assert "[file gone: still answers" in run_cli("manuals", "--data-dir", str(data)).stdout


def test_pipes_and_broken_links_are_skipped_by_name_not_read(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    data, manual = indexed
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "pump.md").write_text("# Pump\n\nPrime the pump before the first start.\n")
    os.mkfifo(folder / "fifo.txt")  # reading it would block for ever
    (folder / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    r = run_cli("index", str(folder), str(folder / "fifo.txt"), "--data-dir", str(data), timeout=60)
    assert r.returncode == 3, r.stderr
    assert r.stderr.count("fifo.txt: not a regular file") == 2 and "gone.txt: not a regular file" in r.stderr
    assert "1 file(s) indexed" in r.stdout


def _beir(folder: Path, records: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.jsonl"
    path.write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in records))
    return path


def test_two_beir_corpora_with_overlapping_ids_are_both_kept(tmp_path: Path) -> None:
    """Issue 17 must-show: both sets kept, each answered as when indexed alone."""
    phone = _beir(tmp_path / "phone", [
        ("section_1", "Battery charging", "Charge the phone battery with the supplied USB cable for two hours."),
        ("section_2", "Screen care", "Clean the touch screen with a dry microfibre cloth only.")])
    truck = _beir(tmp_path / "truck", [
        ("section_1", "Wheel lug nuts", "Tighten the wheel lug nuts to 85-95 ft-lbs in a star pattern."),
        ("section_2", "Radiator coolant", "Drain the radiator coolant every two years and refill with glycol.")])
    qs = {"phone": "How long do I charge the phone battery?", "truck": "What torque for the wheel lug nuts?"}
    alone = {}
    for name, path in (("phone", phone), ("truck", truck)):
        d = tmp_path / f"alone-{name}"
        assert run_cli("index", str(path), "--data-dir", str(d)).returncode == 0
        a = json.loads(run_cli("ask", qs[name], "--json", "--no-cache", "--data-dir", str(d)).stdout)
        assert not a["abstained"]
        alone[name] = (a["answer"], a["citations"][0]["source"])
    both = tmp_path / "both"
    assert run_cli("index", str(phone), "--data-dir", str(both)).returncode == 0
    r = run_cli("index", str(truck), "--data-dir", str(both))
    assert r.returncode == 0 and "0 duplicates replaced" in r.stdout, r.stdout
    for name in ("phone", "truck"):
        a = json.loads(run_cli("ask", qs[name], "--json", "--no-cache", "--data-dir", str(both)).stdout)
        assert (a["answer"], a["citations"][0]["source"]) == alone[name]
    rows = json.loads(run_cli("manuals", "--json", "--records", "--data-dir", str(both)).stdout)["manuals"]
    assert [(m["source"], m["file"], m["chunks"]) for m in rows] == [
        ("corpus.jsonl", str(phone.resolve()), 2), ("corpus.jsonl", str(truck.resolve()), 2)]
    assert [x["source"] for x in rows[1]["records"]] == ["section_1", "section_2"]
    r = run_cli("index", "--remove", str(truck), "--data-dir", str(both))
    assert r.returncode == 0, r.stderr
    rows = json.loads(run_cli("manuals", "--json", "--data-dir", str(both)).stdout)["manuals"]
    assert [m["file"] for m in rows] == [str(phone.resolve())]


def test_empty_folder_exits_1_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = run_cli("index", str(tmp_path / "empty"), "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 1
    assert str(tmp_path / "empty") in r.stderr and "no manual files" in r.stderr


def test_garbage_pdf_without_the_pdf_extra_is_skipped_and_the_rest_indexed(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.pdf"
    bad.write_bytes(b"%PDF-1.4 garbage")
    readme = tmp_path / "README.md"
    readme.write_text("# Winch\n\nGrease the winch drum monthly with GAA grease.\n")
    # A sitecustomize that hides pypdf: the quick-start install has no `pdf` extra.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['pypdf'] = None\n")
    r = run_cli("index", str(bad), str(readme), "--data-dir", str(tmp_path / "d"),
                env={"PYTHONPATH": f"{hide}{os.pathsep}{ROOT}"})
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "garbage.pdf" in r.stderr and "pdf" in r.stderr and "1 file(s) indexed" in r.stdout
