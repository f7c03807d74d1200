"""`manuals`, `ask` and `retrieve` only read: with no data dir they say nothing is indexed and
leave the folder they were run from as it was (they used to create ./nic-data and its cache);
`manuals` tells the truth about the files behind the index (gone, or edited since)."""

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


def test_manuals_flags_a_file_edited_since_it_was_indexed(tmp_path: Path) -> None:
    import os

    from nic_edge.core.config import EngineConfig
    from nic_edge.core.tiers import load_profiles
    from nic_edge.engine.engine import Engine

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    for p in (a, b):
        p.write_text("Para 1-1: Belt\nThe fan belt should deflect 12 mm.\n", encoding="utf-8")
    data = tmp_path / "data"
    Engine(data, load_profiles()["ultra_lite"], EngineConfig(), None).index_paths([a, b])
    a.write_text("Para 1-1: Belt\nThe fan belt should deflect 15 mm.\n", encoding="utf-8")
    os.utime(b)  # touched, same bytes: not changed
    r = run_cli("manuals", "--json", "--data-dir", str(data))
    rows = {m["source"]: m for m in json.loads(r.stdout)["manuals"]}
    assert rows["a.txt"]["file_changed"] is True and rows["b.txt"]["file_changed"] is False
    text = run_cli("manuals", "--data-dir", str(data)).stdout
    assert text.count("[file changed since indexed") == 1


def test_index_progress_is_not_silent_without_a_terminal() -> None:
    import io

    from nic_edge.cli.edge_cmds import Progress

    now = [100.0]
    out = io.StringIO()  # not a tty: a log file, `| tee`, ssh without -t
    p = Progress(out, True, clock=lambda: now[0])
    p(0, 900, "embedding")
    now[0] += 29
    p(100, 900, "embedding")
    assert out.getvalue() == ""   # short runs print nothing extra
    now[0] += 2
    p(300, 900, "embedding")
    now[0] += 5
    p(400, 900, "embedding")
    assert out.getvalue() == "[300/900  33.3%] embedding (31 s)\n"
    quiet = io.StringIO()
    q = Progress(quiet, False, clock=lambda: now[0])
    now[0] += 100
    q(1, 2, "embedding")
    assert quiet.getvalue() == ""
