"""FakeApp: a thread-safe stand-in for the device application (AppProtocol) in HTTP tests."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from nic_edge.errors import ConfigError, InvalidInputError

TIERS = ("ultra_lite", "lite", "standard", "full")
MAX_CHARS = 2000


def question_problem(text: object) -> str | None:
    """The engine's rules, reproduced: non-empty text, <= MAX_CHARS, no control characters."""
    if not isinstance(text, str):
        return "question must be text"
    if not text.strip():
        return "question is empty"
    if len(text) > MAX_CHARS:
        return f"question longer than {MAX_CHARS} characters"
    if any((ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0 for c in text):
        return "question contains control characters"
    return None


class FakeApp:
    def __init__(self, token: str | None = "s3cret", health: str = "ok") -> None:
        self.device_id = "fake-01"
        self.token = token
        self.health_state = health
        self.tier: str | None = None
        self.calls: list[tuple[str, Any]] = []
        self.ask_delay_s = 0.0
        self.fail_with: Exception | None = None  # raised by ask() when set
        self._lock = threading.Lock()

    def _record(self, name: str, arg: Any) -> None:
        with self._lock:
            self.calls.append((name, arg))

    def ask(self, question: object, top_k: object = None) -> dict:
        self._record("ask", (question, top_k))
        if self.fail_with is not None:
            raise self.fail_with
        if self.ask_delay_s:
            time.sleep(self.ask_delay_s)
        problem = question_problem(question)
        base = {"id": uuid.uuid4().hex, "question": question if isinstance(question, str) else "",
                "cached": None, "latency_ms": 1.5, "tier": "ultra_lite", "mode": "hybrid"}
        if problem:
            return {**base, "answer": None, "abstained": True, "reason": "invalid_input",
                    "confidence": 0.0, "citations": [], "warnings": [], "error": problem}
        if "unknown" in str(question):
            return {**base, "answer": None, "abstained": True, "reason": "no_match",
                    "confidence": 0.05, "citations": [], "warnings": []}
        return {**base, "answer": "Set the spark lever <down> & retard.", "abstained": False,
                "quotes": [{"text": "Set the spark lever <down> & retard.", "citation": 0}],
                "reason": None, "message": None, "confidence": 0.82,
                "citations": [{"source": "ford_model_t_manual_1919.txt", "section": "Para 1-2: <Starting>",
                               "page": 7, "page_kind": "printed", "chunk_id": "ford_model_t_manual_1919.txt#3",
                               "snippet": "Set the spark lever <down> & retard.", "score": 0.9}],
                "warnings": ["WARNING: keep thumb <beside> the crank"]}

    def retrieve(self, query: object, k: object = None) -> dict:
        self._record("retrieve", (query, k))
        problem = question_problem(query)
        if problem:
            raise InvalidInputError(problem, hint="send a short question in plain text")
        hits = [{"chunk_id": f"m.txt#{i}", "source": "m.txt", "section": None, "page": None,
                 "score": 1.0 / (i + 1)} for i in range(int(k or 5))]
        return {"id": None, "hits": hits}

    def status(self) -> dict:
        return {"device_id": self.device_id, "version": "0.1.0",
                "tier": {"name": self.tier or "ultra_lite", "source": "detected",
                         "reasons": ["RAM 0.9 GiB < 1.5 GiB", "model 'Raspberry Pi <3>'"]},
                "mode": "hybrid", "model": {"loaded": False, "sha256": "abc"},
                "index": {"sources": 1, "chunks": 412, "built_at": 1796305822.5},
                "manuals": [{"source": "ford_model_t_manual_1919.txt", "chunks": 412, "sections": 119,
                             "indexed_at": 1796305822.5, "kind": "text", "file": "/data/ford_model_t_manual_1919.txt"}],
                "uptime_s": 4000.0,
                "cache": {"hit_rate": 0.25, "l1": {"items": 3}, "l2": {"items": 9}},
                "latency": {"answer": {"p50_ms": 12.0, "p95_ms": 40.0, "p99_ms": 80.6, "count": 20},
                            "stages": {"tokenize": {"p50_ms": 0.2, "p95_ms": 0.3, "p99_ms": 0.4, "count": 20}}},
                "resources": {"rss_bytes": 64172851, "rss_mib": 61.2, "budget_mib": 160, "cpu_temp_c": 48.0,
                              "disk_free_bytes": 5 * 1073741824},
                "mqtt": {"state": "disconnected", "backlog": 4},
                "alerts": {"active": 1}}

    def health(self) -> tuple[str, dict]:
        return self.health_state, {"device_id": self.device_id, "tier": "ultra_lite"}

    def alerts(self) -> dict:
        return {"active": [{"alert_id": "a1", "rule": "cpu_temp_high", "severity": "warning",
                            "state": "firing", "message": "CPU <hot> 81 C"}], "recent": []}

    def metrics_text(self) -> str:
        return "# HELP nic_up Up.\n# TYPE nic_up gauge\nnic_up 1\n"

    def clear_cache(self, actor: str) -> dict:
        self._record("clear_cache", actor)
        return {"cleared": {"l1": 3, "l2": 9}}

    def set_local_tier(self, tier: str | None, actor: str) -> dict:
        self._record("set_local_tier", (tier, actor))
        if tier is not None and tier not in TIERS:
            raise ConfigError([("tier", "must be one of " + ", ".join(TIERS))])
        self.tier = tier
        return {"tier": tier or "ultra_lite", "source": "local" if tier else "detected"}

    def admin_token(self) -> str | None:
        return self.token


__all__ = ["FakeApp", "question_problem"]
