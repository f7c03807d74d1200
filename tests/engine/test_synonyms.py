"""An asker's word the manual never uses is read as the manual's word (synonyms.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.core.resources import data_file
from nic_edge.engine import answer, synonyms
from nic_edge.engine.bm25 import analyze, stem
from tests.support.engines import answered, lexical_engine

MANUAL = """# KETTLE MANUAL

## Cleaning

Wipe the outside with a damp cloth. Never put the base in water.

## Descaling

Fill the kettle with equal parts water and white vinegar, boil it and leave it for one hour.
Rinse it twice before use.

## Warranty

The warranty covers faults in materials and workmanship for 24 months from the date of purchase.
Keep the receipt; it is needed for every claim.

## Lid and filter

The lid opens with the button on the handle. The filter slides out upwards.
"""


def test_the_shipped_list_parses_and_groups_both_ways() -> None:
    groups = synonyms.parse(data_file("synonyms.txt").read_text(encoding="utf-8"))
    assert len(groups) >= 300
    assert stem("warranty") in groups[stem("guarantee")]
    assert stem("guarantee") in groups[stem("warranty")]
    assert synonyms.version().startswith("synonyms-3:")


@pytest.mark.parametrize("line", ["warranty", "Warranty guarantee", "re-boot restart", "tyre tire 2"])
def test_a_bad_line_is_refused_with_its_number(line: str) -> None:
    with pytest.raises(ValueError, match="line 2"):
        synonyms.parse(f"# ok\n{line}\n")


def test_only_words_the_index_lacks_are_replaced_by_its_most_used_member() -> None:
    groups = synonyms.parse("warranty guarantee\nfault defect failure\nlid cover cap\n")
    vocab = {stem(w): i for i, w in enumerate(["warranty", "fault", "failure", "lid", "cover"])}
    df = [3, 1, 5, 2, 9]
    terms = analyze("guarantee defect lid kettle")
    # guarantee -> warranty (the only one held); defect -> failure (held in more chunks than fault);
    # lid is held, so it stays although "cover" is more used; kettle has no group.
    assert synonyms.manual_terms(terms, vocab, df, groups) == [stem(w) for w in ("warranty", "failure", "lid", "kettle")]
    assert synonyms.manual_terms(terms, vocab, None, groups)[1] == "fault"   # no df: listed first


def test_a_question_in_the_askers_words_finds_and_covers_the_manuals_section(tmp_path: Path) -> None:
    eng = lexical_engine(tmp_path, "kettle.md", MANUAL)
    question = "How long is the guarantee?"
    out = answered(eng, question)
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "Warranty", out
    assert "24 months" in out["answer"]
    # "guarantee" is the question's one content word: the manual's "warranty" stands in for it,
    # as partial evidence (SWAP_CREDIT) in the confidence's coverage features.
    f = dict(zip(answer.FEATURES, eng.explain(question)["features"]))
    assert 0.0 < answer.SWAP_CREDIT < 1.0
    assert f["cov_index"] == pytest.approx(answer.SWAP_CREDIT), f
    assert f["q_cov"] == pytest.approx(answer.SWAP_CREDIT), f


def test_without_the_list_that_question_misses_its_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The case above is the list's doing: with it switched off "guarantee" is an unknown word."""
    from nic_edge.engine import engine as engine_mod
    monkeypatch.setattr(engine_mod, "USE_SYNONYMS", False)
    eng = lexical_engine(tmp_path, "kettle.md", MANUAL)
    f = dict(zip(answer.FEATURES, eng.explain("How long is the guarantee?")["features"]))
    assert f["cov_index"] == 0.0 and f["q_cov"] == 0.0, f
    assert eng.ask("How long is the guarantee?")["reason"] == "no_match"


def _bm25(paras: list[str]):
    from nic_edge.engine.bm25 import BM25Index, build_arrays
    return BM25Index(build_arrays([analyze(p) for p in paras]))


def test_a_solid_compound_is_read_as_the_two_words_the_manual_writes_side_by_side() -> None:
    paras = ["Connect the printer to the Wi-Fi network from the setup screen.",
             "Keep the air flow around the vents free.",
             "Check the air filter and the flow meter.",          # both words, never side by side
             "Tighten the proc ur of the di ff housing."]         # OCR fragments
    bm = _bm25(paras)
    apart = synonyms.written_apart(bm, lambda r: paras[r])
    groups: dict[str, tuple[str, ...]] = {}
    def swap(question: str) -> list[str]:
        return synonyms.swap(analyze(question), bm.vocab, bm.df, groups, apart)[0]
    assert swap("wifi password") == ["wi", "fi", stem("password")]
    assert swap("airflow vents")[:2] == ["air", "flow"]
    assert swap("procur") == ["procur"]          # "proc ur" stand apart only as OCR debris:
    assert swap("diff") == ["diff"]              # two-letter parts need a hyphen
    # the parts put in count as partial evidence, like a synonym
    assert synonyms.swap(analyze("wifi"), bm.vocab, bm.df, groups, apart)[1] == {"wi", "fi"}
    # without the index's text (apart=None) nothing is split
    assert synonyms.swap(analyze("wifi"), bm.vocab, bm.df, groups)[0] == ["wifi"]


def test_meter_and_filter_in_one_chunk_do_not_make_a_compound() -> None:
    paras = ["Check the air filter and the flow meter."]
    bm = _bm25(paras)
    apart = synonyms.written_apart(bm, lambda r: paras[r])
    assert synonyms.swap(["airflow"], bm.vocab, bm.df, {}, apart)[0] == ["airflow"]


