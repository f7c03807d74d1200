"""Audit log: record contents, rotation with a bounded file count, truncated-line tolerance."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from nic_edge.telemetry.audit import AuditLog, read_records

ANSWER = {
    "id": "q1", "question": "How do I adjust the carburetor?", "answer": "Turn it.", "abstained": False,
    "reason": None, "confidence": 0.8, "citations": [{"chunk_id": "manual.txt#3"}, {"chunk_id": "manual.txt#9"}],
    "cached": "l1", "latency_ms": 12.5, "tier": "lite", "mode": "hybrid",
}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_question_record_hashes_text_unless_allowed(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, clock=lambda: 0.0)
    log.question(ANSWER, surface="http")
    log.action("cache_clear", "http:127.0.0.1", {"entries": 3})
    log.close()
    q, a = _lines(tmp_path / "audit.jsonl")
    assert q["question_sha256"] == hashlib.sha256(ANSWER["question"].encode()).hexdigest()
    assert "question" not in q
    assert q["time"] == "1970-01-01T00:00:00.000Z"
    assert q["chunks"] == ["manual.txt#3", "manual.txt#9"]
    assert {k: q[k] for k in ("id", "latency_ms", "cached", "confidence", "abstained", "reason", "tier", "mode")} == {
        "id": "q1", "latency_ms": 12.5, "cached": "l1", "confidence": 0.8, "abstained": False, "reason": None,
        "tier": "lite", "mode": "hybrid"}
    assert a == {"type": "action", "time": "1970-01-01T00:00:00.000Z", "action": "cache_clear",
                 "actor": "http:127.0.0.1", "details": {"entries": 3}, "ok": True}
    log2 = AuditLog(tmp_path / "b", log_question_text=True)
    log2.question(ANSWER)
    log2.close()
    assert _lines(tmp_path / "b" / "audit.jsonl")[0]["question"] == ANSWER["question"]


def test_rotation_keeps_bounded_number_of_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=2000, backups=2)
    for i in range(200):
        log.action("tick", "test", {"i": i})
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 2000
    records = list(read_records(log.files()))
    seq = [r["details"]["i"] for r in records]
    assert seq == list(range(seq[0], 200))  # oldest surviving to newest, in order, no gaps
    # Reopening continues appending to the current file.
    log = AuditLog(tmp_path, max_bytes=2000, backups=2)
    log.action("tick", "test", {"i": 200})
    log.close()
    assert list(read_records(log.files()))[-1]["details"]["i"] == 200


def test_no_backups_truncates(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=500, backups=0)
    for i in range(50):
        log.action("tick", "test", {"i": i})
    log.close()
    assert [p.name for p in tmp_path.iterdir()] == ["audit.jsonl"]


def test_reader_skips_truncated_last_line(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.question(ANSWER)
    log.close()
    with open(tmp_path / "audit.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"type": "question", "id": "q2", "lat')  # a crash mid-line
    records = list(read_records([tmp_path / "audit.jsonl"]))
    assert [r["id"] for r in records] == ["q1"]
    log = AuditLog(tmp_path)
    log.action("after_crash", "test")
    log.close()
    # Reopening ends the torn line, so records written after the crash stay readable.
    records = list(read_records([tmp_path / "audit.jsonl"]))
    assert [r.get("id", r.get("action")) for r in records] == ["q1", "after_crash"]


def test_concurrent_writers_produce_whole_lines(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=50_000, backups=5)

    def work(n: int) -> None:
        for i in range(300):
            log.question({**ANSWER, "id": f"{n}-{i}"})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    ids = [r["id"] for r in read_records(log.files())]
    total_lines = sum(len(p.read_text().splitlines()) for p in log.files())
    assert len(ids) == total_lines == len(set(ids))


def test_two_processes_on_one_log_keep_every_file_within_its_bound(tmp_path: Path) -> None:
    # serve and `nic-edge ask` on the same data dir: two AuditLog objects, each with its own file
    # handle and its own idea of the size, writing in turns (as two processes would)
    serve, cli = AuditLog(tmp_path, max_bytes=2000, backups=20), AuditLog(tmp_path, max_bytes=2000, backups=20)
    for i in range(300):
        (serve if i % 3 else cli).action("tick", "test", {"i": i})
    serve.close()
    cli.close()
    sizes = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    assert max(sizes.values()) <= 2000, sizes
    seq = sorted(r["details"]["i"] for r in read_records(serve.files()))
    assert seq == list(range(300))  # nothing lost either
