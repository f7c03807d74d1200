"""Questions that ask for an amount (quantity.py): what counts as stating it, beside what, and
what the reader and confidence do when a quote states none. Issue 16's tire-pressure example
and the torque-table, capacity and "how often" cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.engines import lexical_engine


@pytest.mark.parametrize("question,quote,lacks", [
    ("What is the tire pressure for the front wheels?",
     "The front wheels should not toe-in more than a quarter of an inch.", True),
    ("What is the tire pressure for the front wheels?", "Inflate the front tires to 60 pounds.", False),
    ("How much oil does the crank case hold?", "Clean the points with an old tooth-brush.", True),
    ("How much oil does the crank case hold?", "The crank case holds about four quarts.", False),
    ("What is the spark plug gap?", "Set the gap to 7/32 inch.", False),
    ("What is the spark plug gap?", "The plug is at the top of each cylinder.", True),
    ("How often should I rotate the tires?", "Rotate the tires every 5,000 miles.", False),
    ("How often should I check the brake fluid?", "Check the brake fluid reservoir weekly.", False),
    ("How do I adjust the carburetor?", "Turn the needle valve to the right.", False),  # no amount asked
    # a keyword query that ends on the kind asks for it ("plug gap?": the blind mower set)
    ("plug gap?", "Measure the gap with a wire-type feeler gauge.", True),
    ("plug gap?", "| Electrode gap | 0.70-0.80 mm |", False),
    ("blade bolt torque spec", "Tighten the blade bolt firmly.", True),
    ("gap between the units", "Leave room between the units.", False),  # not a keyword query for it
    ("What spark plug gap should I use?", "Check the plug for deposits.", True),
    ("What spark plug gap should I use?", "Set the gap to 0.8 mm.", False),
    # appliance and electronics units: SI pressure, power, mains voltage
    ("What water pressure does it need?", "Water pressure must be between 0.05 and 1 MPa.", False),
    ("What water pressure does it need?", "Connect the inlet hose to a cold water tap.", True),
    ("How much power does it use in standby?", "| Power consumption | 120 W typical, 0.5 W standby |", False),
    ("How much power does it use in standby?", "The power cord may be unplugged.", True),
    ("What voltage does it take?", "| Power supply | AC 100-240 V, 50/60 Hz |", False),
    ("How tight should the oil filter be?", "Tighten a further 3/4 turn after the gasket contacts.", False),
    ("How tight should the oil filter be?", "Use an oil filter wrench.", True),
    ("How much does it cost to replace the converter?", "Replace the converter if it rattles (2 bolts).", True),
    ("How much does it cost to replace the converter?", "A new converter costs about $250.", False),
    ("How much does it cost to replace the converter?", "Budget 250 dollars for the part.", False),
    # asked by the verb at the end: "what does ... cost / weigh"
    ("What does a replacement VMB-2 maintenance box cost?", "Check that the replacement box is model VMB-2.", True),
    ("What does a replacement VMB-2 maintenance box cost?", "A VMB-2 box costs $19.", False),
    ("What does the outdoor unit weigh?", "| Weight | 98 kg |", False),
    ("How far from the wall should the headlamps be aimed?", "Aim them ten metres from a wall.", False),
    # every spelled-out number counts, not only the common ones (TM 9-802: "forty pounds per
    # square inch"; "fifteen minutes", "ninety days")
    ("What is the correct tire pressure?", "Air pressure in tires should be forty pounds per square inch.", False),
    ("How long should the engine idle?", "Let the engine idle for fifteen minutes.", False),
    ("How far from the wall should the headlamps be aimed?", "Aim them 10 m from a wall.", False),
    ("How far from the wall should the headlamps be aimed?", "Aim them after a 10 min warm-up.", True),
    # asked by the adjective, as owners ask (a spec table names the noun); h:mm durations; dB
    ("How heavy is the TV?", "| Weight without stand | 15.2 kg |", False),
    ("How heavy is the TV?", "Lift the TV upright with two people.", True),
    ("How much does the machine weigh?", "| Weight | 68 kg |", False),
    ("How fast does the drum spin?", "| Maximum spin speed | 1400 rpm |", False),
    ("How fast does the drum spin?", "Spread the load evenly in the drum.", True),
    ("How big is the screen?", "| Screen size | 55 inches (139 cm) diagonal |", False),
    ("What are the dimensions?", "| Dimensions (H x W x D) | 85 x 60 x 55 cm |", False),
    ("How long does the quick wash take?", "| Quick 15 | 2 kg | cold | 0:15 |", False),
    ("How long does the quick wash take?", "| Quick 15 | 2 kg | cold | - |", True),
    ("How long does the quick wash take?", "Use 1.25 doses of detergent.", True),   # a decimal is no duration
    ("How loud is it when spinning?", "| Noise level, spin | 74 dB(A) |", False),
    ("How loud is it when spinning?", "Spin at 1400 rpm for the driest laundry.", True),
    # a printer's speed; the unit the owner names decides the kind ("in litres": a volume)
    ("How fast does it print?", "| Print speed (ISO, A4) | 12 ppm black, 8 ppm colour |", False),
    ("How fast does it print?", "Printing starts within 10 seconds.", True),
    ("How big is it inside in litres?", "| Cavity capacity | 28 L |", False),
    ("How big is it inside in litres?", "Leave 20 cm above the oven.", False),   # big: a length too
    ("How many litres does the tank hold?", "Leave 20 cm above the tank.", True),
    # "how often" asks for an interval: the seconds and minutes a procedure's steps take do not
    # answer it ("how long" they do)
    ("How often should I change my oil?", "Add 4 quarts of oil, run the engine 30 seconds, wait 2 minutes.", True),
    ("How often should I change my oil?", "Change the oil every 5,000 miles or 6 months.", False),
    ("How often should I change my oil?", "Normal: 5,000 miles or 6 months", False),
    ("How often should I change my oil?", "Change the oil twice a year.", False),
    ("How long should the engine warm up before an oil change?", "Warm the engine for 5 minutes.", False),
])
def test_an_asked_quantity_must_be_in_the_quote(question: str, quote: str, lacks: bool) -> None:
    from nic_edge.engine.quantity import lacks_quantity

    assert lacks_quantity(question, quote) is lacks


_REACH = "Max reach from load center to front tires with 10K carriage (2,000 lb @ 4 ft load center)."
TORQUE_TABLE = ("Oil drain plug 25 ft-lbs Replace washer if damaged Oil filter 3/4 turn after contact "
                "Hand tighten only Lug nuts 85-95 ft-lbs Tighten in star pattern")


_LEADERS = ("Track Width (Tread) . . . . . . . . . . . . . . . . . . 80.3 in. CAPACITIES:\n"
            "Fuel Tank. . . . . . . . . . . . . . . . . . . . . . . . . . . 44 gal\n"
            "Cooling System . . . . . . . . . . . . . . . . . . . . . . . . 8 gal\n"
            "Hydraulic Oil Reservoir. . . . . . . . . . . . . . . . . . . .56.6 gal")


def _subject(question: str, known: set[str]) -> list[tuple[str, float]]:
    from nic_edge.engine.bm25 import analyze
    from nic_edge.engine.quantity import subject_terms

    terms = list(dict.fromkeys(analyze(question)))
    return subject_terms(terms, [2.0] * len(terms), known)


@pytest.mark.parametrize("question, quote, heading, lacks", [
    # a torque table that names other fasteners, not the asked one
    ("What's the torque spec for the crankshaft pulley bolt?", TORQUE_TABLE, "", True),
    ("What's the torque spec for the lug nuts?", TORQUE_TABLE, "", False),
    ("How tight should the oil filter be?", TORQUE_TABLE, "", False),
    # a capacity line for another fluid
    ("What's the transmission fluid capacity?", "Brake Fluid Capacity 0.5 quarts Pad Minimum Thickness 3mm",
     "", True),
    ("What's the brake fluid capacity?", "Brake Fluid Capacity 0.5 quarts Pad Minimum Thickness 3mm", "", False),
    # prose names the thing in the sentence before the figure
    ("How much grease goes in the diff housing?",
     "Do not put too much grease in the differential housing.\nThe housing should not be more than "
     "one-third full.", "", False),
    # ... or after it, in the same sentence
    ("What's the interval for repacking wheel bearings with grease?",
     "Every three or four months the wheels should be removed and the hubs and bearings cleansed, then "
     "repacked with clean grease.", "", False),
    # the heading names the thing: "Capacities" table under a "Cooling System" heading
    ("What's the coolant capacity of the cooling system?", "Capacity 12 quarts (11.4 liters)",
     "Cooling System", False),
    # a pound is a weight: TM 10-3930's equipment data answered "what is the tire pressure" at 0.89
    ("What is the tire pressure?", _REACH, "", True),
    ("What is the tire pressure?", "The front tires. They take 60 lbs.", "", True),
    # ... and a pressure where the sentence, the one before or the heading names one
    ("What is the tire pressure?", "In soft sand, reduce pressure of tires to approximately 15 lbs.", "", False),
    ("What is the tire pressure?", "Check the tires daily.\nKeep them inflated to 60 pounds.", "", False),
    ("What is the tire pressure?", "| Front | 60 lb |", "Tire pressures", False),
    # a dot leader joins a label to its value: its spaced dots end no sentence (TM 10-3930's
    # equipment data, "What is the fuel tank capacity?" abstained at 0.19 on the right row)
    ("What is the fuel tank capacity?", _LEADERS, "", False),
    ("What is the fuel tank capacity?", _LEADERS.replace(" .", "."), "", False),   # unspaced
    ("What is the hydraulic oil reservoir capacity?", _LEADERS, "", False),
    ("What is the transmission capacity?", _LEADERS, "", True),   # ... still only beside its own label
])
def test_the_asked_amount_must_stand_beside_the_asked_thing(question: str, quote: str, heading: str,
                                                            lacks: bool) -> None:
    from nic_edge.engine.bm25 import analyze
    from nic_edge.engine.quantity import lacks_quantity

    known = set(analyze(quote + " " + heading + " differential wheel bearing grease transmission"))
    assert lacks_quantity(question, quote, _subject(question, known), heading) is lacks


def test_pounds_state_a_pressure_only_where_a_pressure_is_named() -> None:
    """The same rule without the asked thing, and a weight asked too: then the pound is that."""
    from nic_edge.engine.quantity import amount_asked, lacks_quantity

    asked = amount_asked("What is the tire pressure?")
    assert not asked.stated(_REACH) and asked.stated("Keep the tires inflated to 60 pounds.")
    assert not lacks_quantity("How heavy is it and what tire pressure?", "It weighs 2,000 lb.")
    assert not lacks_quantity("What torque and pressure?", "Tighten to 330 lb-ft.")


def test_an_unknown_word_weighs_as_an_average_known_one() -> None:
    from nic_edge.engine.quantity import subject_terms

    # "diff" is no word of the manual: it must not outweigh "grease" and "housing" together
    got = dict(subject_terms(["much", "greas", "goe", "diff", "hous"], [1.0, 2.0, 9.0, 9.0, 4.0],
                             {"greas", "hous", "much"}))
    assert got == {"greas": 2.0, "diff": 3.0, "hous": 4.0}


def test_counts_and_verbs_of_fitting_are_not_the_thing_asked_about() -> None:
    from nic_edge.engine.quantity import subject_terms

    # "how many fit in one load": "one" is a count, "fit" how the amount is asked; 2020 a number
    got = dict(subject_terms(["fit", "one", "load", "2020", "dish"], [1.0] * 5, {"fit", "one", "load", "dish"}))
    assert got == {"load": 1.0, "dish": 1.0}


@pytest.mark.parametrize("quote, lacks", [
    ("| Speed | 574 Mbps (2.4 GHz) + 2402 Mbps (5 GHz) |", False),
    ("Transfers run at up to 1 Gbit/s over the LAN port.", False),
    ("The drive reads at 120 MB/s.", False),
    ("The router uses the 5 GHz band.", True),     # a frequency band is no speed
])
def test_a_data_rate_is_a_speed(quote: str, lacks: bool) -> None:
    from nic_edge.engine.quantity import lacks_quantity

    assert lacks_quantity("What is the maximum speed?", quote) is lacks


SPEC_MANUAL = """# SERVICE DATA

