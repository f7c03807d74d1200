"""Calibration and the abstention message as a user sees them: `manuals`, `index`, `ask`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.test_questions import FORD
from tests.support.device import run_cli


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nic_edge.core.config import EngineConfig
    from nic_edge.core.tiers import load_profiles
    from nic_edge.engine.engine import Engine

    root = tmp_path_factory.mktemp("cal")
    # Lexical (no model) keeps this fast; the subprocesses below load no model either.
    Engine(root, load_profiles()["ultra_lite"], EngineConfig(), None).index_paths([FORD])
    return root


def test_manuals_json_shows_the_calibration(data: Path) -> None:
    r = run_cli("manuals", "--json", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["manuals"][0]["source"] == "ford_model_t_manual_1919.txt"
    cal = out["calibration"]
    assert cal["status"] == "calibrated" and cal["threshold_source"] == "calibration"
    assert 0.3 <= cal["threshold_in_use"] <= 0.9 and cal["n_answerable"] >= 20
    assert {"expected_answered", "expected_abstained", "created_at", "method"} <= set(cal)
    text = run_cli("manuals", "--data-dir", str(data)).stdout
    assert "abstain threshold" in text and "calibrated on" in text


def test_config_threshold_shown_as_the_one_in_use(data: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "device.toml"
    cfg.write_text("[engine]\nabstain_threshold = 0.66\n")
    r = run_cli("manuals", "--json", "--config", str(cfg), "--data-dir", str(data))
    cal = json.loads(r.stdout)["calibration"]
    assert cal["threshold_in_use"] == 0.66 and cal["threshold_source"] == "config"


def test_ask_prints_the_message(data: Path) -> None:
    r = run_cli("ask", "How do I pair bluetooth headphones with my phone?", "--no-cache",
                "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    assert "The manual on this box (ford_model_t_manual_1919.txt) does not cover this question" in r.stdout


def test_index_prints_the_calibration(tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_text("Para 1-1: Horn\nThe horn button is on the wheel.\n")
    r = run_cli("index", str(small), "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    assert "calibration: too small to calibrate" in r.stdout


def test_api_status_and_page_show_the_calibration(data: Path, tmp_path: Path) -> None:
    import urllib.request

    from tests.support.device import DeviceServer

    cfg = tmp_path / "device.toml"
    cfg.write_text('[device]\nid = "cal-01"\n')
    srv = DeviceServer(cfg, data).start()
    try:
        cal = srv.get("/api/status")["index"]["calibration"]
        assert cal["status"] == "calibrated" and cal["threshold_source"] == "calibration"
        with urllib.request.urlopen(srv.url + "/", timeout=10) as r:
            html = r.read().decode()
        assert f"Abstain threshold {cal['threshold_in_use']:.3g} (calibration)" in html
    finally:
        assert srv.stop() == 0
