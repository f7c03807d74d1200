"""Reader choices that need the meaning of the question: the real int8 model's heading and chunk
vectors (a paraphrase answered under the heading that means it, a section without a heading, the
section closest in meaning that shares no word with the question). Every quote is checked
verbatim against its cited section (tests/support/engines.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.engines import answered as _ask, model_engine

QA_MANUAL = """# CAR MANUAL

## How is the Engine started?

Before cranking, set the spark lever and the throttle. Switch the ignition circuit on at the coil box
and pull the starting crank upward with a quick swing. When the motor fires, advance the spark lever.

## What is the purpose of the Ignition System?

It supplies the electric spark which explodes the charge of gas in each cylinder at the right
moment. The magneto produces the current, the coil units raise it, and the commutator sends it to
the right plug in turn.

## How is the Carburetor adjusted?

Turn the needle valve to the right until the motor slows, then back a quarter turn.
"""


def test_a_paraphrase_is_answered_under_the_heading_that_means_it(tmp_path: Path) -> None:
    """"What does the ignition circuit do?" shares its words with the starting procedure, but
    means the heading "What is the purpose of the Ignition System?": the heading vectors stored
    with the index (format 4) let the reader see that (the real int8 model)."""
    eng = model_engine(tmp_path, "car.md", QA_MANUAL)
    out = _ask(eng, "What does the ignition circuit do?")
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "What is the purpose of the Ignition System?"
    assert "electric spark" in out["answer"]


def test_a_heading_backed_choice_is_not_doubted_for_disagreeing_with_retrieval(tmp_path: Path) -> None:
    """Retrieval ranks the starting procedure first for "What does the ignition circuit do?"
    (shared words); the reader quotes the section whose heading means the question. Confidence
    counts a reader choice against retrieval's ranking as doubt (``q_rank``), but not when the
    quoted section's heading is the closest to the question: then it counts as agreement, and
    the heading's cosine as a semantic match (``cos_top``)."""
    from nic_edge.engine import answer
    eng = model_engine(tmp_path, "car.md", QA_MANUAL)
    ex = eng.explain("What does the ignition circuit do?")
    assert ex["quoted_sections"][0] == "What is the purpose of the Ignition System?"
    assert ex["sections"][0] != ex["quoted_sections"][0], ex["sections"]   # retrieval disagreed
    rank = answer.FEATURES.index("q_rank")
    assert ex["features"][rank] == answer.HEAD_LEAD_RANK == 1.0
    # ... and that heading's cosine counts as the best semantic match retrieval found
    snap, q = eng.snapshot(), eng.embedder.embed("What does the ignition circuit do?")
    head = float(snap.heading_vectors.cosines(q)[snap.headings.index(ex["quoted_sections"][0])])
    assert head > float(snap.vectors.cosines(q).max())  # the heading means it more than any chunk
    assert ex["features"][answer.FEATURES.index("cos_top")] == pytest.approx(head, abs=1e-5)
    # a question whose quoted section is retrieval's own first: nothing to override
    same = eng.explain("How is the carburetor adjusted?")
    assert same["sections"][0] == same["quoted_sections"][0] and same["features"][rank] == 1.0


ROUTER_MANUAL = """Place the router at least one metre away from microwave ovens, baby monitors and cordless
phones: they disturb its radio and the connection drops. Keep it off the floor and out of metal
cabinets, in the middle of the rooms it serves.

## Wireless settings

Open the admin page in a browser and choose the network name, the password and the channel
width. Save the page and wait until the lamp stops blinking.

## Warranty

The warranty covers faults of material and workmanship for two years from the date of purchase.
"""


def test_a_section_without_a_heading_is_not_doubted_for_it(tmp_path: Path) -> None:
    """The text before a manual's first heading has no heading to match the question. The
    heading match (real int8 model) compares candidates' headings; a section without one used
    to count as matching nothing, and "Wireless settings" won a question the untitled text
    answers."""
    eng = model_engine(tmp_path, "router.md", ROUTER_MANUAL)
    out = _ask(eng, "Where should the router go so the wireless signal is not disturbed?")
    assert out["answer"].startswith("Place the router at least one metre away"), out["answer"]


SPEAKER_MANUAL = """# SOUNDBAR MANUAL

## Connecting the Subwoofer

The subwoofer adds the deep bass of films and music. It pairs with the soundbar by itself when
both are switched on; if the link light blinks red, hold the ID SET button on its back for five
seconds.

## Night Mode

Night Mode compresses the dynamic range: loud scenes are played softer and quiet dialogue
louder, so that others in the house are not disturbed after dark. Press NIGHT on the remote.

## Remote Control Batteries

The remote takes two AAA batteries. Replace both at once when the soundbar stops reacting.
"""