## Torque Specifications

Oil drain plug 25 ft-lbs Replace washer if damaged
Oil filter 3/4 turn after contact Hand tighten only
Lug nuts 85-95 ft-lbs Tighten in star pattern

## Wheels

Rotate the wheels front to back at every second service and check the tread depth.
"""


def test_a_torque_table_without_the_asked_bolt_halves_confidence(tmp_path: Path) -> None:
    from nic_edge.engine import answer

    eng = lexical_engine(tmp_path, "service_data.md", SPEC_MANUAL)
    lacks = answer.FEATURES.index("q_lacks")
    asked = eng.explain("What's the torque spec for the lug nuts?")
    assert "Lug nuts 85-95 ft-lbs" in asked["quotes"][0] and asked["features"][lacks] == 0.0
    other = eng.explain("What's the torque spec for the crankshaft pulley bolt?")
    # the table states torques (the rule before: "an amount is stated"), none of them this bolt's
    assert "ft-lbs" in other["quotes"][0] and other["features"][lacks] == 1.0, other


OIL_MANUAL = """# SERVICE MANUAL

## Oil and Filter Change

Service Interval:
Normal: 5,000 miles or 6 months Severe: 3,000 miles or 3 months

Procedure:
Step 1: Warm the engine for 5 minutes, then turn it off and wait 2 minutes.
Step 2: Drain the old oil into a pan and refit the drain plug with a new washer.
Step 3: Fit a new filter, hand tight plus 3/4 turn.
Step 4: Add 4 quarts of fresh oil, run the engine 30 seconds, check the dipstick and top up the oil.
"""


def test_how_often_quotes_the_interval_not_the_steps(tmp_path: Path) -> None:
    eng = lexical_engine(tmp_path, "service.md", OIL_MANUAL)
    out = eng.explain("How often should I change my oil?")
    assert "5,000 miles or 6 months" in out["quotes"][0], out["quotes"]


@pytest.mark.parametrize("question, quote, heading, unnamed", [
    # the example: a passage on how the front wheels are set, no word of pressure
    ("What is the tire pressure for the front wheels?",
     "The front wheels are dished, and placed at an angle to save wear on the tires.", "", True),
    ("What is the tire pressure for the front wheels?", "Keep the tire pressure up.", "", False),
    # a "how often" answered without a figure still names it
    ("How often do I top up the battery cells with water?",
     "Add pure water to the cells often enough to keep the plates covered.", "", False),
    ("What's the torque spec for the crankshaft pulley bolt?", "Oil drain plug 25 ft-lbs", "Torque Specifications", False),
    ("How many backups can I keep?", "Backups are kept in the region.", "", False),  # no kind named
])
def test_a_quote_that_never_names_the_asked_kind(question: str, quote: str, heading: str, unnamed: bool) -> None:
    from nic_edge.engine.quantity import unmentioned

    assert unmentioned(question, quote, heading) is unnamed


def test_confidence_is_quartered_when_the_asked_kind_is_not_even_named() -> None:
    from nic_edge.engine import answer

    f = answer.Features(0.9, 1.0, 0.8, 0.8, 0.5, 0.9, 0.9, q_cov=0.9, q_cos=0.8, q_rank=1.0)
    full = answer.confidence(f, True)
    f.q_lacks = 1.0
    assert answer.confidence(f, True) == pytest.approx(full * answer.QUANTITY_MISSING_FACTOR)
    f.q_unnamed = True
    assert answer.confidence(f, True) == pytest.approx(
        full * answer.QUANTITY_MISSING_FACTOR * answer.QUANTITY_UNNAMED_FACTOR)
    assert answer.QUANTITY_MISSING_FACTOR * answer.QUANTITY_UNNAMED_FACTOR <= 0.25


def test_a_naming_word_the_manual_never_uses_is_not_missing_content(tmp_path: Path) -> None:
    """"How heavy is the TV?" asked of a manual that says "Weight", never "heavy": the
    adjective says which amount is asked (like "how" and "much"); it does not make the question
    look like one about another product. Whether the quote states a weight is what counts."""
    from nic_edge.engine import answer, reader

    eng = lexical_engine(tmp_path, "tv.md", (
        "# TV\n\n## Wall Mounting\nThe wall must support four times the weight of the TV "
        "(15.2 kg without stand).\n\n## Remote\nThe remote works up to 7 m from the TV.\n\n"
        "## Cleaning\nWipe the TV with a dry cloth.\n"))
    snap, ret, _ = eng._run("How heavy is the TV?", 5)
    quotes = reader.read(snap, ret, answer.content_terms(ret.terms), "How heavy is the TV?")
    f = answer.features(snap, ret, False, quotes, "How heavy is the TV?")
    assert "heavy" not in snap.bm25.vocab and f.cov_index == pytest.approx(1.0)
    assert not f.q_lacks
    # a word of the kind that the manual does use stays content ("weight" here)
    snap, ret, _ = eng._run("What is the weight of the remote?", 5)
    f = answer.features(snap, ret, False, [], "What is the weight of the remote?")
    assert f.cov_index == pytest.approx(1.0)
    snap, ret, _ = eng._run("How heavy is the remote?", 5)
    quotes = reader.read(snap, ret, answer.content_terms(ret.terms), "How heavy is the remote?")
    f = answer.features(snap, ret, False, quotes, "How heavy is the remote?")
    assert f.q_lacks  # no weight stated beside the remote: halved


def test_every_dimension_asked_for_can_be_named() -> None:
    """Each kind a question can ask for has the words that name it (a quote that never names the
    asked kind is doubted; a kind without words crashed that check for "power")."""
    from nic_edge.engine.quantity import _ASKED, _DIM_STEMS, amount_asked

    for _, dim in _ASKED:
        assert _DIM_STEMS[dim], dim
    asked = amount_asked("How much power does it use in standby?")
    assert asked is not None and asked.named_in({"power"}) and not asked.named_in({"cord"})


def test_the_manuals_own_product_is_implicit_beside_an_amount() -> None:
    """A word in most of an index's chunks names the product the manual is about; its
    specification rows state amounts without naming it (``implicit``, from
    ``BM25Index.everywhere``). A word of a part is still the thing asked about."""
    from nic_edge.engine.quantity import lacks_quantity, subject_terms

    row = "| Weight without stand | 15.2 kg |"
    known = {"tv", "weight", "stand", "wall"}
    assert lacks_quantity("How heavy is the TV?", row, subject_terms(["tv"], [0.5], known), "Specifications")
    assert subject_terms(["tv"], [0.5], known, {"tv"}) == []
    assert not lacks_quantity("How heavy is the TV?", row, subject_terms(["tv"], [0.5], known, {"tv"}),
                              "Specifications")
    # the stand is a part, not the product: the row names it, another row would not
    got = subject_terms(["stand", "tv"], [2.0, 0.5], known, {"tv"})
    assert got == [("stand", 2.0)]
    assert lacks_quantity("How heavy is the TV's stand?", "| Screen size | 55 in |\n| Power | 120 W |",
                          got, "Specifications")


def test_words_in_most_chunks_name_the_manual_and_tiny_indexes_have_none() -> None:
    from nic_edge.engine.bm25 import BM25Index, build_arrays

    docs = [["tv", "remot", f"w{i}"] if i < 8 else ["remot", f"w{i}"] for i in range(12)]
    idx = BM25Index(build_arrays(docs))
    assert idx.everywhere(["tv", "remot", "w3", "absent"], 0.5, 10) == {"tv", "remot"}
    assert idx.everywhere(["tv", "remot"], 0.7, 10) == {"remot"}       # 8 of 12 is not more than 0.7
    assert BM25Index(build_arrays(docs[:9])).everywhere(["tv", "remot"], 0.5, 10) == frozenset()


@pytest.mark.parametrize("question,dims", [
    # the unit the question names says the kind, however the question is put (keyword queries
    # of the blind soundbar and mower sets: none of them says "how much" or "what is the ...")
    ("distance between the two wall brackets in mm", ("length",)),
    ("max milliseconds of delay I can add for lip sync", ("time",)),
    ("what psi should the tires be pumped to", ("pressure",)),
    ("maximum SPL in dB of the whole system", ("loudness",)),
    ("how many minutes does the priming take after I pour the ink in", ("time",)),
    ("minimum clearance in metres around the outdoor unit", ("length",)),
    # "what" before a time unit asks when, not how long; no unit named, no amount asked
    ("what hours can I phone someone for help", None),
    ("how do I take the wall brackets off", None),
    ("What does the minimum thickness do?", None),
    # "hold" asks a capacity after "how much / how many", not as a verb of other senses
    ("How much water does the radiator hold?", ("volume",)),
    ("how much does the grass bag hold", ("volume",)),
    ("How many cups the water tank holds", ("volume",)),
    ("What torque on the hold-down bolts for the outdoor unit?", ("torque",)),
    ("how long can I put a live broadcast on hold while I make dinner", ("time",)),
    ("night shots take forever, how long am I supposed to hold still", ("time",)),
    ("hold the button for how long to reset", ("time",)),
])
def test_a_question_that_names_its_unit_asks_that_amount(question: str, dims: tuple[str, ...] | None) -> None:
    """... and asks no other kind (the asked kind's units decide what states it)."""
    from nic_edge.engine.quantity import amount_asked

    asked = amount_asked(question)
    if dims is None:
        assert asked is None or not asked.dims, question
    else:
        assert asked is not None and asked.dims == dims, (question, asked)


def test_milliseconds_state_a_time() -> None:
    """"300 ms" answers "how long a delay": milliseconds are a unit of time (an audio delay, a
    lip-sync step), and a plain number is not."""
    from nic_edge.engine.quantity import amount_asked

    asked = amount_asked("max milliseconds of delay I can add for lip sync")
    assert asked is not None
    assert asked.stated("The delay can be set from 0 to 300 ms.")
    assert asked.stated("Each step adds 10 milliseconds.")
    assert not asked.stated("Press SET 5 times until the fifth light blinks.")


@pytest.mark.parametrize("quote, lacks", [
    ("* 800\u00d7480 RGB LCD display", False),
    ("| Still resolution | 12.3 Megapixels |", False),
    ("Full HD: 1920 x 1080 at 60 frames a second, or 1080p.", False),
    ("The 4K panel upscales every source.", False),
    ("Print quality: 4800 dpi.", False),
    ("The Touch Display connects through the DSI connector.", True),   # no picture size
    ("Connect the 15 pins of the ribbon.", True),
])
def test_a_picture_size_is_a_resolution(quote: str, lacks: bool) -> None:
    """A screen's, sensor's or printer's resolution is an amount (confidence-22): "What resolution
    does the Touch Display have?" answered with the display's introduction was confident."""
    from nic_edge.engine.quantity import amount_asked, lacks_quantity

    for question in ("What resolution does the Touch Display have?", "How many megapixels does it have?",
                     "max resolution in pixels"):
        assert amount_asked(question).dims == ("resolution",), question
    assert lacks_quantity("What resolution does the Touch Display have?", quote) is lacks
