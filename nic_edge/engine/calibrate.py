"""Per-index calibration of the abstain threshold.

A threshold fitted once, on a few manuals, does not carry over to the manual an integrator
loads (on a held-out manual the shipped 0.5 abstained on only 60 % of questions about other
products). So every time the index changes, before the new generation becomes current, the
engine asks it a bounded set of synthetic questions (``questions.py``): answerable ones made
from the indexed manuals and unanswerable ones from the bundled pool. The threshold is the
lowest one that abstains on ``target_abstain`` of the unanswerable, unless that answers fewer
than ``MIN_ANSWERED`` of the answerable ones (then the highest that still does), clamped to
[``LOW``, ``HIGH``].

The questions go through the engine's real answer path (retrieval, answer, confidence; no
cache) with the threshold at 0, so the confidence function is a black box here: a question
counts as answerable-at-t when the engine answered it at 0 and its confidence is >= t.
Both retrieval modes are calibrated (hybrid when the index holds vectors, lexical always:
a box that degrades to lexical answers under memory pressure needs its own threshold).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nic_edge.engine import questions as qgen

log = logging.getLogger(__name__)

FILE = "calibration.json"
METHOD = "synthetic-v1"
LOW, HIGH = 0.3, 0.9
MAX_ANSWERABLE = 200          # issue 16: at most 300; every question runs the reader (~10 ms),
                              # 300 + 300 took 15-28 s on the loaded VM, over 15 % of bench indexing
MAX_UNANSWERABLE = 200
MIN_ANSWERABLE = 20           # fewer: the manual is too small to calibrate (keeps the default)
MIN_CHUNKS = 10
MIN_ANSWERED = 0.90           # never trade more than 10 % of the manual's own questions for the target
NEVER = -1.0                  # score of a question the engine would not answer at any threshold

Ask = Callable[[str], dict]


@dataclass(frozen=True)
class Questions:
    answerable: list[str]
    unanswerable: list[str]


def make_questions(snap: Any, pool: qgen.Pool | None = None) -> Questions:
    seed = qgen.content_seed(snap)
    return Questions([q for q, _ in qgen.answerable(snap, MAX_ANSWERABLE, seed)],
                     qgen.unanswerable(snap, MAX_UNANSWERABLE, seed, pool))


def score(answer: dict) -> float:
    """The confidence an answer given at threshold 0 needs to be given at all (NEVER when the
    engine abstained anyway: no match, nothing quotable)."""
    return NEVER if answer.get("abstained") else float(answer.get("confidence") or 0.0)


def choose_threshold(unanswerable: list[float], target: float) -> float:
    """Lowest threshold (a confidence below it abstains) that abstains on ``target`` of
    ``unanswerable``, midway to the next score so ties and noise do not sit on the edge."""
    n = len(unanswerable)
    s = sorted(x for x in unanswerable if x != NEVER)
    need = math.ceil(target * n - 1e-9) - (n - len(s))   # how many answerable ones must fall below
    if need <= 0:
        return LOW
    if need >= len(s):
        t = s[-1] + 1e-4
    else:
        t = max((s[need - 1] + s[need]) / 2, s[need - 1] + 1e-4)
    return math.ceil(t * 1e4) / 1e4


def share_answered(scores: list[float], t: float) -> float:
    return sum(1 for x in scores if x != NEVER and x >= t) / len(scores) if scores else 0.0


def keep_answering(ans_scores: list[float], share: float) -> float:
    """Highest threshold that still answers ``share`` of ``ans_scores``."""
    s = sorted((x for x in ans_scores if x != NEVER), reverse=True)
    k = math.ceil(share * len(ans_scores) - 1e-9)
    if k <= 0 or not s:
        return HIGH
    return math.floor(s[min(k, len(s)) - 1] * 1e4) / 1e4


def fit_mode(ans_scores: list[float], un_scores: list[float], target: float) -> dict:
    """Threshold and expected shares for one retrieval mode: the lowest threshold that abstains
    on ``target`` of the unanswerable, unless that would answer fewer than ``MIN_ANSWERED`` of
    the answerable -- then the highest threshold that still does (``limited_by`` says which).
    Questions about other products of the same kind (a truck manual asked about another truck)
    are close to answerable ones; without the floor, such a pool drove a car-repair index to
    a threshold answering only 47 % of its own questions."""
    raw = choose_threshold(un_scores, target)
    keep = keep_answering(ans_scores, MIN_ANSWERED)
    limited = raw > keep
    t = min(HIGH, max(LOW, min(raw, keep)))
    return {"status": "calibrated", "threshold": round(t, 4), "unclamped": raw,
            "limited_by": "min_answered" if limited else "target_abstain",
            "expected_answered": round(share_answered(ans_scores, t), 4),
            "expected_abstained": round(1.0 - share_answered(un_scores, t), 4)}


def calibrate(snap: Any, asks: dict[str, Ask], target: float, default: float,
              pool: qgen.Pool | None = None, clock: Callable[[], float] | None = None) -> dict:
    """Calibration record of ``snap`` (not yet current) for each mode in ``asks``
    (``pool``: the unanswerable pool, default the bundled one). ``clock`` (a reproducible
    content bundle build) dates the record and times it instead of the wall clock."""
    tick = time.perf_counter if clock is None else clock
    t0 = tick()
    qs = make_questions(snap, pool)
    big = len(qs.answerable) >= MIN_ANSWERABLE and snap.n >= MIN_CHUNKS and qs.unanswerable
    modes: dict[str, dict] = {}
    for mode, ask in asks.items():
        if not big:  # nothing to learn from a handful of questions: do not spend the time
            modes[mode] = {"status": "too_small", "threshold": default, "unclamped": None,
                           "expected_answered": None, "expected_abstained": None}
            continue
        a = [score(ask(q)) for q in qs.answerable]
        u = [score(ask(q)) for q in qs.unanswerable]
        modes[mode] = fit_mode(a, u, target)
    status = "calibrated" if big else "too_small"
    note = None if big else (f"too small to calibrate ({len(qs.answerable)} answerable questions from "
                             f"{snap.n} chunks; needs {MIN_ANSWERABLE} and {MIN_CHUNKS}): keeps the "
                             f"fitted default {default}")
    rec = {"status": status, "method": METHOD, "created_at": (clock or time.time)(), "target_abstain": target,
           "default_threshold": default, "n_answerable": len(qs.answerable),
           "n_unanswerable": len(qs.unanswerable), "modes": modes, "note": note,
           "seconds": round(tick() - t0, 3)}
    log.info("index calibration: %s", summary(rec))
    return rec


def summary(rec: dict | None, mode: str | None = None) -> str:
    """One line for people (CLI, status page)."""
    if not rec:
        return "not calibrated (index built before per-index calibration; re-run `nic-edge index`)"
    if rec.get("status") != "calibrated":
        return str(rec.get("note") or rec.get("status"))
    m = view(rec, mode)
    return (f"threshold {m['threshold']:.2f} ({m['mode']}) calibrated on {rec['n_answerable']} answerable + "
            f"{rec['n_unanswerable']} unanswerable synthetic questions: expect "
            f"{100 * m['expected_answered']:.0f} % answered, {100 * m['expected_abstained']:.0f} % "
            f"of off-topic abstained")


def view(rec: dict | None, mode: str | None) -> dict:
    """The record flattened for one mode (the one in use), as status and manuals show it."""
    if not rec:
        return {"status": "none"}
    modes = rec.get("modes") or {}
    mode = mode if mode in modes else next(iter(modes), None)
    out = {k: v for k, v in rec.items() if k != "modes"}
    out["mode"] = mode
    if mode is not None:
        out.update({k: v for k, v in modes[mode].items() if k != "status"})
    return out


def read(gen_dir: Path) -> dict | None:
    try:
        return json.loads((gen_dir / FILE).read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("calibration of %s unreadable, using the default threshold: %s", gen_dir, exc)
        return None


class PinnedStore:
    """A store whose current generation is one given snapshot: lets an Engine answer from a
    generation that is not current yet."""

    def __init__(self, snap: Any) -> None:
        self.snap = snap

    def current_name(self) -> str:
        return self.snap.name

    def open_current(self) -> Any:
        return self.snap


class ProbeConfig:
    """The engine config with the threshold at 0: every question the engine can answer is
    answered, so its confidence can be compared with any threshold afterwards."""

    abstain_threshold = 0.0

    def __init__(self, cfg: Any) -> None:
        self._cfg = cfg

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cfg, name)