def test_the_closest_section_in_meaning_may_answer_in_words_of_its_own(tmp_path: Path) -> None:
    """"Can I watch films without waking the kids?" shares "films" with the subwoofer section
    and no word with Night Mode, which answers it. A window used to need one of the question's
    words, so Night Mode could never be quoted and the subwoofer's pairing was; the section of
    the index's closest chunk in meaning (real int8 model) may now answer in its own words."""
    eng = model_engine(tmp_path, "soundbar.md", SPEAKER_MANUAL)
    question = "Can I watch films without waking the kids?"
    snap = eng.snapshot()
    cos = snap.vectors.cosines(eng.embedder.embed(question))
    assert snap.section(int(cos.argmax())) == "Night Mode"          # the closest in meaning ...
    out = _ask(eng, question)
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "Night Mode", out["answer"]
    assert "Press NIGHT" in out["answer"]
    assert eng.explain(question)["quoted_closest"] is True      # (what tools/eval_answers.py --signals reads)
    # ... while a question in the manual's own words is answered as before
    out = _ask(eng, "How do I replace the remote batteries?")
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "Remote Control Batteries"


def test_a_best_match_that_stands_out_in_meaning_raises_confidence(tmp_path: Path) -> None:
    """``cos_gap``: the best chunk's cosine minus the 5th best, from the real int8 vectors. A
    question in the owner's own words shares few words with the manual; that one passage stands
    out in meaning from the rest is evidence the manual answers it. Lexical mode has no vectors
    and no gap; the lexical model gives it no weight."""
    import numpy as np

    from nic_edge.engine import answer
    i = answer.FEATURES.index("cos_gap")
    bigger = "\n\n".join((QA_MANUAL, ROUTER_MANUAL, QA_MANUAL.replace("Ignition", "Lighting")))
    for name, text, question in (("car.md", QA_MANUAL, "What does the ignition circuit do?"),
                                 ("both.md", bigger, "Why does my wifi connection keep dropping?")):
        (tmp_path / name[:-3]).mkdir()
        eng = model_engine(tmp_path / name[:-3], name, text)
        ex = eng.explain(question)
        cos = np.sort(eng.snapshot().vectors.cosines(eng.embedder.embed(question)))[::-1]
        # the 5th best, or the last in an index of fewer chunks
        other = cos[min(answer.GAP_RANK, cos.size) - 1]
        assert ex["features"][i] == pytest.approx(float(cos[0] - other), abs=1e-5) and ex["features"][i] > 0
    assert cos.size > answer.GAP_RANK, cos.size
    f = answer.Features(**dict(zip(answer.FEATURES, ex["features"])))
    flat = answer.Features(**{**dict(zip(answer.FEATURES, ex["features"])), "cos_gap": 0.0})
    assert answer.confidence(f, True) > answer.confidence(flat, True)
    assert answer.confidence(f, False) == answer.confidence(flat, False)
    assert answer.COEF_LEXICAL[answer.FEATURES.index("cos_gap")] == 0.0


def test_a_quote_from_the_closest_section_in_meaning_raises_confidence(tmp_path: Path) -> None:
    """``q_closest``: the reader quoted the section that holds the index's closest chunk in
    meaning (real int8 vectors). A question in the owner's own words ("Can I watch films without
    waking the kids?") shares no word with the section that answers it; that the quote comes from
    the passage closest in meaning is evidence it answers. It does not count when the quote
    lacks an amount the question asks for: a passage that means the question but states no
    figure is no better for meaning it. Lexical mode has no vectors; its model gives it no
    weight."""
    from nic_edge.engine import answer
    i = answer.FEATURES.index("q_closest")
    eng = model_engine(tmp_path, "soundbar.md", SPEAKER_MANUAL)
    ex = eng.explain("Can I watch films without waking the kids?")
    assert ex["quoted_closest"] is True and ex["features"][i] == 1.0
    f = answer.Features(**dict(zip(answer.FEATURES, ex["features"])))
    off = answer.Features(**{**dict(zip(answer.FEATURES, ex["features"])), "q_closest": 0.0})
    assert answer.confidence(f, True) > answer.confidence(off, True)
    assert answer.confidence(f, False) == answer.confidence(off, False)
    assert answer.COEF_LEXICAL[i] == 0.0
    # an amount asked of the closest passage, which states none: no credit for meaning it
    ex = eng.explain("How many watts does the subwoofer draw?")
    assert ex["quoted_closest"] is True, ex["quoted_sections"]
    assert ex["features"][answer.FEATURES.index("q_lacks")] == 1.0
    assert ex["features"][i] == 0.0
    # a quote from another section than the closest chunk's gets none either
    (tmp_path / "big").mkdir()
    big = model_engine(tmp_path / "big", "big.md", "\n\n".join((QA_MANUAL, ROUTER_MANUAL, SPEAKER_MANUAL)))
    big.rerank = False   # the words' choice ("Wireless settings"); meaning would pick the closest
    ex = big.explain("Where should the router go so the wireless signal is not disturbed?")
    assert ex["quoted_closest"] is False and ex["features"][i] == 0.0


