"""Alert rules (TOML) and their evaluator: inactive -> pending (for_s) -> firing -> resolved.

Rules compare one value from ``DeviceMetrics.alert_values()`` (names in ``METRICS``) against a
threshold, optionally overridden per tier. Hysteresis: a firing alert resolves only when the
value no longer passes ``op`` against ``clear_threshold`` (default: the threshold). Cooldown:
after a resolve the rule does not fire again within ``cooldown_s``. Each firing episode has a
stable ``alert_id`` (``<rule>-<first fired ms>``) that its resolved event repeats, so a
subscriber can pair them. A missing value (None) never starts an alert and never resolves one:
a sensor hiccup must not flap a firing alert.
"""

from __future__ import annotations

import logging
import operator
import re
import threading
import time
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nic_edge.core.config import TIER_NAMES
from nic_edge.core.lifecycle import Service
from nic_edge.core.resources import config_file
from nic_edge.errors import ConfigError

log = logging.getLogger(__name__)

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}
SEVERITIES = ("info", "warning", "critical")
# Values DeviceMetrics.alert_values() provides; a rule naming anything else is a config error.
METRICS = (
    "answer_latency_p95_ms", "error_rate", "cache_hit_rate", "questions_in_window", "rss_mib",
    "memory_budget_ratio", "memory_degraded_level", "lexical_mode", "cpu_temp_c", "cpu_percent",
    "throttled_now", "disk_free_mib", "storage_write_failures",
)
_KEYS = ("name", "metric", "op", "threshold", "tiers", "clear_threshold", "clear_tiers", "for_s",
         "cooldown_s", "severity", "message")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FIELDS = {"name": "n", "metric": "m", "op": ">", "value": 1.0, "threshold": 1.0, "tier": "t",
           "severity": "info"}


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    op: str
    threshold: float
    severity: str = "warning"
    for_s: float = 0.0
    cooldown_s: float = 0.0
    tiers: dict[str, float] = field(default_factory=dict)
    clear_threshold: float | None = None
    clear_tiers: dict[str, float] = field(default_factory=dict)
    message: str = "{name}: {metric} {op} {threshold} (value {value})"
    tier: str | None = None  # the tier load_rules was given (the evaluator's default)

    def threshold_for(self, tier: str | None) -> float:
        return self.tiers.get(tier or "", self.threshold)

    def clear_for(self, tier: str | None) -> float:
        if tier in self.clear_tiers:
            return self.clear_tiers[tier]  # type: ignore[index]
        if self.clear_threshold is not None:
            return self.clear_threshold
        return self.threshold_for(tier)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _tier_table(raw: Any, path: str, problems: list[tuple[str, str]]) -> dict[str, float]:
    if not isinstance(raw, dict):
        problems.append((path, "must be a table like { ultra_lite = 1.0 }"))
        return {}
    out = {}
    for tier, v in raw.items():
        if tier not in TIER_NAMES:
            problems.append((f"{path}.{tier}", "unknown tier; known: " + ", ".join(TIER_NAMES)))
        elif not _num(v):
            problems.append((f"{path}.{tier}", "must be a number"))
        else:
            out[tier] = float(v)
    return out


