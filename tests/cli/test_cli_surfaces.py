"""What a user reads from the CLIs: help texts, usage lines, one-line errors and exit codes, the
order of an answer's parts, and no runtime chatter on stderr unless -v."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nic_edge.cli.edge_cmds import _format_answer
from tests.support.device import TINY_MANUAL, run_cli

FLEET = "nic_edge.cli.fleet"


@pytest.mark.parametrize("cmd, words", [("retrieve", "ranked chunks"), ("manuals", "one entry per file"),
                                        ("tier", "where the choice came from"), ("check-config", "Validate"),
                                        ("cache", "clear the cache")])
def test_every_subcommand_has_a_description(cmd: str, words: str) -> None:
    r = run_cli(cmd, "--help")
    assert r.returncode == 0 and words in r.stdout, r.stdout


def test_check_config_takes_config_and_env(tmp_path: Path) -> None:
    good = tmp_path / "ok.toml"
    good.write_text('[device]\ntier = "lite"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[device]\ntier = "huge"\n')
    assert run_cli("check-config", "--config", str(good)).returncode == 0
    assert run_cli("check-config", env={"NIC_EDGE_CONFIG": str(good)}).returncode == 0
    r = run_cli("check-config", env={"NIC_EDGE_CONFIG": str(bad)})
    assert r.returncode == 2 and "device.tier" in r.stderr
    r = run_cli("check-config", env={"NIC_EDGE_CONFIG": ""})
    assert r.returncode == 2 and "no config file" in r.stderr and len(r.stderr.splitlines()) == 1


def test_check_config_reads_the_word_list(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("carafe jug\n")
    cfg = tmp_path / "ok.toml"
    cfg.write_text('[engine]\nwords_file = "words.txt"\n')
    assert run_cli("check-config", "--config", str(cfg)).returncode == 0
    (tmp_path / "words.txt").write_text("carafe jug\ncarafe\n")
    r = run_cli("check-config", "--config", str(cfg))
    assert r.returncode == 2 and "engine.words_file" in r.stderr and "line 2" in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1
    (tmp_path / "words.txt").unlink()
    r = run_cli("check-config", "--config", str(cfg))
    assert r.returncode == 2 and "engine.words_file" in r.stderr


def test_ask_reads_questions_with_the_configured_word_list(tmp_path: Path) -> None:
    """engine.words_file reaches the device's engine: the manual never says "cartridge" (it says
    "element"), and the bundled list does not pair them."""
    manual = tmp_path / "tiny_manual.txt"
    manual.write_text(TINY_MANUAL)
    (tmp_path / "words.txt").write_text("element cartridge\n")
    cfg = tmp_path / "device.toml"
    cfg.write_text('[engine]\nwords_file = "words.txt"\nabstain_threshold = 0.0\n[cache]\nenabled = false\n')
    data = str(tmp_path / "data")
    assert run_cli("index", str(manual), "--data-dir", data, "--config", str(cfg), "--quiet").returncode == 0
    q = "How do I change the fuel cartridge?"
    with_list = json.loads(run_cli("ask", q, "--json", "--data-dir", data, "--config", str(cfg)).stdout)
    cfg.write_text('[engine]\nabstain_threshold = 0.0\n[cache]\nenabled = false\n')
    without = json.loads(run_cli("ask", q, "--json", "--data-dir", data, "--config", str(cfg)).stdout)
    assert with_list["confidence"] > without["confidence"], (with_list, without)
    assert "replace the element" in with_list["answer"]


def test_fleet_usage_lines_and_options(tmp_path: Path) -> None:
    r = run_cli("set-tier", "--help", module=FLEET)
    assert "DEVICE [DEVICE ...] TIER" in r.stdout and "[DEVICE... TIER ...]" not in r.stdout
    assert "--fleet-key FILE" in r.stdout
    for cmd in ("status", "alerts"):
        r = run_cli(cmd, "--help", module=FLEET)
        assert re.search(r"--wait S +[^\n]*\(default [0-9.]+\)", r.stdout), r.stdout
    # the hint names an option set-tier accepts; it fails on the key, not on the option
    r = run_cli("set-tier", "dev-1", "lite", module=FLEET)
    assert r.returncode == 2 and "--fleet-key FILE" in r.stderr
    r = run_cli("set-tier", "dev-1", "lite", "--fleet-key", str(tmp_path / "missing.key"), module=FLEET)
    assert "unrecognized arguments" not in r.stderr and r.returncode != 0
    r = run_cli("set-tier", "dev-1", "huge", module=FLEET)
    assert r.returncode == 2 and "unknown tier 'huge'" in r.stderr


def test_keygen_does_not_create_directories(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "fleet.key"
    r = run_cli("keygen", "--out", str(target), module=FLEET)
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "no").exists()
    r = run_cli("keygen", "--out", str(tmp_path / "fleet.key"), module=FLEET)
    assert r.returncode == 0 and (tmp_path / "fleet.key").is_file()


def test_empty_question_and_missing_index_are_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for q in ("", "   "):
        r = run_cli("ask", q, "--data-dir", str(data))
        assert r.returncode == 2 and "question is empty" in r.stderr and len(r.stderr.splitlines()) == 1
    r = run_cli("retrieve", "spark plug gap", "--data-dir", str(data))
    assert r.returncode == 1 and "no manuals indexed" in r.stderr


def test_cache_clear_reads_as_a_sentence(tmp_path: Path) -> None:
    r = run_cli("cache", "clear", "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("answer cache cleared on disk (L2): 0 answers. A running `nic-edge serve` keeps "
                                "the answers in its memory (L1): clear both there with POST /api/cache/clear "
                                "(admin token)")


def test_answer_reads_notices_first_then_quotes_then_sources() -> None:
    a = {"abstained": False, "answer": "Retard the spark.\n\nPull the choke.", "warnings": ["WARNING: hot"],
         "quotes": [{"text": "Retard the spark.", "citation": 1}, {"text": "Pull the choke.", "citation": 0}],
         "citations": [{"source": "m.txt", "section": "Choke", "page": 3, "page_kind": "printed", "score": 0.5},
                       {"source": "m.txt", "section": "Spark", "page": None, "score": 0.9}],
         "mode": "hybrid", "latency_ms": 5.0, "cached": None, "confidence": 0.8}
    lines = _format_answer(a, [{"source": "m.txt"}]).splitlines()
    assert lines[:3] == ["! WARNING: hot", '"Retard the spark." [1]', '"Pull the choke." [2]']
    assert lines[3].startswith("  [1] m.txt, Spark") and lines[4].startswith("  [2] m.txt, Choke, page 3")
    ab = dict(a, abstained=True, answer=None, quotes=[], citations=[], reason="no_match", message=None)
    assert "Manual on this box: m.txt." in _format_answer(ab, [{"source": "m.txt"}])


def test_tflite_info_line_only_with_verbose(tmp_path: Path) -> None:
    manual = tmp_path / "tiny_manual.txt"
    manual.write_text(TINY_MANUAL)
    r = run_cli("index", str(manual), "--data-dir", str(tmp_path / "data"), "--quiet")
    assert r.returncode == 0 and "XNNPACK" not in r.stderr and r.stderr.strip() == "", r.stderr
    r = run_cli("ask", "-v", "How do I adjust the carburetor?", "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 0, r.stderr
    assert "XNNPACK" in r.stderr and "nic_edge.native" in r.stderr  # routed through logging, kept under -v


@pytest.mark.parametrize("verbose", [0, 1])
def test_internal_error_traceback_comes_with_one_v(verbose: int, capsys: pytest.CaptureFixture) -> None:
    """The one-line internal error says "run with -v for the traceback": one -v must bring it
    (it came only with -vv, DEBUG, for a tool whose default level is WARNING)."""
    import argparse
    import logging

    from nic_edge.cli.common import main_wrapper

    def build() -> argparse.ArgumentParser:
        p = argparse.ArgumentParser()
        p.add_argument("-v", "--verbose", action="count", default=0)
        return p

    def boom(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    try:
        rc = main_wrapper("nic-edge", build, boom, ["-v"] * verbose)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
    err = capsys.readouterr().err
    assert rc == 1
    assert "internal error: RuntimeError: a bug (run with -v for the traceback)" in err
    assert ("Traceback (most recent call last)" in err) == bool(verbose)