def test_a_table_row_stating_the_asked_amount_is_not_doubted_for_its_heading(tmp_path: Path) -> None:
    """"How much power does it use in standby?" of the TV manual of the appliance check: its
    answer is the row "| Power consumption | 120 W typical, 0.5 W standby |" under
    "Specifications", a heading (and a table chunk) far in meaning from the question, while the
    troubleshooting entry "No power" is close. The meaning priors of a section whose window is
    table rows stating the asked amount beside the asked thing are waived
    (``reader.AMOUNT_WAIVER``); without that the reader quoted "No power"."""
    from nic_edge.engine import reader

    text = (Path(__file__).resolve().parents[2] / "tools/data/appliances/tv_manual.md").read_text(encoding="utf-8")
    eng = model_engine(tmp_path, "tv_manual.md", text)
    out = _ask(eng, "How much power does it use in standby?")
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "Specifications", out["answer"]
    assert "0.5 W standby" in out["answer"]
    assert reader.AMOUNT_WAIVER > 0


def test_prose_stating_the_asked_amount_is_not_doubted_for_its_heading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"How much water does the radiator hold?" of the bundled Ford manual: its answer is "fill
    the radiator ... with clean fresh water. ... The system will hold approximately three
    gallons." under "What must be done before starting the Car?", a heading far in meaning from
    the question, while "What should be done when the Radiator overheats?" is close and states
    no capacity. The waiver of the meaning priors holds for prose that states the asked amount
    beside the asked thing, not only for table rows (reader-37); without it the reader quoted the
    overheating section and the answer abstained for lacking the amount."""
    from nic_edge.engine import reader

    text = (Path(__file__).resolve().parents[2] / "nic_edge/data/ford_model_t_manual_1919.txt").read_text(encoding="utf-8")
    eng = model_engine(tmp_path, "ford.txt", text)
    q = "How much water does the radiator hold?"
    out = _ask(eng, q)
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "What must be done before starting the Car?"
    assert "three gallons" in out["quotes"][0]["text"]
    monkeypatch.setattr(reader, "AMOUNT_WAIVER", 0.0)
    ex = eng.explain(q)
    assert ex["quoted_sections"][0] != "What must be done before starting the Car?"


def test_a_table_row_holding_every_word_of_the_question_is_not_doubted_for_its_heading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"my brakes squeal" of the e-bike manual of the appliance check: its answer is the row
    "| Brakes squeal | Dirty pads or discs | Clean the discs with isopropyl alcohol |" of the table
    under "9 Troubleshooting", a heading (and a table chunk) far in meaning from the question,
    while "6.4 Braking" is close. A window of table rows that hold every word of the question
    has its section's meaning priors waived (``reader.ROW_COVER_WAIVER``); without that the
    reader quotes "6.4 Braking"."""
    from nic_edge.engine import reader

    text = (Path(__file__).resolve().parents[2] / "tools/data/appliances_c/ebike_manual.md").read_text(encoding="utf-8")
    eng = model_engine(tmp_path, "ebike_manual.md", text)
    for q in ("my brakes squeal", "squeaky brakes"):   # the second: an adjective's word, then its group's
        out = _ask(eng, q)
        assert out["citations"][out["quotes"][0]["citation"]]["section"] == "9 Troubleshooting", out["answer"]
        assert "isopropyl alcohol" in out["answer"]
    monkeypatch.setattr(reader, "ROW_COVER_WAIVER", 0.0)
    out = _ask(eng, "my brakes squeal")
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "6.4 Braking", out["answer"]