def _parse_rule(raw: Any, p: str, tier: str | None, problems: list[tuple[str, str]]) -> Rule | None:
    if not isinstance(raw, dict):
        problems.append((p, "must be a table ([[rule]])"))
        return None
    before = len(problems)
    for key in raw:
        if key not in _KEYS:
            problems.append((f"{p}.{key}", "unknown key; known: " + ", ".join(_KEYS)))
    for key in ("name", "metric", "op", "threshold"):
        if key not in raw:
            problems.append((f"{p}.{key}", "is required"))
    name, metric, op = raw.get("name", ""), raw.get("metric", ""), raw.get("op", ">")
    if "name" in raw and not (isinstance(name, str) and _NAME_RE.match(name)):
        problems.append((f"{p}.name", "must be 1-64 letters, digits, '_' or '-'"))
    if "metric" in raw and metric not in METRICS:
        problems.append((f"{p}.metric", "unknown metric; known: " + ", ".join(METRICS)))
    if op not in OPS:
        problems.append((f"{p}.op", "must be one of " + " ".join(OPS)))
    for key in ("threshold", "clear_threshold", "for_s", "cooldown_s"):
        if key in raw and not _num(raw[key]):
            problems.append((f"{p}.{key}", "must be a number"))
        elif key in ("for_s", "cooldown_s") and key in raw and raw[key] < 0:
            problems.append((f"{p}.{key}", "must be >= 0"))
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        problems.append((f"{p}.severity", "must be one of " + ", ".join(SEVERITIES)))
    message = raw.get("message", Rule.message)
    if not isinstance(message, str) or not message:
        problems.append((f"{p}.message", "must be a non-empty string"))
    else:
        try:
            message.format(**_FIELDS)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:  # {value.x}, {value[0]}
            problems.append((f"{p}.message", f"bad template ({exc!r}); fields: " + ", ".join(_FIELDS)))
    tiers = _tier_table(raw["tiers"], f"{p}.tiers", problems) if "tiers" in raw else {}
    clear_tiers = _tier_table(raw["clear_tiers"], f"{p}.clear_tiers", problems) if "clear_tiers" in raw else {}
    if len(problems) > before:
        return None
    rule = Rule(name=name, metric=metric, op=op, threshold=float(raw["threshold"]), severity=severity,
                for_s=float(raw.get("for_s", 0.0)), cooldown_s=float(raw.get("cooldown_s", 0.0)),
                tiers=tiers, clear_threshold=None if "clear_threshold" not in raw else float(raw["clear_threshold"]),
                clear_tiers=clear_tiers, message=message, tier=tier)
    if rule.clear_threshold is not None or clear_tiers:
        if op in ("==", "!="):
            problems.append((f"{p}.clear_threshold", f"hysteresis does not apply to op {op!r}"))
            return None
        for t in TIER_NAMES:
            fire, clear = rule.threshold_for(t), rule.clear_for(t)
            # The clear level must sit on the "healthy" side of the firing threshold.
            if (op in (">", ">=") and clear > fire) or (op in ("<", "<=") and clear < fire):
                side = "<=" if op in (">", ">=") else ">="
                problems.append((f"{p}.clear_threshold", f"must be {side} the threshold ({fire:g}) on tier {t}"))
                return None
    return rule


def parse_rules(data: Any, tier: str | None = None, source: str | None = None) -> list[Rule]:
    """Validate a parsed rules document; ConfigError lists every problem with its key path."""
    problems: list[tuple[str, str]] = []
    if tier is not None and tier not in TIER_NAMES:
        problems.append(("(tier)", "must be one of " + ", ".join(TIER_NAMES)))
    for key in data:
        if key != "rule":
            problems.append((key, "unknown key; rules go in [[rule]] tables"))
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        problems.append(("rule", "must be an array of tables ([[rule]])"))
        raw_rules = []
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        rule = _parse_rule(raw, f"rule[{i}]", tier, problems)
        if rule is not None:
            if rule.name in seen:
                problems.append((f"rule[{i}].name", f"duplicate rule name {rule.name!r}"))
            seen.add(rule.name)
            rules.append(rule)
    if problems:
        raise ConfigError(problems, source)
    return rules


def load_rules(path: str | Path | None = None, tier: str | None = None) -> list[Rule]:
    """Read a rules TOML file (None = the shipped config/alerts.toml)."""
    p = Path(path) if path else config_file("alerts.toml")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {p}: {exc.strerror or exc}")], str(p)) from exc
    except UnicodeDecodeError:
        raise ConfigError([("(file)", f"{p} is not UTF-8 text")], str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("(toml)", f"{exc}; fix the TOML syntax")], str(p)) from None
    return parse_rules(data, tier, str(p))


class _State:
    __slots__ = ("phase", "since", "alert_id", "fired_at", "value", "resolved_at", "thr", "clr", "cmp")

    def __init__(self) -> None:
        self.phase = "inactive"
        self.since = 0.0
        self.alert_id: str | None = None
        self.fired_at = 0.0
        self.value: float | None = None
        self.resolved_at = float("-inf")
        self.thr = self.clr = 0.0
        self.cmp: Callable[[float, float], bool] = operator.gt


