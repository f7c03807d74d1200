"""Questions that ask for an amount, and whether a passage states one.

A technician who asks "How tight should the oil filter be?" or "What spark plug gap should I
use?" wants the figure, not the procedure around it. Two parts of the engine use this: the
reader prefers a short window that states the figure (reader.py), and confidence is halved when
the quote states none beside the thing asked about (answer.py): a torque table that lists other
fasteners, a capacity line for another fluid, does not answer "What's the torque for the
crankshaft pulley bolt?" or "What's the transmission fluid capacity?". The unit words are
general measurement vocabulary, not any manual's. "How often" asks for an interval (miles,
months, "every", "twice a year"), not for the seconds or minutes a step takes; "how long" does.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Container, Sequence

from nic_edge.engine.bm25 import analyze, analyze_at

_INTERVAL = r"miles?|hours?|days?|weeks?|months?|years?|km|every|a|per"   # units of "how long" and "how often"
_UNITS = {
    "pressure": r"psi|pounds?|lbs?|kpa|mpa|hpa|bar|mbar|atmospheres?",
    "length": r"inch(?:es)?|in\.|mm|millimet(?:er|re)s?|cm|centimet(?:er|re)s?|thousandths?|feet|foot|ft|\"|"
              r"met(?:er|re)s?|m|km|kilomet(?:er|re)s?|yards?|yd",
    "torque": r"ft\.?[- ]?lbs?|lb\.?[- ]?ft|foot[- ]pounds?|n\.?m|newton|turns?",
    "volume": r"quarts?|gallons?|pints?|lit(?:er|re)s?|l|ml|ounces?|oz|cups?|qts?|gal|cu\.? ?ft",
    "voltage": r"volts?|v|vac|vdc|kv|mv",
    "power": r"watts?|w|kw|kilowatts?|hp|horsepower|btu",
    "current": r"amps?|amperes?|ma|a",
    "temperature": r"degrees?|°|fahrenheit|celsius|f|c",
    # a printer's or scanner's pages (or images) per minute too
    # ... and a network's or a drive's data rate ("574 Mbps", "1 Gbit/s", "120 MB/s")
    "speed": r"mph|rpm|km/?h|miles? (?:an|per) hour|revolutions?|ppm|ipm|pages? (?:a|per) minute|"
             r"[kmg]bps|[kmg]bit/s|[kmg]b/s",
    "weight": r"pounds?|lbs?|kg|kilograms?|tons?",
    # a programme table's "0:15" / "3:20" (hours:minutes) is a duration too
    "time": _INTERVAL + r"|minutes?|mins?|seconds?|secs?|millisec(?:ond)?s?|ms|h|hrs?|(?<=\d):\d\d\b",
    # how often: a service interval, not how long a step takes ("run 30 seconds", "wait 2 minutes")
    "frequency": _INTERVAL + r"|kilomet(?:er|re)s?|times?",
    "resistance": r"ohms?|\u03a9|k\u03a9",
    "money": r"dollars?|usd|euros?|eur|cents?|pounds? sterling|gbp",
    "loudness": r"db\(?a?\)?|dba|decibels?",
    # a screen's or a sensor's picture size: "800×480", "1920 x 1080", "12 megapixels", "1080p", "4K"
    "resolution": r"[x×]\s?\d+|megapixels?|mp|pixels?|px|dpi|ppi|p|k",
}


def unit_words() -> str:
    """Every unit of every kind as one regex alternation (ingest.numbering: "4.5 Litres of oil"
    is an amount, not the heading "4.5 ...")."""
    return "|".join(_UNITS[d] for d in sorted(_UNITS))


_ASKED = [(re.compile(p, re.I), dim) for p, dim in (
    (r"\bpressure\b", "pressure"),
    (r"\b(?:gap|clearance|thickness|diameter|width|height|depth|dimensions?|"
     r"how (?:wide|thick|far|deep|big|large|tall|high))\b", "length"),
    (r"\btorque\b|\bhow tight\b", "torque"),
    # "hold" asks a capacity after "how much / how many" only: not "hold-down bolts", "on hold", "hold still"
    (r"\bcapacity\b|\bhow much (?:oil|fuel|gas|gasoline|water|coolant|fluid|antifreeze)\b"
     r"|\bhow (?:much|many)\b(?:\s+[\w'-]+){0,6}\s+holds?\b", "volume"),
    (r"\bvoltage\b", "voltage"),
    (r"\bpower (?:consumption|rating|draw|output)\b|\bwattage\b|\bhow much power\b|\bhow many watts\b", "power"),
    (r"\b(?:current|amperage)\b", "current"),
    (r"\btemperature\b|\bhow (?:hot|cold)\b", "temperature"),
    (r"\bhow fast\b|\bspeed\b", "speed"),
    (r"\bweigh(?:t|s)?\b|\bhow heavy\b", "weight"),
    (r"\bhow often\b|\binterval\b", "frequency"),
    (r"\bhow long\b", "time"),
    (r"\bresistance\b", "resistance"),
    (r"\bcosts?\b|\bprice\b", "money"),
    (r"\bhow loud\b|\bnoise level\b|\bloudness\b|\bdecibels?\b", "loudness"),
    (r"\bresolution\b|\bmegapixels?\b", "resolution"))]
# The unit the owner names says the kind ("How big is it inside in litres?"), and a question that
# names it asks for that amount however it is put: "distance between the two wall brackets in
# mm", "max milliseconds of delay I can add", "what psi should the tires be pumped to". The unit
# after "in", "how many", "max" / "min" (or "what", except a time unit: "what hours can I phone"
# asks opening hours).
_NAMED_UNITS = {
    "time": r"millisec(?:ond)?s|ms|seconds|secs|minutes|mins|hours|hrs",
    "length": r"mm|millimet(?:er|re)s|cm|centimet(?:er|re)s|inches|feet|met(?:er|re)s|km|kilomet(?:er|re)s",
    "pressure": r"psi|kpa|mpa",
    "weight": r"kg|kilograms|pounds|lbs|grams",
    "volume": r"lit(?:er|re)s|ml|millilit(?:er|re)s|gallons|quarts|cubic",
    "power": r"watts|kw|kilowatts",
    "voltage": r"volts",
    "current": r"amps|amperes",
    "temperature": r"degrees|celsius|fahrenheit",
    "loudness": r"db|decibels",
    "speed": r"rpm|mph|[mg]bps",
    "resolution": r"pixels|megapixels|dpi|ppi",
}
_UNIT_NAMED = [(r"\b(?:in|how many|max(?:imum)?|min(?:imum)?" + ("" if dim == "time" else "|what") + r")\s+(?:"
                + units + r")\b", dim) for dim, units in _NAMED_UNITS.items()]
_ASKED += [(re.compile(p, re.I), dim) for p, dim in _UNIT_NAMED]
_DIMENSIONS = (r"pressure|gap|torque|capacity|voltage|wattage|temperature|clearance|size|speed|weight|"
               r"interval|resistance|current|amount|cost|price|dimensions|height|width|depth|noise level|resolution")
_ASKS_AMOUNT = re.compile(
    # the amount asked by its adjective: "How heavy is the TV?", "How fast does the drum spin?"
    r"\bhow (?:much|many|often|long|far|tight|hot|cold|heavy|fast|big|large|tall|high|wide|thick|deep|loud)\b"
    r"|\bwhat(?:'s| is| are| should)?(?: the)? (?:[\w-]+\s+){0,3}(?:" + _DIMENSIONS + r")\b"
    # the amount asked by its verb at the end: "What does a replacement VMB-2 box cost?"
    r"|\bwhat (?:does|do|did|will|would) (?:[\w'-]+\s+){1,6}(?:cost|weigh)\b"
    # a keyword query that ends on the kind: "plug gap?", "blade bolt torque spec"
    r"|^\s*(?:[\w'-]+\s+){0,3}(?:" + _DIMENSIONS + r")(?:\s+specs?)?\s*\??\s*$"
    # the unit it is asked in: "distance between the two brackets in mm" (``_UNIT_NAMED``)
    + "".join("|" + p for p, _ in _UNIT_NAMED), re.I)
_NUMBER = r"(?:\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:thir|four|fif|six|" \
          r"seven|eigh|nine)teen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|" \
          r"thousand|half|quarter|dozen|once|twice|daily|weekly|monthly|yearly|annually|hourly)\b)"
_HAS_NUMBER = re.compile(_NUMBER, re.I)
_FREQUENCY = re.compile(r"\b(?:once|twice|daily|weekly|monthly|yearly|annually|hourly|every)\b", re.I)
_CURRENCY = re.compile(r"[$\u20ac\u00a3]\s?\d")
# Words that say which amount is asked, not what it is asked about: "the torque spec for the
# crankshaft pulley bolt" is about the crankshaft pulley bolt.
_ASKING_WORDS = frozenset(analyze(
    "pressure gap torque capacity voltage temperature clearance size speed weight interval resistance "
    "current amount cost costs price spec specs specification specifications much many often long far "
    "tight hot cold normal recommended recommend proper correct right rated rating value level setting "
    "figure number quantity resolution pixels megapixels "
    # and the verbs of asking for one ("how much grease goes in", "what gap should I use")
    "go goes put use used using need needs get gets take takes make makes come comes give gives "
    "keep keeps allow allowed fit fits hold holds"))
# "how far can I get on *one* charge", "how many fit in *one* load": a count, not the thing asked about
_NUMBER_WORDS = frozenset(analyze("one two three four five six seven eight nine ten eleven twelve thirteen "
                                  "fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty "
                                  "fifty sixty seventy eighty ninety hundred thousand half quarter dozen once twice"))
_SEGMENT_BREAK = re.compile(r"\n|(?<=[.!?;])\s")
# A dot leader joins a label to its value ("Fuel Tank. . . . . . 44 gal", "Fuel Tank ...... 44 gal"):
# the spaces between its dots end no sentence (units.py reads such a row as one unit too).
_LEADER_RUN = re.compile(r"(?:\.[ \t]?){4,}")
_POUNDS = re.compile(r"(?:pounds?|lbs?)$", re.I)   # a weight's unit, also a pressure's in older manuals
_PRESSURE_NAMED = re.compile(r"pressur|inflat|\bair\b|\bpsi\b|per square|/ ?sq", re.I)
SUBJECT_BEFORE = 300   # characters before an amount that may name what it is the amount of
SUBJECT_AFTER = 200    # ... and after it ("every three months the hubs should be repacked")
SUBJECT_MIN = 0.5      # more than this IDF share of the asked thing's words must stand beside the amount
# A word in more than this share of an index's chunks names what the whole manual is about (its
# product): nothing in that manual needs to name it beside an amount (``subject_terms``). Only
# in an index of at least TOPIC_MIN_CHUNKS chunks: in a few, every word of a title is that common.
TOPIC_SHARE = 0.5
TOPIC_MIN_CHUNKS = 10


def _segment_breaks(text: str, lo: int = 0, hi: int | None = None) -> list[int]:
    """Where each sentence or line of ``text[lo:hi]`` ends (``_SEGMENT_BREAK``'s ends), but not
    inside a dot leader."""
    hi = len(text) if hi is None else hi
    out = [m.end() for m in _SEGMENT_BREAK.finditer(text, lo, hi)]
    if out and (text.find("....", lo, hi) >= 0 or text.find(". . . .", lo, hi) >= 0):
        runs = [(m.start(), m.end()) for m in _LEADER_RUN.finditer(text, max(0, lo - 8), hi)]
        starts = [a for a, _ in runs]
        out = [b for b in out if not ((k := bisect.bisect_right(starts, b - 1) - 1) >= 0 and b - 1 < runs[k][1])]
    return out


# The words that name each asked dimension, stemmed: a quote that states no amount and never even
# names what is asked ("pressure" in a passage about how the front wheels are set) does not
# discuss it at all; one that names it ("add water often enough to keep the plates covered")
# may answer without a figure.
_DIM_WORDS = {
    "pressure": "pressure", "length": "gap clearance thickness thick diameter width wide far deep "
              "dimension size big large tall high height depth length",
    "torque": "torque tight", "volume": "capacity hold", "voltage": "voltage volt volts",
    "current": "current amperage amps", "temperature": "temperature hot cold", "speed": "fast speed",
    "weight": "weight weigh heavy", "time": "long duration", "frequency": "often interval",
    "resistance": "resistance",
    "money": "cost costs price", "power": "power wattage watts consumption",
    "loudness": "loud loudness noise decibel", "resolution": "resolution pixel pixels megapixel megapixels dpi"}
_DIM_STEMS = {dim: frozenset(analyze(words)) for dim, words in _DIM_WORDS.items()}
assert set(_DIM_STEMS) == set(_UNITS), "every dimension with units is named by words"


@dataclass(frozen=True)
class AmountAsked:
    """What a question asks for: any number, or a number with a unit of named dimensions."""
    dims: tuple[str, ...]
    with_unit: re.Pattern[str] | None

    def named_in(self, terms: Container[str]) -> bool:
        """Does a text with these (analyzed) ``terms`` name the asked dimension at all? True
        when the question names none ("How many ...")."""
        return not self.dims or any(t in terms for d in self.dims for t in _DIM_STEMS[d])

    def naming_terms(self) -> frozenset[str]:
        """The (analyzed) words that name the asked kinds: "weight" and "heavy" for "How heavy
        is it?" (a specification table names its rows by the noun, people ask by the adjective)."""
        return frozenset().union(*(_DIM_STEMS[d] for d in self.dims)) if self.dims else frozenset()

    def drop_unknown_naming(self, terms: Sequence[str], known: Container[str]) -> list[str]:
        """``terms`` without the words naming the asked kind that the index never uses ("heavy"
        asked of a manual that says "Weight"): they say which amount is asked, like the words of
        how people ask, and are no content a quote could miss."""
        names = self.naming_terms()
        return [t for t in terms if t not in names or t in known] or list(terms)

    def subject(self, terms: Sequence[str], bm: Any) -> list[tuple[str, float]]:
        """``subject_terms`` of the question's content ``terms`` in index ``bm`` (a BM25Index:
        IDF weights, vocabulary, and the words naming the manual's own product)."""
        kept = self.drop_unknown_naming(terms, bm.vocab)
        return subject_terms(kept, [bm.term_idf(t) for t in kept], bm.vocab,
                             bm.everywhere(kept, TOPIC_SHARE, TOPIC_MIN_CHUNKS))

    def stated(self, text: str) -> bool:
        """Does ``text`` state an amount of the kind asked?"""
        if not _HAS_NUMBER.search(text):
            return False
        if self.with_unit is None:
            return True
        if ("time" in self.dims or "frequency" in self.dims) and _FREQUENCY.search(text):
            return True  # "weekly", "every 5,000 miles": a frequency is a complete answer
        if "money" in self.dims and _CURRENCY.search(text):
            return True
        return any(self._counts(text, m) for m in self.with_unit.finditer(text))

    def spans(self, text: str, heading: str = "") -> list[tuple[int, int]]:
        """Where ``text`` states an amount of the kind asked."""
        rxs: list[re.Pattern[str]] = [self.with_unit] if self.with_unit is not None else [_HAS_NUMBER]
        if "time" in self.dims or "frequency" in self.dims:
            rxs.append(_FREQUENCY)
        if "money" in self.dims:
            rxs.append(_CURRENCY)
        return sorted({m.span() for rx in rxs for m in rx.finditer(text)
                       if rx is not self.with_unit or self._counts(text, m, heading)})

    def _counts(self, text: str, m: re.Match[str], heading: str = "") -> bool:
        """A pound is a weight: "2,000 lb" states a pressure only where its sentence, the one
        before, or the heading names a pressure ("reduce pressure of tires to 15 lbs", "inflate
        to 60 pounds"), unless a weight (or a torque) is asked too."""
        if "pressure" not in self.dims or "weight" in self.dims or "torque" in self.dims \
                or not _POUNDS.search(m.group()):
            return True
        if _PRESSURE_NAMED.search(heading):
            return True
        # the sentence and the one before, within the reach of ``stated_for`` (linear in the text)
        lo = max(0, m.start() - SUBJECT_BEFORE)
        breaks = _segment_breaks(text, lo, m.start())
        lo = breaks[-2] if len(breaks) >= 2 else lo
        after = _segment_breaks(text, m.end(), m.end() + SUBJECT_AFTER)
        hi = after[0] - 1 if after else min(len(text), m.end() + SUBJECT_AFTER)
        return bool(_PRESSURE_NAMED.search(text, lo, hi))

    def lacks(self, quote: str, subject: Sequence[tuple[str, float]] | None = None, heading: str = "") -> bool:
        """``quote`` states no amount of the kind asked (with ``subject``: none beside the
        thing asked about, see ``stated_for``)."""
        return not (self.stated_for(quote, subject, heading) if subject else self.stated(quote))

    def stated_for(self, text: str, subject: Sequence[tuple[str, float]], heading: str = "") -> bool:
        """Does ``text`` state an amount of the kind asked *beside the thing it is asked about*?
        ``subject``: the question's words naming that thing, with their IDF weights. An amount
        qualifies when its sentence or line and the one before it (prose names the thing, then
        gives the figure: "Do not put too much grease in the differential housing. It should
        not be more than one-third full."), or the section heading, hold more than
        ``SUBJECT_MIN`` of the subject's weight (half of "transmission fluid" is not the
        transmission fluid). A torque table without the asked bolt, a
        capacity line for another fluid, states an amount but not the one asked."""
        total = sum(w for _, w in subject)
        if total <= 0:
            return self.stated(text)
        spans = self.spans(text, heading)
        if not spans:
            return False
        head = set(analyze(heading))
        weight = dict(subject)
        # the text's subject words with their offsets, once (a spec table holds dozens of amounts)
        found = [(p, t) for p, t in analyze_at(text) if t in weight]
        starts = [p for p, _ in found]
        breaks = [0] + _segment_breaks(text) + [len(text) + 1]
        need = SUBJECT_MIN * total
        base = sum(w for t, w in weight.items() if t in head)
        for s, e in spans:
            k = bisect.bisect_right(breaks, s) - 1          # segment holding the amount
            lo = max(breaks[max(0, k - 1)], s - SUBJECT_BEFORE)
            hi = min(breaks[min(bisect.bisect_right(breaks, e), len(breaks) - 1)], e + SUBJECT_AFTER)
            near = {t for _, t in found[bisect.bisect_left(starts, lo):bisect.bisect_left(starts, hi)]}
            if base + sum(weight[t] for t in near if t not in head) > need:
                return True
        return False


def known_share(subject: Sequence[tuple[str, float]], vocab: Container[str]) -> float:
    """Share of the weight of the asked thing's words (``AmountAsked.subject``) that the index
    uses (1.0 when the question names no thing)."""
    total = sum(w for _, w in subject)
    return sum(w for t, w in subject if t in vocab) / total if total > 0 else 1.0


def subject_terms(terms: Sequence[str], idf: Sequence[float], known: Container[str],
                  implicit: Container[str] = ()) -> list[tuple[str, float]]:
    """The question's content terms naming what an amount is asked about (not the words that
    say which amount is asked), with their weights. A word no manual here uses ("diff" for
    differential, "crankshaft" asked of a manual without one) weighs as much as an average
    known word of the question, not the maximal IDF an unknown word gets in retrieval: it
    cannot be in any quote, so alone it would always outweigh what the quote does name.
    ``implicit``: words naming what the whole manual is about (``BM25Index.everywhere``, at
    ``TOPIC_SHARE``): its specification table says "| Weight without stand | 15.2 kg |", not
    "the TV weighs", so "How heavy is the TV?" asks about no thing the quote must name."""
    kept = [(t, w) for t, w in zip(terms, idf) if t not in _ASKING_WORDS and t not in _NUMBER_WORDS
            and not t.isdigit() and t not in implicit]
    seen = [w for t, w in kept if t in known]
    usual = sum(seen) / len(seen) if seen else 1.0
    return [(t, w if t in known else usual) for t, w in kept]


@lru_cache(maxsize=1024)
def amount_asked(question: str) -> AmountAsked | None:
    """None when ``question`` asks for no amount. Cached: the reader and the confidence features
    both ask it of the same question (an ``AmountAsked`` is immutable)."""
    if not _ASKS_AMOUNT.search(question):
        return None
    dims = tuple(dict.fromkeys(dim for rx, dim in _ASKED if rx.search(question)))
    if not dims:
        return AmountAsked((), None)
    units = "|".join(_UNITS[d] for d in dims)
    # A number followed (within a few characters) by a unit of the asked dimension.
    return AmountAsked(dims, re.compile(_NUMBER + r"[\w./-]*\s?(?:\w+\s)?(?:" + units + r")(?![a-z])", re.I))


def unmentioned(question: str, quote: str, heading: str = "") -> bool:
    """True when ``question`` asks for an amount of a named kind and neither ``quote`` nor its
    ``heading`` even names that kind (see ``_DIM_WORDS``)."""
    asked = amount_asked(question)
    return asked is not None and not asked.named_in(set(analyze(quote)) | set(analyze(heading)))


def lacks_quantity(question: str, quote: str, subject: Sequence[tuple[str, float]] | None = None,
                   heading: str = "") -> bool:
    """True when ``question`` asks for an amount and ``quote`` states none of the kind asked
    (with ``subject``: none beside the thing asked about, see ``AmountAsked.stated_for``)."""
    asked = amount_asked(question)
    return asked is not None and asked.lacks(quote, subject, heading)
