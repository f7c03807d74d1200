"""How a section's text is cut into units and what a quote may change (units.py): sentences a
scanned page's line breaks cut are made whole, lists stay lists, title lines are recognised,
and only whitespace changes in a quote."""

from __future__ import annotations

import pytest

from nic_edge.engine.textquality import is_noise
from nic_edge.engine.units import clean_quote, sentences, title_line


def test_line_breaks_inside_a_sentence_become_spaces() -> None:
    raw = "The speaker\nis connected with\nthe optical cable.\n1. First step.\n2. Second step."
    assert clean_quote(raw) == "The speaker is connected with the optical cable.\n1. First step.\n2. Second step."
    # An OCR dingbat inside a running sentence is no list item; a list stays a list.
    assert clean_quote("the steering gear may\n* make necessary the renewal.") == \
        "the steering gear may * make necessary the renewal."
    assert clean_quote("they include\n* a worn seal\n* a loose hose") == "they include\n* a worn seal\n* a loose hose"


def test_table_rows_and_labelled_values_keep_their_lines() -> None:
    """A table row ends with "|" and a list of labelled values ("Normal: 5,000 miles") ends its
    entries without a full stop: neither is a sentence going on, so a quote keeps the rows and
    entries on lines of their own instead of running them together ("| 15 °C | | P31 | ...")."""
    table = ("Enable cooling with [P35] = 1.\n| No. | Parameter | Factory setting |\n"
             "| P33 | Cooling flow setpoint, underfloor | 18 °C |  \n| P35 | Cooling enable | 0 |\n"
             "Fan coils: all pipes must\nbe insulated.")
    assert clean_quote(table) == (
        "Enable cooling with [P35] = 1.\n| No. | Parameter | Factory setting |\n"
        "| P33 | Cooling flow setpoint, underfloor | 18 °C | \n| P35 | Cooling enable | 0 |\n"
        "Fan coils: all pipes must be insulated.")
    values = ("Service Interval:\nNormal: 5,000 miles or 6 months\nSevere: 3,000 miles or 3 months\n"
              "Specifications:\nOil capacity: 4.5 quarts with filter\nOil viscosity: 5W-30")
    assert clean_quote(values) == values
    # a sentence that only opens with a label still runs on over its line break
    assert clean_quote("Note: the fan may start\nwithout warning.") == "Note: the fan may start without warning."
    # a list whose bullets the conversion dropped: entries end in a bracket or figure and the
    # next opens with a capital; a scanned page's stray "|" or a capitalised word at a line's
    # end ("Cut" / "No. 5") is still inside the sentence
    items = ("1. Low Coolant Level (50% probability)\nExternal leak (hose, radiator)\n"
             "Internal leak (head gasket failure)\nBoil-over from previous overheat\n2. Thermostat")
    assert clean_quote(items) == items
    assert clean_quote("Take off the door on top of\n| transmission cover (see Cut\nNo. 5) first.") == \
        "Take off the door on top of | transmission cover (see Cut No. 5) first."


def test_a_dot_leader_row_is_one_unit_with_its_value() -> None:
    """A specification table laid out with dot leaders ("Engine Crankcase . . . . 15 qt", TM
    10-3930's equipment data; "Fuel Tank ........ 44 gal" from PDF text) is a label and its
    value. A full stop before a space ends a sentence, so the leader was cut into a unit per dot
    and the value cut from its label: a quote ended on "Fuel Tank. . . . ." without the figure.
    An ellipsis of three dots still ends a sentence."""
    text = ("CAPACITIES:\nFuel Tank. . . . . . . . . . . 44 gal\nCooling System . . . . . . . 8 gal\n"
            "Engine Crankcase .......... 15 qt\nWait. . . Then go.")
    got = [text[a:b] for a, b, _ in sentences(text, lambda term: True)]
    assert got == ["CAPACITIES:", "Fuel Tank. . . . . . . . . . . 44 gal", "Cooling System . . . . . . . 8 gal",
                   "Engine Crankcase .......... 15 qt", "Wait. . .", "Then go."]
    assert not any(noise for _, _, noise in sentences(text, lambda term: True))
    # and a quote keeps each row on its own line (a row does not end in a full stop)
    rows = "Fuel Tank. . . . . . . . . 44 gal\nCooling System . . . . . . 8 gal\nEngine Crankcase ..... 15 qt"
    assert clean_quote(rows) == rows


def test_a_lettered_item_after_a_sentence_starts_a_unit() -> None:
    """Army manuals run their lettered paragraphs on ("... essential to safe and economical
    tire service. b. Tire Inspection Procedure", TM 9-802). A sentence ends only before a word
    that is not lowercase, so the item's letter kept it in the sentence before and the quote
    for the tire pressure ended on the next paragraph's title. The item starts a unit (a
    closing quote stays with its sentence); a lowercase word after a full stop does not."""
    text = ('a. General. Air pressure in tires should be forty pounds. Inspect them "daily." '
            "b. Tire Inspection Procedure\n(1) Inspect tire daily. e.g. a spare. Use 2 lb. air.")
    got = [text[a:b] for a, b, _ in sentences(text, lambda term: True)]
    assert got == ["a. General.", "Air pressure in tires should be forty pounds.", 'Inspect them "daily."',
                   "b. Tire Inspection Procedure", "(1) Inspect tire daily. e.g. a spare.", "Use 2 lb. air."]
    assert title_line(got[3])