class AlertEvaluator:
    """Evaluates rules against a values dict; returns firing/resolved events (dicts)."""

    def __init__(self, rules: list[Rule], clock: Callable[[], float] = time.time,
                 tier: str | None = None, history: int = 100) -> None:
        self.rules = list(rules)
        self._clock = clock
        self._lock = threading.Lock()
        self._states = [(r, _State()) for r in self.rules]
        self._recent: deque[dict[str, Any]] = deque(maxlen=history)
        self.tier = tier if tier is not None else (rules[0].tier if rules else None)
        self.set_tier(self.tier)

    def set_tier(self, tier: str | None) -> None:
        """Switch per-tier thresholds live; firing alerts re-check on the next evaluate."""
        with self._lock:
            self.tier = tier
            for rule, st in self._states:
                st.thr, st.clr, st.cmp = rule.threshold_for(tier), rule.clear_for(tier), OPS[rule.op]

    def evaluate(self, values: dict[str, float | None]) -> list[dict[str, Any]]:
        now = self._clock()
        events: list[dict[str, Any]] = []
        with self._lock:
            for rule, st in self._states:
                v = values.get(rule.metric)
                if st.phase == "firing":
                    if v is None:
                        continue
                    st.value = v
                    if not st.cmp(v, st.clr):
                        events.append(self._event(rule, st, "resolved", v, now))
                        st.phase, st.alert_id, st.resolved_at = "inactive", None, now
                    continue
                if v is None or not st.cmp(v, st.thr):
                    st.phase = "inactive"
                    continue
                if st.phase == "inactive":
                    st.phase, st.since = "pending", now
                if now - st.since >= rule.for_s and now - st.resolved_at >= rule.cooldown_s:
                    st.phase, st.fired_at, st.value = "firing", now, v
                    st.alert_id = f"{rule.name}-{int(now * 1000)}"
                    events.append(self._event(rule, st, "firing", v, now))
            self._recent.extend(events)
        return events

    def _event(self, rule: Rule, st: _State, state: str, value: float, now: float) -> dict[str, Any]:
        return {"alert_id": st.alert_id, "rule": rule.name, "severity": rule.severity, "state": state,
                "value": value, "threshold": st.thr, "ts": now,
                "message": self._message(rule, st, state, value)}

    def _message(self, rule: Rule, st: _State, state: str, value: float) -> str:
        try:
            text = rule.message.format(name=rule.name, metric=rule.metric, op=rule.op, value=value,
                                       threshold=st.thr, tier=self.tier or "default", severity=rule.severity)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:  # validated at load; keep alerting anyway
            log.warning("alert %s: message template failed: %s", rule.name, exc)
            text = f"{rule.name}: {rule.metric}={value:g} {rule.op} {st.thr:g}"
        return text if state == "firing" else f"resolved: {text}"

    def states(self) -> dict[str, str]:
        """Rule name -> inactive | pending | firing."""
        with self._lock:
            return {r.name: st.phase for r, st in self._states}

    def active(self) -> list[dict[str, Any]]:
        """Alerts currently firing, oldest first."""
        with self._lock:
            out = [{"alert_id": st.alert_id, "rule": r.name, "severity": r.severity, "state": "firing",
                    "value": st.value, "threshold": st.thr, "since": st.fired_at,
                    "message": self._message(r, st, "firing", st.value or 0.0)}
                   for r, st in self._states if st.phase == "firing"]
        return sorted(out, key=lambda e: e["since"])

    def recent(self, n: int = 20) -> list[dict[str, Any]]:
        """The last ``n`` events, newest first."""
        with self._lock:
            items = list(self._recent)
        return items[::-1][:max(0, n)]


class AlertService(Service):
    """Evaluates rules every ``interval_s`` on its own thread and hands events to ``on_event``."""

    name = "alerts"

    def __init__(self, evaluator: AlertEvaluator, collect: Callable[[], dict[str, float | None]],
                 interval_s: float = 5.0, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.evaluator = evaluator
        self._collect = collect
        self.interval_s = interval_s
        self._on_event = on_event

    def tick(self) -> list[dict[str, Any]]:
        events = self.evaluator.evaluate(self._collect())
        for ev in events:
            log.log(logging.WARNING if ev["state"] == "firing" else logging.INFO,
                    "alert %s %s: %s", ev["rule"], ev["state"], ev["message"])
            if self._on_event is not None:
                self._on_event(ev)
        return events

    def run(self) -> None:
        while not self.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # boundary: one bad evaluation must not end alerting
                log.exception("alert evaluation failed")
