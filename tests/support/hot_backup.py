"""Backup while ``serve`` answers an HTTP load, then restore into a fresh data dir and compare.

Shared by tests/integration/test_backup_hot.py (short load) and tools/bench_backup_hot.py (30 s).
No pytest dependency. Steps:

1. index the bundled manual, start a real ``nic-edge serve`` with MQTT (outbox in use) on loopback;
2. ``threads`` clients POST /api/ask in a loop (50 questions) for ``load_s`` seconds; after
   ``backup_at_s`` ``nic-edge backup`` runs as its own process; every request must get a 200;
3. stop the box, restore the backup into a fresh data dir, compare ``manuals --json`` and the
   answers to the 50 questions (original without cache vs restored, with its restored L2 cache);
4. start ``serve`` on the restored dir: its first new metrics ``seq`` is the backup's last + 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.broker import Broker, Subscriber
from tests.support.device import ROOT, DeviceServer, run_cli, write_toml

MANUAL = ROOT / "nic_edge" / "data" / "ford_model_t_manual_1919.txt"
_VOLATILE = ("latency_ms", "cached", "tier")


def questions(n: int = 50) -> list[dict[str, str]]:
    """``n`` deterministic questions drawn from evenly spaced lines of the bundled manual."""
    lines = [ln.strip() for ln in MANUAL.read_text(encoding="utf-8").splitlines() if len(ln.strip()) > 40]
    step = len(lines) // n
    return [{"id": f"q{i}", "question": "What about " + " ".join(lines[i * step].split()[:8]).rstrip(".,;:") + "?"}
            for i in range(n)]


class Load:
    """Closed-loop HTTP clients; counts every non-200 or transport error as a failure."""

    def __init__(self, url: str, qs: list[dict[str, str]], threads: int) -> None:
        self.url, self.qs, self.threads = url, qs, threads
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.samples: list[tuple[float, float]] = []  # (start time, seconds)
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, k: int) -> None:
        i = k
        while not self.stop.is_set():
            q = self.qs[i % len(self.qs)]
            i += self.threads
            body = json.dumps({"question": q["question"]}).encode()
            req = urllib.request.Request(self.url + "/api/ask", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    r.read()
                    status = r.status
            except (urllib.error.URLError, OSError) as exc:
                status, err = 0, str(exc)
            with self._lock:
                if status == 200:
                    self.ok += 1
                    self.samples.append((t0, time.monotonic() - t0))
                else:
                    self.failures.append(err if status == 0 else f"HTTP {status}")

    def start(self) -> None:
        for w in self._workers:
            w.start()

    def join(self) -> None:
        self.stop.set()
        for w in self._workers:
            w.join(40)


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000.0, 2)


def _answers(data: Path, qs: list[dict[str, str]], no_cache: bool) -> list[dict[str, Any]]:
    stdin = "".join(json.dumps(q) + "\n" for q in qs)
    args = [sys.executable, "-m", "nic_edge", "ask", "--jsonl", "--data-dir", str(data)]
    r = subprocess.run(args + (["--no-cache"] if no_cache else []), input=stdin, capture_output=True, text=True,
                       env=DeviceServer(Path(), data).env, timeout=300)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def _strip(a: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in a.items() if k not in _VOLATILE}


def _new_seqs(sub: Subscriber, device: str, start: int = 0) -> list[int]:
    out = []
    for m in sub.on_topic(f"{device}/metrics")[start:]:
        body = json.loads(m.payload)
        if not body.get("replayed"):
            out.append(int(body["seq"]))
    return out


def run(work: Path, broker: Broker, load_s: float, backup_at_s: float, threads: int = 4) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    data, restored = work / "data", work / "restored"
    r = run_cli("index", str(MANUAL), "--data-dir", str(data), "--quiet")
    assert r.returncode == 0, r.stderr
    device = "hot-box"
    cfg = write_toml(work / "device.toml", {
        "device": {"id": device},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "metrics_interval_s": 0.5}})
    sub = Subscriber(broker, [f"nic/{device}/metrics"])
    qs = questions()
    box = DeviceServer(cfg, data).start()
    result: dict[str, Any] = {}
    try:
        load = Load(box.url, qs, threads)
        load.start()
        time.sleep(backup_at_s)
        t0 = time.monotonic()
        b = run_cli("backup", "--config", str(cfg), "--data-dir", str(data), "--out", str(work / "box.nicbak"), "--json")
        t1 = time.monotonic()
        assert b.returncode == 0, b.stderr
        time.sleep(max(0.0, load_s - (t1 - t0) - backup_at_s))
        load.join()
        during = [s for t, s in load.samples if t0 <= t <= t1]
        outside = [s for t, s in load.samples if not t0 <= t <= t1]
        result.update(requests_ok=load.ok, failures=len(load.failures), failure_samples=load.failures[:5],
                      backup_s=round(t1 - t0, 2), backup_bytes=json.loads(b.stdout)["bytes"],
                      p50_ms_during=_p(during, 0.5), p95_ms_during=_p(during, 0.95),
                      p50_ms_outside=_p(outside, 0.5), p95_ms_outside=_p(outside, 0.95),
                      requests_during=len(during))
    finally:
        box.stop()
    before = _new_seqs(sub, device)
    rr = run_cli("restore", str(work / "box.nicbak"), "--data-dir", str(restored))
    assert rr.returncode == 0, rr.stderr
    m1 = run_cli("manuals", "--json", "--data-dir", str(data))
    m2 = run_cli("manuals", "--json", "--data-dir", str(restored))
    result["manuals_equal"] = m1.returncode == 0 and m1.stdout == m2.stdout
    original = _answers(data, qs, no_cache=True)
    after = _answers(restored, qs, no_cache=False)
    result["answers_equal"] = sum(_strip(a) == _strip(b) for a, b in zip(original, after))
    result["answers_from_restored_l2"] = sum(a.get("cached") == "l2" for a in after)
    result["questions"] = len(qs)
    from nic_edge.comms.outbox import Outbox  # noqa: PLC0415
    ob = Outbox(restored / "outbox", 8 << 20)
    backup_last = ob.last_seq
    ob.close()
    mark = len(sub.on_topic(f"{device}/metrics"))
    box2 = DeviceServer(cfg, restored).start()
    try:
        ok = sub.wait_for(lambda ms: len(_new_seqs(sub, device, mark)) >= 2, timeout=30)
        assert ok, "restored box published no metrics"
    finally:
        box2.stop()
    after_seqs = _new_seqs(sub, device, mark)
    result.update(backup_last_seq=backup_last, first_seq_after_restore=min(after_seqs),
                  seqs_before_backup_contiguous=_contiguous([s for s in before if s <= backup_last]),
                  original_max_seq=max(before) if before else None)
    sub.close()
    return result


def _contiguous(seqs: list[int]) -> bool:
    s = sorted(set(seqs))
    return bool(s) and s == list(range(s[0], s[-1] + 1))
