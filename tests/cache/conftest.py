"""Fixtures for the cache tests: a fake clock and answer dicts shaped like DESIGN.md's Answer."""

from __future__ import annotations

import pytest


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_answer(question: str = "how do I start the engine", text: str | None = "Turn the crank.",
                reason: str | None = None, snippet_len: int = 80, n_citations: int = 2) -> dict:
    abstained = text is None
    return {
        "id": "q1", "question": question, "answer": text, "abstained": abstained,
        "reason": reason if abstained else None, "confidence": 0.0 if abstained else 0.81,
        "citations": [{"source": "ford.txt", "section": "Para 1-2", "page": None,
                       "chunk_id": f"ford.txt#{i}", "snippet": ("spark " * snippet_len)[:snippet_len],
                       "score": 0.5 - i * 0.1} for i in range(n_citations)],
        "warnings": ["CAUTION: keep hands clear of the crank."],
        "cached": None, "latency_ms": 12.5, "tier": "ultra_lite", "mode": "hybrid",
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
