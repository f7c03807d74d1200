"""Printed page numbers from headers/footers, else counted pages (issue 17 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from nic_edge.engine.ingest import load_file
from nic_edge.engine.ingest.pages import Anchor, printed_pages
from tests.engine.test_engine_support import HashEmbedder

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "nic_edge" / "data" / "ford_model_t_manual_1919.txt"
CORPUS = ROOT.parent / "shared" / "corpus"


def _chunk(path: Path, needle: str):
    (doc,) = load_file(path).documents
    return doc, next(c for c in doc.chunks if needle in c.text)


def test_ford_carburetor_passage_cites_the_printed_page() -> None:
    # The running head inside the passage reads "22 THE FORD MANUAL" (counting text pages
    # said 6): the passage starts at the foot of page 21 and runs onto 22.
    doc, chunk = _chunk(SAMPLE, "lock nut on top of the carburetor")
    assert doc.page_kind == "printed" and chunk.page == 21
    _, after = _chunk(SAMPLE, "The presence of water in the carburetor")
    assert after.page == 22


NAMES = ["Intake", "Gasket", "Impeller", "Housing", "Shaft", "Seal", "Bearing", "Cover"]


def _running_head_manual(tmp_path: Path, numbers: list[int]) -> Path:
    """OCR-style text: a running head with the page number on left-hand pages only, reflowed
    into the body lines (as in the scanned Ford manual)."""
    lines = ["SECTION 1: PUMP"]
    for k, n in enumerate(numbers):
        lines.append(f"Para 1-{k + 1}: {NAMES[k]} Service")
        lines.append(f"The part number {k + 1} text fills the first half of this page and runs on.")
        lines.append(f"More words about part {k + 1} close the stretch. {n} THE PUMP MANUAL And the next")
        lines.append(f"page continues with the part {k + 1} story until the stretch ends.")
    path = tmp_path / "pump.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_running_heads_give_printed_pages_and_a_garbled_one_is_ignored(tmp_path: Path) -> None:
    path = _running_head_manual(tmp_path, [4, 6, 8, 1, 12, 14])  # "1" is OCR's "10"
    (doc,) = load_file(path).documents
    assert doc.page_kind == "printed"
    after = {c.section: c.page for c in doc.chunks}
    # Heads every other page: pages between them are interpolated by position (+-1).
    assert after["Para 1-2: Gasket Service"] in (4, 5) and after["Para 1-3: Impeller Service"] in (6, 7)
    assert after["Para 1-6: Seal Service"] in (12, 13)  # the garbled "1" did not derail the run
    pages = [c.page for c in doc.chunks]
    assert pages == sorted(pages)


def test_a_head_on_every_page_gives_exact_pages(tmp_path: Path) -> None:
    (doc,) = load_file(_running_head_manual(tmp_path, [5, 6, 7, 8, 9])).documents
    after = {c.section: c.page for c in doc.chunks}
    assert doc.page_kind == "printed"
    assert [after[f"Para 1-{k + 1}: {NAMES[k]} Service"] for k in range(5)] == [4, 5, 6, 7, 8]


def test_no_printed_numbers_means_counted_and_no_pages_means_none(tmp_path: Path) -> None:
    ff = tmp_path / "ff.txt"
    ff.write_text("Para 1-1: One\nFirst page text.\fPara 1-2: Two\nSecond page text.\n", encoding="utf-8")
    (doc,) = load_file(ff).documents
    assert doc.page_kind == "counted" and [c.page for c in doc.chunks] == [1, 2]
    md = tmp_path / "m.md"
    md.write_text("# Winch\n\nGrease the winch drum monthly.\n", encoding="utf-8")
    (doc,) = load_file(md).documents
    assert doc.page_kind is None and doc.chunks[0].page is None


def test_footer_numbers_on_form_feed_pages_are_printed(tmp_path: Path) -> None:
    pages = [f"Para 1-{k}: {NAMES[k]} Check\nDo this step with care and check it twice.\n- {k + 40} -"
             for k in range(1, 6)]
    path = tmp_path / "ff.txt"
    path.write_text("\f".join(pages), encoding="utf-8")
    (doc,) = load_file(path).documents
    assert doc.page_kind == "printed"
    assert [c.page for c in doc.chunks] == [41, 42, 43, 44, 45]


def test_anchor_run_needs_enough_agreeing_numbers() -> None:
    counted = [1, 1, 2, 2, 3, 3]
    pages, kind = printed_pages(counted, [Anchor(1, 9, 0, False), Anchor(2, 3, 2, False)])
    assert kind == "counted" and pages == counted


def test_citations_say_which_page_numbering(tmp_path: Path) -> None:
    # Threshold 0: this is about the citation's page fields, not about confidence with a fake model.
    eng = Engine(tmp_path / "data", load_profiles()["ultra_lite"], EngineConfig(abstain_threshold=0.0),
                 HashEmbedder())
    eng.index_paths([SAMPLE])
    a = eng.ask("How is the carburetor adjusted?")
    assert not a["abstained"]
    assert all(c["page_kind"] == "printed" and isinstance(c["page"], int) for c in a["citations"])


@pytest.mark.parametrize("name,needle,page,kind", [
    ("tm9_802.txt", "Emergency Hitch Around Tree with Cable as used in", 24, "printed"),
    ("tm9_802.txt", "SOLVENT, dry-cleaning. Caution: Do not drain into hull.", 45, "printed"),
    ("ford_model_t_manual_1919.txt", "lock nut on top of the carburetor", 21, "printed"),
    ("tm_10_3930_673_20_1.txt", "Washing oil seals", None, "counted"),  # "2-165": not an int
])
def test_corpus_manuals(name: str, needle: str, page: int | None, kind: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is not checked out)")
    doc, chunk = _chunk(path, needle)
    assert doc.page_kind == kind
    if page is not None:
        assert chunk.page == page
