"""`nic-edge ask` tells two same-named manuals apart (a mower's and a generator's manual.md in
different folders): the JSON citation's ``label`` and the text output name "b/manual.md", not
"manual.md" for both; the answer cache never serves the old name (real model, subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.device import run_cli

MOWER = "# Mower\n\n## Oil\n\nUse SAE 30 oil in the mower engine. Change the mower oil every 50 hours of operation.\n"
GENERATOR = ("# Generator\n\n## Oil\n\nUse 5W-40 oil in the generator engine. Change the generator oil "
             "every 100 hours of operation.\n")
GEN_Q = "How often do I change the generator oil?"
MOWER_Q = "How often do I change the mower oil?"


def _manuals(root: Path) -> tuple[Path, Path]:
    a, b = root / "m" / "a" / "manual.md", root / "m" / "b" / "manual.md"
    for path, text in ((a, MOWER), (b, GENERATOR)):
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
    return a, b


def _cli(data: Path, *args: str) -> str:
    r = run_cli(*args, "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    return r.stdout


def _ask(data: Path, question: str) -> dict:
    a = json.loads(_cli(data, "ask", question, "--json"))
    assert not a["abstained"], a
    return a


def test_same_named_manuals_get_distinct_labels_in_json_and_text(tmp_path: Path) -> None:
    _manuals(tmp_path)
    data = tmp_path / "data"
    _cli(data, "index", str(tmp_path / "m"))
    a = _ask(data, GEN_Q)
    cited = a["citations"][a["quotes"][0]["citation"]]
    assert cited["source"] == "manual.md" and cited["label"] == "b/manual.md"
    assert "100 hours" in a["answer"]
    assert {c["label"] for c in a["citations"]} == {"a/manual.md", "b/manual.md"}
    text = _cli(data, "ask", GEN_Q)
    assert "[1] b/manual.md, Oil" in text and "[1] manual.md," not in text
    assert "[1] a/manual.md, Oil" in _cli(data, "ask", MOWER_Q, "--no-cache")
    hits = json.loads(_cli(data, "retrieve", "oil", "--json"))["hits"]
    assert sorted(h["label"] for h in hits) == ["a/manual.md", "b/manual.md"]
    shown = _cli(data, "retrieve", "oil")   # the text output names the folder too
    assert "[a/manual.md]" in shown and "[b/manual.md]" in shown, shown
    rows = json.loads(_cli(data, "manuals", "--json"))["manuals"]
    assert [r["label"] for r in rows] == ["a/manual.md", "b/manual.md"]
    listing = _cli(data, "manuals")
    assert "\na/manual.md " in listing and "\nb/manual.md " in listing


def test_labels_follow_indexing_and_removal_through_the_answer_cache(tmp_path: Path) -> None:
    a, b = _manuals(tmp_path)
    data = tmp_path / "data"
    _cli(data, "index", str(a))
    first = _ask(data, MOWER_Q)
    assert first["citations"][0]["label"] == "manual.md" == first["citations"][0]["source"]
    assert _ask(data, MOWER_Q)["cached"] == "l2"   # on disk, across processes
    _cli(data, "index", str(b))
    again = _ask(data, MOWER_Q)
    assert again["cached"] is None and again["citations"][0]["label"] == "a/manual.md"
    assert "[1] a/manual.md, Oil" in _cli(data, "ask", MOWER_Q)
    _cli(data, "index", "--remove", str(b))
    back = _ask(data, MOWER_Q)
    assert back["cached"] is None and back["citations"][0]["label"] == "manual.md"
    assert [c["label"] for c in back["citations"]] == ["manual.md"]
    assert "[1] manual.md, Oil" in _cli(data, "ask", MOWER_Q)
