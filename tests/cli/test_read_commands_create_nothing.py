"""`manuals`, `ask` and `retrieve` only read: with no data dir they say nothing is indexed and
leave the folder they were run from as it was (they used to create ./nic-data and its cache)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.device import run_cli


def test_manuals_with_no_data_dir_lists_nothing_and_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "nic-data"
    r = run_cli("manuals", "--json", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["manuals"] == []
    assert out["calibration"]["summary"] == "no index" and out["calibration"]["threshold_source"] == "default"
    r = run_cli("manuals", "--data-dir", str(data))
    assert r.returncode == 0 and "no manuals indexed" in r.stdout
    assert not data.exists()


def test_ask_and_retrieve_with_no_data_dir_create_nothing(tmp_path: Path) -> None:
    data = tmp_path / "nic-data"
    for cmd in ("ask", "retrieve"):
        r = run_cli(cmd, "spark plug gap", "--data-dir", str(data))
        assert r.returncode == 1 and "no manuals indexed" in r.stderr, r.stderr
    assert not data.exists()


def test_config_threshold_shown_with_no_data_dir(tmp_path: Path) -> None:
    cfg = tmp_path / "device.toml"
    cfg.write_text("[engine]\nabstain_threshold = 0.66\n")
    r = run_cli("manuals", "--json", "--config", str(cfg), "--data-dir", str(tmp_path / "d"))
    cal = json.loads(r.stdout)["calibration"]
    assert cal["threshold_in_use"] == 0.66 and cal["threshold_source"] == "config"
    assert not (tmp_path / "d").exists()
