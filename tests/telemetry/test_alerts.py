"""Alert rules: file validation with key paths, and state machine with a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.core.config import TIER_NAMES
from nic_edge.errors import ConfigError
from nic_edge.telemetry.alerts import AlertEvaluator, AlertService, Rule, load_rules, parse_rules


class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _rule(**kw) -> Rule:
    base = dict(name="temp_high", metric="cpu_temp_c", op=">", threshold=80.0, for_s=30.0,
                cooldown_s=100.0, severity="warning", message="temp {value:.0f} > {threshold:.0f}")
    base.update(kw)
    return Rule(**base)


def test_pending_firing_resolved_with_stable_id() -> None:
    clock = FakeClock()
    ev = AlertEvaluator([_rule()], clock)
    assert ev.evaluate({"cpu_temp_c": 85}) == []
    assert ev.states() == {"temp_high": "pending"}
    clock.t += 29
    assert ev.evaluate({"cpu_temp_c": 85}) == []
    clock.t += 1
    (fired,) = ev.evaluate({"cpu_temp_c": 86})
    assert fired["state"] == "firing" and fired["severity"] == "warning"
    assert fired["alert_id"] == f"temp_high-{int(clock.t * 1000)}"
    assert fired["value"] == 86 and fired["threshold"] == 80 and fired["message"] == "temp 86 > 80"
    assert set(fired) == {"alert_id", "rule", "severity", "state", "value", "threshold", "ts", "message"}
    assert ev.evaluate({"cpu_temp_c": 90}) == []  # no repeat while firing
    assert [a["alert_id"] for a in ev.active()] == [fired["alert_id"]]
    clock.t += 10
    (resolved,) = ev.evaluate({"cpu_temp_c": 70})
    assert resolved["state"] == "resolved" and resolved["alert_id"] == fired["alert_id"]
    assert resolved["message"].startswith("resolved: ")
    assert ev.active() == [] and ev.states() == {"temp_high": "inactive"}
    assert [e["state"] for e in ev.recent(5)] == ["resolved", "firing"]


def test_pending_resets_when_condition_drops() -> None:
    clock = FakeClock()
    ev = AlertEvaluator([_rule()], clock)
    ev.evaluate({"cpu_temp_c": 85})
    clock.t += 20
    ev.evaluate({"cpu_temp_c": 79})
    clock.t += 20
    assert ev.evaluate({"cpu_temp_c": 85}) == []  # for_s restarts
    clock.t += 29
    assert ev.evaluate({"cpu_temp_c": 85}) == []
    clock.t += 1
    assert len(ev.evaluate({"cpu_temp_c": 85})) == 1


def test_cooldown_blocks_refiring() -> None:
    clock = FakeClock()
    ev = AlertEvaluator([_rule(for_s=0.0)], clock)
    first = ev.evaluate({"cpu_temp_c": 85})[0]
    clock.t += 5
    ev.evaluate({"cpu_temp_c": 70})
    clock.t += 50
    assert ev.evaluate({"cpu_temp_c": 85}) == []  # within cooldown: pending only
    assert ev.states()["temp_high"] == "pending"
    clock.t += 50
    second = ev.evaluate({"cpu_temp_c": 85})[0]
    assert second["state"] == "firing" and second["alert_id"] != first["alert_id"]


def test_hysteresis_clear_threshold() -> None:
    clock = FakeClock()
    ev = AlertEvaluator([_rule(for_s=0.0, clear_threshold=75.0)], clock)
    assert ev.evaluate({"cpu_temp_c": 81})[0]["state"] == "firing"
    assert ev.evaluate({"cpu_temp_c": 78}) == []  # below threshold, above clear level: still firing
    assert ev.evaluate({"cpu_temp_c": 76}) == []
    assert ev.evaluate({"cpu_temp_c": 75})[0]["state"] == "resolved"


def test_missing_values_neither_start_nor_resolve() -> None:
    clock = FakeClock()
    ev = AlertEvaluator([_rule(for_s=0.0)], clock)
    assert ev.evaluate({}) == []
    ev.evaluate({"cpu_temp_c": 90})
    assert ev.evaluate({"cpu_temp_c": None}) == []
    assert ev.states()["temp_high"] == "firing"


def test_tier_thresholds_switch_live() -> None:
    rule = _rule(metric="answer_latency_p95_ms", name="lat", threshold=1000.0, for_s=0.0,
                 tiers={"ultra_lite": 3000.0})
    ev = AlertEvaluator([rule], FakeClock(), tier="ultra_lite")
    assert ev.evaluate({"answer_latency_p95_ms": 2000}) == []
    ev.set_tier("full")
    assert ev.evaluate({"answer_latency_p95_ms": 2000})[0]["threshold"] == 1000.0


def test_shipped_rules_load_for_every_tier() -> None:
    names = set()
    for tier in TIER_NAMES:
        rules = load_rules(None, tier)
        names = {r.name for r in rules}
        assert all(r.tier == tier for r in rules)
    metrics = {r.metric for r in load_rules()}
    assert {"answer_latency_p95_ms", "memory_budget_ratio", "cache_hit_rate", "error_rate", "cpu_temp_c",
            "disk_free_mib", "lexical_mode"} <= metrics
    assert len(names) >= 7


def _problems(toml_text: str, tmp_path: Path) -> list[str]:
    p = tmp_path / "alerts.toml"
    p.write_text(toml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_rules(p)
    return info.value.lines()


GOOD = '[[rule]]\nname = "a"\nmetric = "cpu_temp_c"\nop = ">"\nthreshold = 80\n'


@pytest.mark.parametrize("template", ["{value.foo}", "{value[0]}", "{threshold.real.x}"])
def test_a_template_reaching_into_a_number_is_a_config_error(tmp_path: Path, template: str) -> None:
    lines = _problems(GOOD + f'message = "{template}"\n', tmp_path)
    assert len(lines) == 1 and lines[0].startswith("rule[0].message: bad template"), lines


def test_bad_rules_file_names_key_paths(tmp_path: Path) -> None:
    text = GOOD * 2 + (
        '[[rule]]\nname = "c"\nmetric = "cpu_temp_c"\nop = "=>"\nthreshold = "hot"\nseverity = "page"\n'
        'for_s = -1\ncolour = "red"\ntiers = { huge = 1, lite = "x" }\nmessage = "{nope}"\n'
        '[[rule]]\nname = "d"\nmetric = "cpu_tmp_c"\nop = ">"\nthreshold = 80\nclear_threshold = 90\n'
        '[[rule]]\nmetric = "cpu_temp_c"\n'
    )
    lines = _problems(text, tmp_path)
    expected = [
        "rule[1].name: duplicate rule name 'a'",
        "rule[2].op: must be one of",
        "rule[2].threshold: must be a number",
        "rule[2].severity: must be one of info, warning, critical",
        "rule[2].for_s: must be >= 0",
        "rule[2].colour: unknown key",
        "rule[2].tiers.huge: unknown tier",
        "rule[2].tiers.lite: must be a number",
        "rule[2].message: bad template",
        "rule[3].metric: unknown metric",
        "rule[4].name: is required",
        "rule[4].threshold: is required",
    ]
    for want in expected:
        assert any(line.startswith(want) for line in lines), (want, lines)


def test_bad_rules_file_other_errors(tmp_path: Path) -> None:
    assert _problems("[[rule]\n", tmp_path)[0].startswith("(toml):")
    assert _problems('rule = "x"\n', tmp_path)[0].startswith("rule: must be an array of tables")
    assert _problems('other = 1\n' + GOOD, tmp_path)[0].startswith("other: unknown key")
    hyst = GOOD + 'clear_threshold = 70\nclear_tiers = { lite = 90 }\n'
    assert _problems(hyst, tmp_path) == ["rule[0].clear_threshold: must be <= the threshold (80) on tier lite"]
    eq = GOOD.replace('">"', '"=="') + "clear_threshold = 1\n"
    assert "hysteresis does not apply" in _problems(eq, tmp_path)[0]
    with pytest.raises(ConfigError, match=r"\(file\)"):
        load_rules(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"\(tier\)"):
        parse_rules({}, tier="huge")


def test_alert_service_tick_delivers_events() -> None:
    clock = FakeClock()
    got: list[dict] = []
    values = {"cpu_temp_c": 90.0}
    svc = AlertService(AlertEvaluator([_rule(for_s=0.0)], clock), lambda: values, interval_s=0.01,
                       on_event=got.append)
    svc.tick()
    values["cpu_temp_c"] = 10.0
    svc.tick()
    assert [e["state"] for e in got] == ["firing", "resolved"]
    svc.start()
    svc.stop()
    svc.stop()  # twice is harmless
