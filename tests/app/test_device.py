"""DeviceApp construction: events raised while building parts reach the audit log (issue 17 item 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from nic_edge.app.device import DeviceApp
from nic_edge.core.config import load_config
from nic_edge.core.tiers import Hardware
from nic_edge.core.threads import usable_cpus


def test_cache_recovered_at_start_is_audited_not_a_crash(tmp_path: Path) -> None:
    store = tmp_path / "cache"
    store.mkdir()
    (store / "data.mdb").write_bytes(os.urandom(64 * 1024))  # not an LMDB file: moved aside
    app = DeviceApp(load_config(None), tmp_path, hardware=Hardware(1800, 2, None), env={},
                    use_embedder=False)
    try:
        assert [e["event"] for e in app.events] == ["cache_l2_recovered"]
        assert app.cache is not None and app.cache.stats()["l2_items"] == 0
    finally:
        app.close()
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert any(r.get("action") == "cache_l2_recovered" for r in records), records
    assert list(tmp_path.glob("cache.corrupt-*"))


def _app(tmp_path: Path, tier: str) -> DeviceApp:
    return DeviceApp(load_config(None), tmp_path / tier, hardware=Hardware(16000, 4, None),
                     env={"NIC_EDGE_TIER": tier})


def test_live_switch_gives_the_same_thread_counts_as_start_up(tmp_path: Path) -> None:
    started_full = _app(tmp_path, "full")
    switched = _app(tmp_path, "ultra_lite")
    try:
        switched.apply_tier("full", "local")
        assert switched.embedder.threads == started_full.embedder.threads == 1  # questions: 1 thread
        assert switched.engine.threads == started_full.engine.threads
        # indexing: every core of the box (4), or all this test process may use when pinned
        assert started_full.engine.threads.index == min(4, usable_cpus())
        assert switched.status()["threads"]["question"] == 1
    finally:
        started_full.close()
        switched.close()


def test_no_index_yet_is_not_the_model_lost_alert(tmp_path: Path) -> None:
    """A new box has no index until it has indexed its sample manual: the lexical-mode gauge
    (whose alert is critical: "embedding model unloaded or unavailable") stays 0 then; it was 1
    and fired that alert on every first start. Lexical for a real reason still sets it."""
    from tests.support.device import TINY_MANUAL

    app = _app(tmp_path, "lite")
    try:
        app.on_resources({"rss_bytes": 50 << 20})
        assert app.engine.mode == "lexical" and app.engine.snapshot() is None
        assert app.metrics.alert_values()["lexical_mode"] == 0
        manual = tmp_path / "tiny_manual.txt"
        manual.write_text(TINY_MANUAL)
        app.engine.index_paths([manual])
        app.on_resources({"rss_bytes": 50 << 20})
        assert app.engine.mode == "hybrid" and app.metrics.alert_values()["lexical_mode"] == 0
        app._set_lexical(True)          # the memory budget drops the model
        assert app.engine.mode == "lexical" and app.metrics.alert_values()["lexical_mode"] == 1
    finally:
        app.close()


def test_a_local_override_is_named_local_now_and_after_a_restart(tmp_path: Path) -> None:
    app = DeviceApp(load_config(None), tmp_path, hardware=Hardware(16000, 4, None), env={}, use_embedder=False)
    try:
        tier = app.set_local_tier("lite", "admin")["tier"]
        assert tier["tier"] == "lite" and tier["reasons"][0] == "local override sets lite"
    finally:
        app.close()
    again = DeviceApp(load_config(None), tmp_path, hardware=Hardware(16000, 4, None), env={}, use_embedder=False)
    try:
        assert again.decision.reasons[0] == "local override sets lite"
        assert again.apply_tier("standard", "fleet").reasons[0] == "fleet override sets standard"
    finally:
        again.close()


def test_an_override_file_naming_an_unknown_tier_is_ignored_not_fatal(tmp_path: Path, caplog) -> None:
    (tmp_path / "tier_override.json").write_text('{"tier": "huge", "source": "fleet"}')
    app = DeviceApp(load_config(None), tmp_path, hardware=Hardware(16000, 4, None), env={}, use_embedder=False)
    try:
        assert app.decision.source != "override" and app.decision.name == "full"
    finally:
        app.close()
    assert any("tier_override.json names tier 'huge'" in r.getMessage() for r in caplog.records)
    from tests.support.device import run_cli
    r = run_cli("tier", "--json", "--data-dir", str(tmp_path))
    assert r.returncode == 0 and json.loads(r.stdout)["source"] != "override", r.stderr


def test_stage_latencies_count_questions_not_indexing(tmp_path: Path) -> None:
    from tests.support.device import TINY_MANUAL

    manual = tmp_path / "tiny.txt"
    manual.write_text(TINY_MANUAL)
    app = DeviceApp(load_config(None), tmp_path / "data", hardware=Hardware(16000, 4, None), env={})
    try:
        app.engine.index_paths([manual])  # embeds every chunk and the calibration questions
        assert app.engine.mode == "hybrid"
        for q in ("How often should I check the brake fluid?", "How do I replace the fuel filter?"):
            app.ask(q, use_cache=False)
        stages = app._latency_ms()["stages"]
        assert stages["embed"]["count"] == 2 and stages["tokenize"]["count"] == 2, stages
    finally:
        app.close()


def test_a_shrunk_l1_still_holds_64_answers(tmp_path: Path) -> None:
    from nic_edge.app.device import SHRUNK_L1_ITEMS

    app = DeviceApp(load_config(None), tmp_path, hardware=Hardware(512, 4, None), env={}, use_embedder=False)
    try:
        app._shrink_l1()  # what the budget enforcer does first when memory runs over
        answer = {"id": "x", "answer": "Turn the crank half a turn. " * 40, "citations": [{"snippet": "s" * 300}]}
        for i in range(100):  # answers of ~1.5 KiB, as real ones are
            app.cache.put(f"question number {i}", "fp", dict(answer, id=str(i)))
        st = app.cache.stats()
        assert st["l1_items"] >= SHRUNK_L1_ITEMS, st
    finally:
        app.close()
