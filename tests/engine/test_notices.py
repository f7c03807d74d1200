"""Safety notices: one rule, checked over every manual we have (issue 17 item 5).

The in-repo fixture holds every notice shape the rule knows (written for this test). The
corpus manuals (../shared/corpus, public domain), the bundled sample and nic_qa's manual are
compared with the reviewed list in fixtures/notices_expected.json; the ../shared parts skip
when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from nic_edge.engine.ingest import load_file
from nic_edge.engine.notices import find_notices
from tests.engine.test_engine_support import HashEmbedder

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SHARED = ROOT.parent / "shared"
EXPECTED = json.loads((FIXTURES / "notices_expected.json").read_text(encoding="utf-8"))
MANUALS = {
    "ford_model_t_manual_1919.txt": SHARED / "corpus" / "ford_model_t_manual_1919.txt",
    "tm9_802.txt": SHARED / "corpus" / "tm9_802.txt",
    "tm_10_3930_673_20_1.txt": SHARED / "corpus" / "tm_10_3930_673_20_1.txt",
    "sample": ROOT / "nic_edge" / "data" / "ford_model_t_manual_1919.txt",
    "nic_qa": SHARED / "eval" / "nic_qa" / "vehicle_manual.txt",
}


def manual_notices(path: Path) -> list[str]:
    """Distinct notice prefixes of a manual, as the indexer finds them (per chunk)."""
    n = EXPECTED["prefix_chars"]
    out: list[str] = []
    for doc in load_file(path).documents:
        for chunk in doc.chunks:
            for notice in find_notices(chunk.text):
                p = " ".join(notice.split())[:n]
                if p not in out:
                    out.append(p)
    return out


@pytest.mark.parametrize("name", list(MANUALS))
def test_notices_of_every_manual_match_the_reviewed_list(name: str) -> None:
    path = MANUALS[name]
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is not checked out)")
    assert manual_notices(path) == EXPECTED[name]


def test_the_rule_on_every_shape() -> None:
    found = [" ".join(n.split()) for n in manual_notices_full(FIXTURES / "ingest" / "notices_manual.txt")]
    assert found == [
        "CAUTION To avoid electric shock, unplug the charger before cleaning the port.",
        "CAUTION Do not puncture or bend the battery. A damaged battery can catch fire.",
        "Caution. Winding the cable tightly around the charger breaks its wires over time.",
        "WARNING: Do not hold the speaker against your ear while the alarm sounds.",
    ]


def manual_notices_full(path: Path) -> list[str]:
    return [n for d in load_file(path).documents for c in d.chunks for n in find_notices(c.text)]


@pytest.mark.parametrize("text,expected", [
    ("CAUTION  To avoid electric shock, unplug it.", ["CAUTION  To avoid electric shock, unplug it."]),
    ("Check the oil. DANGER Never open the cap when hot.", ["DANGER Never open the cap when hot."]),
    ("KNOWN INFO 1 WARNING TEST OPTIONS", []),
    ("Read WARNING on Voltage test.", []),
    ("WARNING\nNone. Read WARNING on Voltage test. following page.", []),
    ("d. Caution and Instruction Plates. Various plates.", []),
])
def test_rule_cases(text: str, expected: list[str]) -> None:
    assert find_notices(text) == expected


def test_an_answer_citing_a_section_with_a_bare_caution_carries_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    eng = Engine(data, load_profiles()["ultra_lite"], EngineConfig(), HashEmbedder())
    eng.index_paths([FIXTURES / "ingest" / "notices_manual.txt"])
    a = eng.ask("How long does a full charge of the handset take?")
    assert not a["abstained"], a
    assert a["citations"][0]["section"] == "Para 1-1: Charging the Handset"
    assert any(w.startswith("CAUTION") and "electric shock" in w for w in a["warnings"]), a["warnings"]