def test_a_sentence_cut_by_a_line_break_is_one_unit() -> None:
    """A scanned page's hard line breaks cut sentences ("... should be placed" / "'in the same
    position ..."); the reader's units (where windows may start and stop) make them whole again,
    so a quote never starts at "in the same position" nor stops at "the steering gear may". An
    OCR dingbat ("* make necessary") after a line that stops mid-sentence is no list item; two
    items of a real list stay two, and so does a line after a finished sentence."""
    text = ("If the car has a starter, the spark and throttle levers should be placed\n"
            "\u2018in the same position on the quadrant as when cranking by hand.\n"
            "After two or three years of service the steering gear may\n"
            "* make necessary the renewal of the little pinions.\n"
            "Check these:\n* clogged fuel filter\n* bad pump\n"
            "The pump is tested as follows\nconnect the gauge.\n"
            "The causes are many and they include\n* a worn seal\n* a loose hose")
    units = [text[a:b] for a, b, _ in sentences(text, lambda t: True)]
    assert units == [
        "If the car has a starter, the spark and throttle levers should be placed\n"
        "\u2018in the same position on the quadrant as when cranking by hand.",
        "After two or three years of service the steering gear may\n"
        "* make necessary the renewal of the little pinions.",
        "Check these:", "* clogged fuel filter", "* bad pump",
        "The pump is tested as follows\nconnect the gauge.",
        "The causes are many and they include", "* a worn seal", "* a loose hose",  # a list
    ]


@pytest.mark.parametrize("line,title", [
    ("THE FORD ENGINE 13", True),
    ("The Ford Engine", True),
    ("Gasoline Tank Inlet Pipe", True),
    ("Fuel Pressure 40-50 PSI", False),      # a table row: an answer
    ("Spark plugs 15 ft-lbs", False),
    ("[Safety Notice 1-A]", False),
    ("Check the oil.", False),
    ("IBM Cloudant legacy access controls", False),
])
def test_title_line_rule(line: str, title: bool) -> None:
    assert title_line(line) is title


@pytest.mark.parametrize("line,noise", [
    ("Reverse Pedal Support Brake Pedal Shaft Clutch Pedal Support", True),
    ("Try Now Try Now Try Now Try Now", True),
    ("N' J -- Stow Sh Lf Sten Spits -- Brake Adwisting Not", True),
    ("Turn the adjusting nut on the brake rod to the right.", False),
    ("Clogged fuel filter (service life: 15,000 miles)", False),
    ("5W-30 oil, 4.5 quarts with filter", False),
    # Units after their numbers and a menu path are a specification, not fragments.
    ("| Power supply | AC 100-240 V, 50/60 Hz |", False),
    ("For 4K at 120 Hz, use HDMI 3 or HDMI 4 and set Settings > Picture > HDMI Signal Format to Enhanced.", False),
    # ... while OCR debris with a number in it stays debris.
    ("tsr] as - &F oe EYEE ns Spring Perch Cotter LZ Rear Hob Brake Drum Asle Hosiing Bolt al Ge 4a Br abe", True),
    ("Gasinus How 48 Storing Care tas panos 48 bs hy sop", True),   # "bs" after "48" is no unit
    ("Pump Flow Rate 30 GPH minimum, battery 600 CCA", False),       # capitalised unit symbols are
    # ... and so are lowercase ones: watt-hours, volts DC, pages per minute
    ("No. At 625 Wh, the battery is well above the 160 Wh limit that airlines allow.", False),
    ("Usable capacity 625 Wh, cargo space 12 cu ft", False),
    # Letters that are codes, labels, standards or degree units are no OCR fragments.
    ("3. Screw the right pedal (R) clockwise into the right crank and the left pedal (L) anticlockwise.", False),
    ("1. Press Micro until the desired power level appears (P100, P80, P60, P40, P20 or P10).", False),
    ("The printer supports 2.4 GHz networks only (IEEE 802.11 b/g/n).", False),
    ("| External dimensions (W x H x D) | 51.3 x 30.6 x 42.0 cm |", False),
    ("Charge indoors at 10 °C to 30 °C, on a non-flammable surface.", False),
    ("Thermostat Opening Temp 195°F (91°C)", False),
    ("1. Uneven Brake Pad Wear (40% probability)", False),   # a numbered item, not a callout run
    # ... while unknown two-capital debris still counts as fragments
    ("Chach Relic Can Sha Front Bearing Magne YN Crash Shalt Rear Beare Oi Cot OU Dray Pls Fryuseat", True),
    ("| Wi-Fi standard | 802.11ax (Wi-Fi 6) |", False),    # "Wi" and "Fi" are parts of one word
    ("| Ports | 1 x Gigabit WAN, 4 x Gigabit LAN |", False),   # a table row is a record, not labels
    # a multiplication sign between figures with units (a spec sheet's rare words around it)
    ("| Mechanical | Dimensions | 140mm x 95mm x 21mm |", False),
    ("Overall size 120 cm x 45 cm x 30 cm", False),
    ("Lf x Sten x Spits Adwisting Not 40", True),   # ... an "x" not after a figure with a unit is a fragment
    # a table row of tick marks is a record: a mark is a cell's value, not debris
    ("| actively maintained | ✔ | ✔ |  | ✔ |", False),
    ("| passed | ✓ | × |", False),
    ("| ✔ | ✔ | — |", True),   # ... a row with no word is still nothing to read alone
])
def test_noise_rule(line: str, noise: bool) -> None:
    known = {"turn", "adjust", "nut", "brake", "rod", "right", "clog", "fuel", "filter", "servic", "life",
             "mile", "oil", "quart", "pedal", "support", "shaft", "clutch", "try", "now", "stow"}
    assert is_noise(line, lambda t: t in known) is noise