def test_a_sentence_holding_every_word_of_the_question_is_not_doubted_for_its_heading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"How do I tighten the fan belt?" of the bundled Ford manual: its answer is said in passing
    under "How is Engine cooled?" ("The belt should be inspected frequently and tightened when
    necessary ... by means of the adjusting screw in the fan bracket"), a heading and a chunk far
    in meaning from the question, while "How is Steering Gear tightened?" is close and says
    nothing of a belt. A window with one sentence that holds every word of a question of three
    words or more has its section's meaning priors waived (``reader.SENTENCE_COVER_WAIVER``,
    reader-39); without that the reader quoted the steering gear and the answer abstained."""
    from nic_edge.engine import reader

    text = (Path(__file__).resolve().parents[2] / "nic_edge/data/ford_model_t_manual_1919.txt").read_text(encoding="utf-8")
    eng = model_engine(tmp_path, "ford.txt", text)
    q = "How do I tighten the fan belt?"
    out = _ask(eng, q)
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "How is Engine cooled?", out["answer"]
    assert "adjusting screw in the fan bracket" in out["quotes"][0]["text"]
    monkeypatch.setattr(reader, "SENTENCE_COVER_WAIVER", 0.0)
    ex = eng.explain(q)
    assert ex["quoted_sections"][0] != "How is Engine cooled?"


def test_the_manuals_own_product_need_not_stand_beside_its_specification(tmp_path: Path) -> None:
    """"How heavy is the TV?" of the appliance check's TV manual: its answer is the rows
    "| Weight without stand | 15.2 kg |" of "Specifications", which never name the TV -- the
    whole manual is about it ("tv" is in more than half of its chunks, quantity.TOPIC_SHARE).
    Before confidence-16 that quote counted as lacking the asked amount (confidence x 0.4) and
    the reader preferred "Wall Mounting", whose sentence names the TV beside the weight."""
    from nic_edge.engine import answer, quantity

    text = (Path(__file__).resolve().parents[2] / "tools/data/appliances/tv_manual.md").read_text(encoding="utf-8")
    eng = model_engine(tmp_path, "tv_manual.md", text)
    out = _ask(eng, "How heavy is the TV?")
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "Specifications", out["answer"]
    assert "15.2 kg" in out["answer"] and "Wall" not in out["answer"]
    ex = eng.explain("How heavy is the TV?")
    assert ex["features"][answer.FEATURES.index("q_lacks")] == 0.0
    assert eng.snapshot().bm25.everywhere(["tv"], quantity.TOPIC_SHARE, quantity.TOPIC_MIN_CHUNKS) == {"tv"}


TIMESHIFT_MANUAL = """# TELEVISION

## Pausing Live TV

Press the pause button on the remote to stop the programme you are watching and press play to go
on from where you left it. You can pause for up to 90 minutes. The buffer is cleared when you
change channel or turn off the set.

## Recording Programmes

Connect a USB drive of at least 32 GB and format it in the set before the first recording. Press
the record button to start and stop recording the broadcast you are watching.

## Picture Settings

Choose a picture mode for the room: Vivid for bright rooms, Standard for daytime and Cinema for
films in a dark room. Each input keeps its own picture mode.
"""


def test_an_amount_in_the_closest_section_in_meaning_is_the_amount_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"how long can I put a live broadcast on hold" is answered by "You can pause for up to 90
    minutes": a time, in the section closest in meaning, but the question's words for the thing
    ("broadcast", "hold") do not stand beside it. Meaning stands in for the words
    (``answer.CLOSEST_STATES``): the quote is not counted as lacking the amount (confidence x
    0.4 before confidence-17) and it counts as the closest section's (``q_closest``) -- unless
    most of the question's words for the thing are words the manual never uses."""
    from nic_edge.engine import answer
    lacks, closest = answer.FEATURES.index("q_lacks"), answer.FEATURES.index("q_closest")
    eng = model_engine(tmp_path, "tv.md", TIMESHIFT_MANUAL)
    question = "how long can I put a live broadcast on hold"
    out = _ask(eng, question)
    assert "up to 90 minutes" in out["answer"]
    ex = eng.explain(question)
    assert ex["quoted_closest"] is True
    assert ex["features"][lacks] == 0.0 and ex["features"][closest] == 1.0
    monkeypatch.setattr(answer, "CLOSEST_STATES", False)
    off = eng.explain(question)
    assert off["features"][lacks] == 1.0 and off["features"][closest] == 0.0
    # a quote of the closest section that states no amount of the asked kind still lacks it
    monkeypatch.setattr(answer, "CLOSEST_STATES", True)
    ex = eng.explain("how much does a USB drive for recording cost")
    assert ex["features"][lacks] == 1.0, ex
    # nor is a thing named mostly in words no manual here uses covered by the closest amount
    ex = eng.explain("how long can the flux capacitor buffer hold")
    assert ex["quoted_closest"] is True and ex["features"][lacks] == 1.0, ex
