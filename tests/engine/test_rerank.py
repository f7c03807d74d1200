"""Meaning between the reader's close candidates (engine/rerank.py): the windows within MARGIN of
the best are embedded with the real int8 model and gain WEIGHT x their cosine; the tier (or
``engine.rerank``) says whether a box pays for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine import rerank
from nic_edge.engine.quote import Quote
from tests.support.engines import answered, assert_verbatim, model_engine

PRINTER_MANUAL = """# Printer guide

## Smudged or Smeared Prints

- Use the correct paper type setting. With a glossy setting on plain paper, too much ink is used and pages smear.
- Remove each photo from the output tray before the next one lands.
- Let the ink dry before handling pages.
- For 2-sided printing, increase the drying time in Printer Properties > More Options > Drying Time.
- Do not use curled paper or card thicker than 300 g/m².
- Make sure the transport lock lever is in the Unlocked position.

## Paper Guide Cleaning

If the back of printed pages has ink marks, ink may be on the paper path.

1. Load plain A4 or Letter paper.
2. Tap Settings > Maintenance > Paper Guide Cleaning.
3. Tap Start. A blank sheet is fed through the printer.
4. Repeat until the sheet comes out clean.

NOTE: Ink marks often appear after printing borderless photos or when the paper size setting is wrong. Always set the paper size to match the loaded paper.

## Loading Paper