def test_a_damaged_list_is_logged_and_the_engine_answers_without_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "synonyms.txt"
    bad.write_text("warranty\n", encoding="utf-8")          # one word: not a group
    monkeypatch.setattr(synonyms, "data_file", lambda name: bad)
    monkeypatch.setattr(synonyms, "_MAP", None)            # both restored after the test
    monkeypatch.setattr(synonyms, "_DIGEST", synonyms._DIGEST)
    eng = lexical_engine(tmp_path, "kettle.md", MANUAL)
    out = eng.ask("How long is the guarantee?")
    assert out["reason"] == "no_match"                     # as without the list; no exception
    assert "unusable" in caplog.text and synonyms.version().endswith(":none:11")
    out = answered(eng, "How long is the warranty?")
    assert "24 months" in out["answer"]


CARAFE_MANUAL = """# COFFEE MAKER MANUAL

## Carafe

Rinse the carafe after each use. The carafe is dishwasher safe on the top rack only.

## Water tank

Fill the water tank to the MAX mark with cold water.
"""


def test_an_integrators_word_list_adds_the_products_own_words(tmp_path: Path) -> None:
    """engine.words_file: groups beside the bundled list ("jug" is not in it)."""
    from nic_edge.core.config import EngineConfig
    from nic_edge.core.tiers import load_profiles
    from nic_edge.engine.engine import Engine

    assert stem("jug") not in synonyms.groups().table
    words = tmp_path / "words.txt"
    words.write_text("# our products\ncarafe jug pot\n", encoding="utf-8")
    manual = tmp_path / "coffee.md"
    manual.write_text(CARAFE_MANUAL, encoding="utf-8")
    profile = load_profiles()["ultra_lite"]

    def engine(root: Path, words_file: Path | None) -> Engine:
        eng = Engine(root, profile, EngineConfig(abstain_threshold=0.0), None, words_file=words_file)
        eng.index_paths([manual])
        return eng

    with_list = engine(tmp_path / "a", words)
    out = with_list.ask("Can the jug go in the dishwasher?")
    assert not out["abstained"] and "top rack" in out["answer"], out
    assert with_list.words().version.startswith(synonyms.version() + "+")
    # the bundled groups still apply beside the integrator's
    assert stem("warranty") in with_list.words().table[stem("guarantee")]
    without = engine(tmp_path / "b", None)
    f = dict(zip(answer.FEATURES, without.explain("Can the jug go in the dishwasher?")["features"]))
    g = dict(zip(answer.FEATURES, with_list.explain("Can the jug go in the dishwasher?")["features"]))
    assert g["q_cov"] > f["q_cov"], (f, g)
    assert with_list.fingerprint != without.fingerprint   # answers cached with one never serve the other


def test_an_unusable_integrator_list_is_logged_and_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "words.txt"
    bad.write_text("carafe jug\ncarafe-jug pot\n", encoding="utf-8")
    g = synonyms.groups(bad)
    assert g.version == synonyms.version() and stem("jug") not in g.table
    assert "line 2" in caplog.text and "bundled list only" in caplog.text
    assert synonyms.groups(tmp_path / "missing.txt").version == synonyms.version()


@pytest.mark.parametrize("term, base", [
    ("squeaky", "squeak"),    # in the list (squeak squeal screech): its group's word is then put in
    ("leaky", "leak"),        # in the index
    ("noisy", "nois"),        # "noise"
    ("fishy", "fish"),
    ("battery", None),        # nouns in -y: never "batter"
    ("policy", None),
    ("display", None),
    ("knobby", "knob"),      # a doubled consonant
    ("dusty", None),          # "dust" neither indexed nor listed
])
def test_an_adjective_in_y_is_read_as_the_word_it_is_made_from(term: str, base: str | None) -> None:
    vocab = {t: i for i, t in enumerate(["leak", "nois", "fish", "batter", "polic", "displa", "knob"])}
    table = {"squeak": ("squeal",)}
    assert synonyms.adjective_base(term, vocab, table) == base


def test_a_squeaky_question_finds_the_squeal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manual = MANUAL + "\n## Noises\n\nIf the lid hinge starts to squeal, put one drop of cooking oil on it.\n"
    eng = lexical_engine(tmp_path, "kettle.md", manual)
    out = answered(eng, "squeaky lid hinge")
    assert "cooking oil" in out["answer"]
    monkeypatch.setattr(synonyms, "ADJECTIVE_Y", False)
    plain = eng.ask("squeaky lid hinge")
    assert plain["confidence"] < out["confidence"]


def test_a_word_group_mate_in_the_text_counts_half_in_the_reader(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """"The back of my pages has ink smudges" of the printer manual of the appliance check: the
    manual holds "smudges" (in the streaked-pages entry, which does not answer), and the answer
    is the troubleshooting row "Ink smears on the back of the page". "smudge" and "smear" share a
    group of the list, so the row counts half for that word (``reader.MATE_CREDIT``): a lexical
    engine quotes it; without the credit it quotes the streaked-pages entry."""
    from nic_edge.engine import reader

    text = (Path(__file__).resolve().parents[2] / "tools/data/appliances_b/printer_manual.md").read_text(encoding="utf-8")
    eng = lexical_engine(tmp_path, "printer_manual.md", text)
    q = "The back of my pages has ink smudges"
    out = eng.ask(q)
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "Troubleshooting", out["answer"]
    assert "Paper Guide Cleaning" in out["answer"]
    monkeypatch.setattr(reader, "MATE_CREDIT", 0.0)
    out = eng.ask(q)
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "Pages Come Out Streaked", out["answer"]
