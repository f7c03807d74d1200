"""The confidence's proximity feature: neighbouring question words standing together."""

from nic_edge.engine.answer import PROX_WINDOW, proximity
from nic_edge.engine.bm25 import analyze


def _prox(chunk: str, question: str, fallback: float = 0.5) -> float:
    q = list(dict.fromkeys(analyze(question)))
    return proximity(analyze(chunk), q, [1.0] * len(q), fallback)


def test_words_together_score_one_in_either_order() -> None:
    chunk = "Remove the rear axle housing cover and drain the oil."
    assert _prox(chunk, "rear axle housing") == 1.0
    assert _prox(chunk, "housing of the rear axle") == 1.0


def test_words_known_but_apart_score_zero() -> None:
    chunk = ("The rear lamp is wired to the switch. " + "Tighten each bolt evenly. " * 3
             + "The axle is lubricated monthly. " + "Check the fan belt. " * 3 + "The housing is cast iron.")
    assert PROX_WINDOW < 10
    assert _prox(chunk, "rear axle housing") == 0.0


def test_partial_pairs_weighted_by_rarer_word() -> None:
    chunk = "Adjust the carburetor float level. " + "Inspect the wheels. " * 5 + "Check the spark timing."
    q = list(dict.fromkeys(analyze("carburetor float spark")))
    idf = [1.0, 3.0, 2.0]  # pairs: (carburetor, float) weight 1 together; (float, spark) weight 2 apart
    assert proximity(analyze(chunk), q, idf, 0.0) == 1.0 / 3.0


def test_one_word_question_falls_back() -> None:
    assert _prox("anything at all", "carburetor", fallback=0.7) == 0.7
