"""Questions that ask for an amount, and whether a passage states one.

A technician who asks "How tight should the oil filter be?" or "What spark plug gap should I
use?" wants the figure, not the procedure around it. Two parts of the engine use this: the
reader prefers a short window that states the figure (reader.py), and confidence is halved when
the quote states none (answer.py). The unit words are general measurement vocabulary, not any
manual's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {
    "pressure": r"psi|pounds?|lbs?|kpa|bar|atmospheres?",
    "length": r"inch(?:es)?|in\.|mm|millimet(?:er|re)s?|cm|centimet(?:er|re)s?|thousandths?|feet|foot|ft|\"",
    "torque": r"ft\.?[- ]?lbs?|lb\.?[- ]?ft|foot[- ]pounds?|n\.?m|newton|turns?",
    "volume": r"quarts?|gallons?|pints?|lit(?:er|re)s?|ml|ounces?|oz|cups?|qts?|gal",
    "voltage": r"volts?|v",
    "current": r"amps?|amperes?|ma|a",
    "temperature": r"degrees?|°|fahrenheit|celsius|f|c",
    "speed": r"mph|rpm|km/?h|miles? (?:an|per) hour|revolutions?",
    "weight": r"pounds?|lbs?|kg|kilograms?|tons?",
    "time": r"miles?|hours?|days?|weeks?|months?|years?|km|minutes?|seconds?|every|a|per",
    "resistance": r"ohms?|\u03a9|k\u03a9",
    "money": r"dollars?|usd|euros?|eur|cents?|pounds? sterling|gbp",
}
_ASKED = [(re.compile(p, re.I), dim) for p, dim in (
    (r"\bpressure\b", "pressure"),
    (r"\b(?:gap|clearance|thickness|diameter|width|how (?:wide|thick|far|deep))\b", "length"),
    (r"\btorque\b|\bhow tight\b", "torque"),
    (r"\bcapacity\b|\bhow much (?:oil|fuel|gas|gasoline|water|coolant|fluid|antifreeze)\b|\bhold\b", "volume"),
    (r"\bvoltage\b", "voltage"),
    (r"\b(?:current|amperage)\b", "current"),
    (r"\btemperature\b|\bhow (?:hot|cold)\b", "temperature"),
    (r"\bhow fast\b|\bspeed\b", "speed"),
    (r"\bweight\b|\bhow heavy\b", "weight"),
    (r"\bhow often\b|\binterval\b|\bhow long\b", "time"),
    (r"\bresistance\b", "resistance"),
    (r"\bcosts?\b|\bprice\b", "money"))]
_DIMENSIONS = (r"pressure|gap|torque|capacity|voltage|temperature|clearance|size|speed|weight|"
               r"interval|resistance|current|amount|cost|price")
_ASKS_AMOUNT = re.compile(
    r"\bhow (?:much|many|often|long|far|tight|hot|cold)\b"
    r"|\bwhat(?:'s| is| are| should)?(?: the)? (?:[\w-]+\s+){0,3}(?:" + _DIMENSIONS + r")\b", re.I)
_NUMBER = r"(?:\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|fifty|hundred|" \
          r"thousand|half|quarter|dozen|once|twice|daily|weekly|monthly|yearly|annually|hourly)\b)"
_HAS_NUMBER = re.compile(_NUMBER, re.I)
_FREQUENCY = re.compile(r"\b(?:once|twice|daily|weekly|monthly|yearly|annually|hourly|every)\b", re.I)
_CURRENCY = re.compile(r"[$\u20ac\u00a3]\s?\d")


@dataclass(frozen=True)
class AmountAsked:
    """What a question asks for: any number, or a number with a unit of named dimensions."""
    dims: tuple[str, ...]
    with_unit: re.Pattern[str] | None

    def stated(self, text: str) -> bool:
        """Does ``text`` state an amount of the kind asked?"""
        if not _HAS_NUMBER.search(text):
            return False
        if self.with_unit is None:
            return True
        if "time" in self.dims and _FREQUENCY.search(text):
            return True  # "weekly", "every 5,000 miles": a frequency is a complete answer
        if "money" in self.dims and _CURRENCY.search(text):
            return True
        return bool(self.with_unit.search(text))


def amount_asked(question: str) -> AmountAsked | None:
    """None when ``question`` asks for no amount."""
    if not _ASKS_AMOUNT.search(question):
        return None
    dims = tuple(dim for rx, dim in _ASKED if rx.search(question))
    if not dims:
        return AmountAsked((), None)
    units = "|".join(_UNITS[d] for d in dims)
    # A number followed (within a few characters) by a unit of the asked dimension.
    return AmountAsked(dims, re.compile(_NUMBER + r"[\w./-]*\s?(?:\w+\s)?(?:" + units + r")(?![a-z])", re.I))


def lacks_quantity(question: str, quote: str) -> bool:
    """True when ``question`` asks for an amount and ``quote`` states none of the kind asked."""
    asked = amount_asked(question)
    return asked is not None and not asked.stated(quote)
