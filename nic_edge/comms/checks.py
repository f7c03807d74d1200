"""Small composable value checks for the MQTT payload schema (``comms/schema.py``).

A check takes a decoded JSON value and returns None when it is fine, else the reason (a phrase
that follows the field's name: "must be ..."). ``fast_map`` runs one pass of C builtins over a
map's values first and falls back to the per-value check only for the error message: metrics
payloads are the fleet aggregator's hot path. Pure stdlib.
"""

from __future__ import annotations

import math
from typing import Any, Callable

MAX_STR = 1024
# Device clocks: seconds since 1970 up to the end of unsigned 32-bit time (2106). A box may run
# with a clock reset to 1970 (no RTC, no NTP yet), so 0 is fine; 1e300 is not a time, and every
# reader that formats or buckets it (time.localtime, u32 bucket keys) would fail on it.
MAX_TS = float(2**32 - 1)

Check = Callable[[Any], str | None]


def number(v: Any) -> str | None:
    t = type(v)  # exact JSON types first: this runs ~15 times per metrics message
    ok = t is int or (math.isfinite(v) if t is float else
                      isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
    return None if ok else "must be a finite number"


def timestamp(v: Any) -> str | None:
    if number(v) is None and 0 <= v <= MAX_TS:
        return None
    return "must be a Unix time in seconds (0 to 4294967295)"


def integer(lo: int = 0) -> Check:
    msg = f"must be an integer >= {lo}"
    return lambda v: None if isinstance(v, int) and not isinstance(v, bool) and v >= lo else msg


def string(max_len: int = MAX_STR, empty: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, str) or len(v) > max_len or (not empty and not v):
            return f"must be a {'' if empty else 'non-empty '}string of at most {max_len} characters"
        return None
    return check


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def obj(v: Any) -> str | None:
    return None if isinstance(v, dict) else "must be an object"


def one_of(choices: tuple[Any, ...]) -> Check:
    msg = f"must be one of {', '.join(map(repr, choices))}"
    return lambda v: None if v in choices and not isinstance(v, bool) else msg


def nullable(inner: Check) -> Check:
    return lambda v: None if v is None else inner(v)


def map_of(inner: Check) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, dict):
            return "must be an object"
        for key, item in v.items():
            msg = inner(item)
            if msg:
                return f"[{key!r}] {msg}"
        return None
    return check


_NUMBER_TYPES = frozenset((int, float))
_MAP_TYPES = frozenset((dict,))
_INT_TYPES = frozenset((int,))


def fast_map(values_ok: Callable[[Any], bool], inner: Check) -> Check:
    """``map_of(inner)`` with a C-speed pass first (``values_ok`` on the object's values, exact
    JSON types only); anything it does not clear goes through ``inner`` value by value, which
    gives the error message. Metrics payloads are the fleet aggregator's hot path."""
    slow = map_of(inner)

    def check(v: Any) -> str | None:
        if type(v) is dict:
            try:
                if values_ok(v.values()):
                    return None
            except OverflowError:  # an integer too large for a float: the slow path takes it
                pass
        return slow(v)
    return check


def finite_numbers(vals: Any) -> bool:
    types = set(map(type, vals))
    return types <= _NUMBER_TYPES and (float not in types or all(map(math.isfinite, vals)))


def objects(vals: Any) -> bool:
    return set(map(type, vals)) <= _MAP_TYPES


def naturals(vals: Any) -> bool:
    return not vals or set(map(type, vals)) <= _INT_TYPES and min(vals) >= 0


def scalar(v: Any) -> str | None:
    return None if v is None or isinstance(v, str) and len(v) <= MAX_STR or number(v) is None \
        else "must be a number, a string or null"