Fan the stack, slide the edge guides against it and push the tray in until it clicks.
"""

QUESTION = "dirty marks on the reverse side of my printouts"


def _section(out: dict) -> str:
    return out["citations"][out["quotes"][0]["citation"]]["section"]


def test_meaning_picks_the_window_that_answers_between_close_candidates(tmp_path: Path) -> None:
    """(Two sections of tools/data/heldout_printer's manual, project-written.) The words favour
    "Smudged or Smeared Prints" ("side", 2-sided); the window "If the back of
    printed pages has ink marks ..." means the question. With the tier's rerank on (standard),
    the reader quotes the cleaning procedure; switched off, the same index quotes the other."""
    eng = model_engine(tmp_path, "printer.md", PRINTER_MANUAL)
    assert eng.rerank and eng.status()["rerank"] is True
    out = answered(eng, QUESTION)
    assert _section(out) == "Paper Guide Cleaning", out["quotes"]
    assert "Paper Guide Cleaning" in out["answer"] and "4. Repeat" in out["answer"]
    assert_verbatim(eng, out)

    eng.rerank = False   # what an ultra_lite box answers from the same index
    off = eng.explain(QUESTION)
    assert off["quoted_sections"][0] == "Smudged or Smeared Prints", off["quoted_sections"]


def test_a_choice_made_by_meaning_is_not_doubt_for_confidence(tmp_path: Path) -> None:
    """``q_rank`` counts a quote from a section retrieval ranked lower as doubt (1 / (1 + rank));
    a quote meaning put first over the words' choice counts as agreement (answer.RERANK_RANK)."""
    from nic_edge.engine import answer, reader

    eng = model_engine(tmp_path, "printer.md", PRINTER_MANUAL)
    snap, ret, mode = eng._run(QUESTION, eng.top_k)
    quotes = reader.read(snap, ret, answer.content_terms(ret.terms), QUESTION, eng.embedder.embed)
    assert quotes[0].promoted and quotes[0].meaning is not None
    rank = answer.FEATURES.index("q_rank")
    quotes[0].hit_rank = 2   # as if retrieval had ranked its section third
    assert answer.features(snap, ret, True, quotes, QUESTION).vector()[rank] == answer.RERANK_RANK == 1.0
    quotes[0].promoted = False
    assert answer.features(snap, ret, True, quotes, QUESTION).vector()[rank] == pytest.approx(1 / 3)


def test_a_box_that_does_not_rerank_reads_close_windows_by_their_chunks_meaning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without opening vectors (rerank off: ultra_lite, lite), the reader still has retrieval's
    cosine of every chunk: the close windows are read by the chunk each starts in (reader-40),
    and a window put first that way is not counted as agreement for confidence."""
    from nic_edge.engine import answer, reader

    eng = model_engine(tmp_path, "printer.md", PRINTER_MANUAL)
    eng.rerank = False
    snap, ret, mode = eng._run(QUESTION, eng.top_k)
    assert mode == "hybrid" and ret.cosines is not None
    terms = answer.content_terms(ret.terms)
    quotes = reader.read(snap, ret, terms, QUESTION, None)
    assert quotes[0].meaning == pytest.approx(float(ret.cosines[quotes[0].row]))
    assert not quotes[0].promoted
    monkeypatch.setattr(rerank, "CHUNKS", False)
    assert reader.read(snap, ret, terms, QUESTION, None)[0].meaning is None


def _cand(text: str, score: float, section_key: tuple = ("manual.md", None, 0), row: int = 0) -> Quote:
    """A reader candidate as rerank sees it: its window's text, score, heading and chunk."""
    return Quote(row, text, score, section_key, 0.0, None, 0)


def test_without_an_embedder_the_chunks_cosines_reorder_close_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each close window gains ``WEIGHT`` x the cosine of the chunk it starts in (``cosines``, by
    row); beyond the margin nothing moves; the winner is not ``promoted``."""
    cos = np.array([0.2, 0.6, 0.9], dtype=np.float32)
    cands = [_cand("lexical match", 2.0, row=0), _cand("meant answer", 2.0 - rerank.MARGIN / 2, row=1),
             _cand("far away", 2.0 - rerank.MARGIN - 0.01, row=2)]
    assert rerank.rerank(cands, None, None, cosines=cos) == 2
    assert [c.text for c in cands] == ["meant answer", "lexical match", "far away"]
    assert cands[0].meaning == pytest.approx(0.6) and cands[1].meaning == pytest.approx(0.2)
    assert not cands[0].promoted and cands[2].meaning is None
    assert cands[0].score == pytest.approx(2.0 - rerank.MARGIN / 2 + rerank.WEIGHT * 0.6)
    # the guards hold as for openings: a code the best window holds, a heading saying the opposite
    coded = [_cand("E10 Water does not drain.", 1.0, row=0), _cand("To turn off the beep, hold Spin.", 0.9, row=2)]
    assert rerank.rerank(coded, None, None, "The display shows E10", ["displai", "show", "e10"], cos) == 0
    assert coded[0].text.startswith("E10")
    polar = [_cand("Check that the TV is not in audio-only mode.", 1.0, ("tv.md", "No picture, but sound is present", 0), 0),
             _cand("Turn up the volume.", 0.9, ("tv.md", "Picture is good but there is no sound", 5), 2)]
    rerank.rerank(polar, None, None, "Sound works but the screen is black", ["sound", "work", "screen", "black"], cos)
    assert polar[0].section_key[2] == 0
    # an embedder present: the openings are read, not the chunks; switched off: the words' order
    embed, calls = _embedder({"lexical": np.array([1.0, 0.0]), "meant": np.array([0.0, 1.0])})
    pair = [_cand("lexical match", 2.0, row=0), _cand("meant answer", 1.9, row=2)]
    rerank.rerank(pair, np.array([1.0, 0.0], dtype=np.float32), embed, cosines=cos)
    assert pair[0].text == "lexical match" and pair[0].meaning == pytest.approx(1.0) and calls
    monkeypatch.setattr(rerank, "CHUNKS", False)
    again = [_cand("lexical match", 2.0, row=0), _cand("meant answer", 1.9, row=2)]
    assert rerank.rerank(again, None, None, cosines=cos) == 0 and again[0].text == "lexical match"


def _embedder(vectors: dict[str, np.ndarray]):
    calls: list[str] = []

    def embed(text: str) -> np.ndarray:
        calls.append(text)
        v = vectors[text.split()[0]]
        return v / np.linalg.norm(v)
    return embed, calls


def test_only_close_candidates_are_embedded_and_meaning_reorders_them() -> None:
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    embed, calls = _embedder({"lexical": np.array([0.2, 1.0, 0.0]), "meant": np.array([1.0, 0.1, 0.0]),
                              "far": np.array([1.0, 0.0, 0.0])})
    cands = [_cand("lexical match", 2.0), _cand("meant answer", 2.0 - rerank.MARGIN / 2),
             _cand("far away", 2.0 - rerank.MARGIN - 0.01)]
    assert rerank.rerank(cands, q, embed) == 2
    assert [c.text for c in cands][:2] == ["meant answer", "lexical match"]
    assert cands[0].promoted and not cands[1].promoted
    assert cands[0].meaning == pytest.approx(1 / np.sqrt(1.01), abs=1e-6)
    assert sorted(calls) == ["lexical match", "meant answer"]
    assert cands[2].meaning is None   # beyond the margin: never embedded, never moved up


def test_at_most_the_best_few_are_read() -> None:
    """A bound: ten candidates as close as can be, ``CANDIDATES`` read for meaning."""
    q = np.array([1.0, 0.0], dtype=np.float32)
    embed, calls = _embedder({f"c{i}": np.array([1.0, float(i)]) for i in range(10)})
    cands = [_cand(f"c{i} text", 1.0) for i in range(10)]
    assert rerank.rerank(cands, q, embed) == rerank.CANDIDATES == len(calls) == 8
    assert cands[0].text == "c0 text" and [c.meaning is None for c in cands].count(True) == 2


def test_a_code_the_best_window_holds_keeps_it_first() -> None:
    """"The display shows E10": the error table's window holds "E10"; a sentence vector barely
    sees the code, so the words' choice stands and nothing is embedded."""
    q = np.array([1.0, 0.0], dtype=np.float32)
    embed, calls = _embedder({"E10": np.array([0.0, 1.0]), "To": np.array([1.0, 0.0])})
    cands = [_cand("E10 Water does not drain. Clean the pump filter.", 1.0),
             _cand("To turn off the end-of-cycle beep, hold Spin.", 0.9)]
    assert rerank.rerank(cands, q, embed, "The display shows E10", ["displai", "show", "e10"]) == 0
    assert not calls and cands[0].text.startswith("E10")
    # a hexadecimal code is a code too ("BOOT_ORDER 0x1": the table row that holds it)
    hexa = [_cand("| 0x1 | SD CARD | SD card or eMMC. |", 1.0), _cand("To set the boot order, edit it.", 0.9)]
    assert rerank.rerank(hexa, q, embed, "What does BOOT_ORDER 0x1 mean?", ["boot", "order", "0x1", "mean"]) == 0
    # a question without a code: the same windows are read for meaning
    assert rerank.rerank(cands, q, embed, "The display shows an error", ["displai", "show", "error"]) == 2
    assert cands[0].text.startswith("To") and cands[0].promoted


def test_meaning_never_puts_first_a_heading_that_says_the_opposite() -> None:
    """"Sound works but the screen is black" and "Picture is good but there is no sound" are
    alike in meaning and opposite in fact (polarity.clash): the words' order stands."""
    question = "Sound works but the screen is black"
    q = np.array([1.0, 0.0], dtype=np.float32)
    embed, calls = _embedder({"Check": np.array([0.3, 1.0]), "Turn": np.array([1.0, 0.0])})
    right = _cand("Check that the TV is not in audio-only mode.", 1.0,
                  section_key=("tv.md", "No picture, but sound is present", 0))
    opposite = _cand("Turn up the volume and check the mute button.", 0.9,
                     section_key=("tv.md", "Picture is good but there is no sound", 5))
    cands = [right, opposite]
    assert rerank.rerank(cands, q, embed, question, ["sound", "work", "screen", "black"]) == 2
    assert cands == [right, opposite] and not opposite.promoted and right.score == 1.0
    # the same pair under headings that agree: meaning decides
    opposite.section_key = ("tv.md", "Checking the sound settings", 5)
    assert rerank.rerank(cands, q, embed, question, ["sound", "work", "screen", "black"]) == 2
    assert cands[0] is opposite and opposite.promoted


def test_nothing_is_embedded_without_a_model_or_a_close_runner_up() -> None:
    q = np.array([1.0, 0.0], dtype=np.float32)
    embed, calls = _embedder({"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])})
    alone = [_cand("a x", 3.0), _cand("b y", 3.0 - rerank.MARGIN - 0.5)]
    assert rerank.rerank(alone, q, embed) == 0 and not calls
    assert rerank.rerank([_cand("a x", 1.0), _cand("b y", 1.0)], q, None) == 0
    assert rerank.rerank([_cand("a x", 1.0), _cand("b y", 1.0)], None, embed) == 0
    assert not calls


def test_a_model_failing_mid_answer_leaves_the_words_order() -> None:
    """Degrade, do not die: the model breaks after the question's vector was made."""
    from nic_edge.errors import ModelError

    def broken(text: str) -> np.ndarray:
        raise ModelError("interpreter failed")
    cands = [_cand("a x", 1.0), _cand("b y", 0.9)]
    assert rerank.rerank(cands, np.array([1.0, 0.0], dtype=np.float32), broken) == 0
    assert [c.text for c in cands] == ["a x", "b y"] and all(c.meaning is None for c in cands)


def test_long_windows_are_embedded_by_their_first_words() -> None:
    text = " ".join(f"w{i}" for i in range(rerank.WORDS + 50))
    assert rerank.head(text, rerank.WORDS).split() == text.split()[:rerank.WORDS]
    assert rerank.head("short text", rerank.WORDS) == "short text"


@pytest.mark.parametrize("choice, tier, expected", [
    ("auto", "ultra_lite", False), ("auto", "lite", False), ("auto", "standard", True),
    ("auto", "full", True), ("on", "ultra_lite", True), ("off", "full", False), ("auto", None, False)])
def test_the_tier_decides_unless_the_config_does(choice: str, tier: str | None, expected: bool) -> None:
    profile = load_profiles()[tier] if tier else None
    assert rerank.enabled(EngineConfig(rerank=choice), profile) is expected


class _Openings:
    """A snapshot's stored opening vectors, by the opening's first word."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def opening_vector(self, text: str) -> np.ndarray | None:
        v = self.vectors.get(text.split()[0])
        return None if v is None else np.asarray(v, dtype=np.float32) / np.linalg.norm(v)


def _lines(text: str) -> list:
    """One unit per line, as the reader's units carry them: offsets, list item, lead-in."""
    from types import SimpleNamespace

    out, at = [], 0
    for line in text.split("\n"):
        number = int(line[0]) if line[:1].isdigit() and line[1:2] == "." else 0
        out.append(SimpleNamespace(a=at, b=at + len(line), item=number > 0, number=number,
                                   lead_in=line.endswith(":")))
        at += len(line) + 1
    return out


SECTION = "Switch the unit off.\n1. Pull the filter out.\n2. Wash it in lukewarm water.\n3. Never dry it with a hair dryer."


def test_a_quote_starts_at_the_later_paragraph_that_means_the_question() -> None:
    """"Can I dry the filter with a hair dryer?": the window (the whole section, chosen by its
    words) starts at the section's start; the third step's opening means the question more than
    the window's own opening by over ``TRIM_MARGIN``, so the quote starts there."""
    units = _lines(SECTION)
    q = np.array([1.0, 0.0], dtype=np.float32)
    snap = _Openings({"Switch": [0.5, 1.0], "1.": [0.4, 1.0], "2.": [0.5, 1.0], "3.": [1.0, 0.3]})
    assert rerank.later_start(snap, SECTION, units, 0, 3, q) == 3
    # not by more than the margin: the window keeps its start
    close = _Openings({"Switch": [1.0, 0.3], "1.": [0.4, 1.0], "2.": [0.6, 1.0], "3.": [1.0, 0.29]})
    assert rerank.later_start(close, SECTION, units, 0, 3, q) == 0
    # the window's own opening not stored (an older index): nothing to compare with
    assert rerank.later_start(_Openings({"3.": [1.0, 0.0]}), SECTION, units, 0, 3, q) == 0
    # a window that already starts later, and one that ends before the better opening
    assert rerank.later_start(snap, SECTION, units, 3, 3, q) == 3
    assert rerank.later_start(snap, SECTION, units, 0, 2, q) == 0
    # a question asking how to do something gets the procedure from its first step
    assert rerank.later_start(snap, SECTION, units, 0, 3, q, procedure=True) == 1
    led = SECTION.replace("off.\n", "off.\nTo clean it:\n")
    assert rerank.later_start(snap, led, _lines(led), 0, 4, q, procedure=True) == 1   # its lead-in too


def test_a_quote_never_starts_inside_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OCR'd bar opens a "table row" mid-sentence ("... causes a loud\n| explosion. Weakness in
    a valve spring ..."): however well it means the question, the quote keeps its start."""
    text = "A weak spring causes a loud\n| explosion. Weakness in a valve spring is found so."
    units = _lines(text)
    q = np.array([1.0, 0.0], dtype=np.float32)
    snap = _Openings({"A": [0.2, 1.0], "|": [1.0, 0.0]})
    assert rerank.later_start(snap, text, units, 0, 1, q) == 0
    ended = text.replace("loud\n", "loud bang.\n")
    assert rerank.later_start(snap, ended, _lines(ended), 0, 1, q) == 1
    monkeypatch.setattr(rerank, "TRIM", False)
    assert rerank.later_start(snap, ended, _lines(ended), 0, 1, q) == 0


DEHUMIDIFIER = """# Dehumidifier guide

## Cleaning the air filter

Clean the filter every two weeks; a clogged filter lowers the drying rate and makes the fan louder.

1. Switch off the dehumidifier and unplug it.
2. Pull the filter out of the back panel by its tab.
3. Vacuum the dust off the filter, or wash it in lukewarm water with a little mild detergent.
4. Let the filter dry completely in the shade before you refit it.
5. Slide the filter back in until it clicks.

CAUTION: Do not dry the filter with a hair dryer or on a radiator; heat deforms the mesh.

## Emptying the water tank

When the tank is full the unit stops and the FULL light comes on. Lift the tank out, pour the water away and push it back in.
"""


def test_the_real_engine_quotes_from_the_paragraph_that_means_the_question(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """(A manual written for this test.) The section's heading names the question's filter, so
    its words choose the whole section; its fourth step's stored opening means "warped after
    drying" more than the section's start does (cosine 0.52 against 0.40 here): the quote starts
    there and holds the caution. "How do I clean the filter?" keeps the procedure from its start."""
    eng = model_engine(tmp_path, "dehumidifier.md", DEHUMIDIFIER)
    out = answered(eng, "the mesh of my filter got warped after drying it, why?")
    assert out["quotes"][0]["text"].startswith("4. Let the filter dry"), out["quotes"]
    assert "on a radiator; heat deforms" in out["answer"]
    assert_verbatim(eng, out)
    how = answered(eng, "How do I clean the air filter?")
    assert "1. Switch off" in how["quotes"][0]["text"], how["quotes"]
    monkeypatch.setattr(rerank, "TRIM", False)
    off = answered(eng, "the mesh of my filter got warped after drying it, why?")   # (no answer cache here)
    assert not off["quotes"][0]["text"].startswith("4."), off["quotes"]
