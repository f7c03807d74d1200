"""Ingest internals: headings, OCR cleanup, chunking, safety notices."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine.ingest import load_documents
from nic_edge.engine.ingest.chunking import MAX_WORDS, chunk_sections, sentence_spans
from nic_edge.engine.ingest.ocr import clean_lines, learn_chapter_heads, learn_running_headers
from nic_edge.engine.ingest.structure import Section, line_heading
from nic_edge.engine.ingest.text import parse_text
from nic_edge.engine.notices import find_notices

FIX = Path(__file__).parent / "fixtures" / "ingest"


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("SECTION 3: FUEL SYSTEM", "SECTION 3: FUEL SYSTEM"),
        ("SECTION III. LUBRICATION", "SECTION III. LUBRICATION"),
        ("Para 1-2: Engine Cranks But Won't Start", "Para 1-2: Engine Cranks But Won't Start"),
        ("Table 7-1: Torque Specifications", "Table 7-1: Torque Specifications"),
        ("CHAPTER 4", "CHAPTER 4"),
        ("12. FUEL FILTER.", "12. FUEL FILTER"),
        ("2-11. GENERAL", "2-11. GENERAL"),
        ("8. TAILLIGHT(S) DO NOT OPERATE (CONT).", "8. TAILLIGHT(S) DO NOT OPERATE"),
        ("4. GENERAL DESCRIPTION (Figs. 1 and 2)", "4. GENERAL DESCRIPTION (Figs. 1 and 2)"),
    ],
)
def test_manual_headings(line: str, heading: str) -> None:
    found = line_heading(line, None)
    assert found is not None and found[0] == heading


@pytest.mark.parametrize(
    "line",
    [
        "1. Fuel System Issue (65% probability)",  # numbered list item, not a heading
        "SECTION I: Introduction 1-3 2",  # table-of-contents line
        "Section XXXIX lists all Standard Nomenclature Lists, Technical",
        "Table 1-1 lists data for the ATLAS.",
        "2. INTERVALS indicated are for normal service.",
        "[Figure 1-1: Starting System Schematic]",
        "The engine must be COLD before opening the cap.",
    ],
)
def test_not_headings(line: str) -> None:
    assert line_heading(line, None) is None


def test_numbered_heading_glued_to_previous_sentence_and_title_on_next_line() -> None:
    text = ("Section II\nGENERAL DESCRIPTION\n4. SCOPE\nThe manual covers the truck. 5. DATA\n"
            "Weight is 6,500 lb. 6. FITTINGS. Clean before applying lubricant.\n")
    sections = {s.heading: [p for _, p in s.paras] for s in parse_text(text)}
    assert sections["4. SCOPE"] == ["The manual covers the truck."]
    assert sections["5. DATA"] == ["Weight is 6,500 lb."]
    assert sections["6. FITTINGS"] == ["Clean before applying lubricant."]
    assert "Section II: GENERAL DESCRIPTION" in sections or all(
        "GENERAL DESCRIPTION" not in p for ps in sections.values() for p in ps)


def test_form_feeds_are_pages() -> None:
    text = "Para 1-1: One\nFirst page text.\fPara 1-2: Two\nSecond page text.\f\fPara 1-3: Three\nFourth."
    pages = {s.heading: s.paras[0][0] for s in parse_text(text)}
    assert pages == {"Para 1-1: One": 1, "Para 1-2: Two": 2, "Para 1-3: Three": 4}


def test_page_footers_number_pages() -> None:
    text = "Para 1-1: One\nText on eleven.\nPage 11\nPara 1-2: Two\nText on twelve.\n- 12 -\n"
    sections = parse_text(text)
    assert [(s.heading, s.paras[0][0]) for s in sections] == [
        ("Para 1-1: One", 11), ("Para 1-2: Two", 12)]
    assert all("Page" not in p and "12 -" not in p for s in sections for _, p in s.paras)


def test_ocr_cleanup_on_fixture() -> None:
    (doc,) = load_documents(FIX / "ocr_manual.txt")
    text = "\n".join(c.text for c in doc.chunks)
    assert "regular lubrication with engine oil." in text  # de-hyphenated
    assert "cap screws holding the pump to the housing and lift" in text
    assert "The well-known hand-operated grease gun" in text  # real compound kept
    for junk in ("ptth", "elgooG", "detareneG", "TM 9-999", "TMG", "niamoD"):
        assert junk not in text
    assert not any(line.strip().isdigit() for line in text.split("\n"))  # lone page numbers
    pages = {c.section: c.page for c in doc.chunks}
    # The numbers printed under each watermark block are the pages (issue 17 item 4).
    assert doc.page_kind == "printed"
    assert pages == {"1. GENERAL": 10, "2. PUMP REMOVAL": 11, "3. PUMP INSTALLATION": 11,
                     "4. INSPECTION": 13}


def test_running_header_needs_increasing_page_numbers() -> None:
    lines = [f"{n} THE PUMP MANUAL" if n % 2 == 0 else f"THE PUMP MANUAL {n}" for n in range(2, 12)]
    lines += ["KNOWN INFO 1 WARNING TEST OPTIONS"] * 10
    assert learn_running_headers(lines) == {"THE PUMP MANUAL"}


def _book(chapter_line: str) -> list[str]:
    """A scanned book: its title beside even page numbers, chapter titles beside odd ones, and
    the chapter heads reflowed into the middle of body sentences."""
    lines = []
    for n in range(2, 20, 2):
        lines.append(f"{n} THE PUMP MANUAL Body text of page {n} goes on here.")
        if n == 8:
            lines.append(chapter_line)
        elif n in (4, 12):
            lines.append(f"It is usually advis- THE PUMP HOUSING {n + 1} able to oil the seal.")
        else:
            lines.append(f"More text of page {n + 1}.")
    return lines


def test_chapter_heads_beside_the_other_parity_are_furniture() -> None:
    lines = _book("The seal is worn out by the THE SHAFT SEALS 9 grit in the water.")
    lines.append("See the seal (Cut No. 7 THE SHAFT SEALS 19 and the shaft.")
    assert learn_running_headers(lines) == {"THE PUMP MANUAL"}  # each chapter head too rare alone
    assert learn_chapter_heads(lines, {"THE PUMP MANUAL"}) == ({"THE PUMP HOUSING", "THE SHAFT SEALS"}, 1)
    cleaned = clean_lines([(None, line) for line in lines], paged=False)
    text = " ".join(t for _, t in cleaned)
    assert "It is usually advisable to oil the seal." in text  # head out, word made whole
    assert "The seal is worn out by the grit in the water." in text
    assert "THE SHAFT SEALS" not in text and "THE PUMP HOUSING" not in text
    assert "(Cut No. 7 and the shaft." in text  # the figure's number before the head stays
    # the chapter heads' numbers are pages too: the line after "THE SHAFT SEALS 9" is on page 9
    assert next(p for p, t in cleaned if t == "grit in the water.") == 9


def test_chapter_heads_need_page_numbers_of_one_parity() -> None:
    """Steps and counts beside capitalised words ("WIRE 3", "KNOWN INFO 1") have numbers of
    both parities: nothing is learned from them."""
    lines = [f"KNOWN INFO {n} check the wire" for n in range(1, 12)] + ["Then WIRE HARNESS 3 is cut."]
    assert learn_chapter_heads(lines, {"KNOWN INFO"}) == (set(), 1)
    # a chapter's own title line, without a page number, stays in the body
    lines = _book("The seal is worn out by the THE SHAFT SEALS 9 grit in the water.")
    lines.insert(9, "THE SHAFT SEALS")
    assert "THE SHAFT SEALS" in learn_chapter_heads(lines, {"THE PUMP MANUAL"})[0]
    text = [t for _, t in clean_lines([(None, line) for line in lines], paged=False)]
    assert "THE SHAFT SEALS" in text


def test_running_header_removed_at_line_end_and_starts_new_page() -> None:
    body = []
    for n in range(1, 7):
        body.append(f"Text of page {n}. 2-{n} TM 55-1234-567-10")
    cleaned = clean_lines([(None, line) for line in body], paged=False)
    assert [t for _, t in cleaned] == [f"Text of page {n}." for n in range(1, 7)]
    assert [p for p, _ in cleaned] == [1, 2, 3, 4, 5, 6]


def test_sentence_spans_respect_abbreviations_and_lines() -> None:
    text = "See Fig. 3 and No. 4 here. Then stop.\n1. First item\nLast line"
    parts = [text[s:e] for s, e in sentence_spans(text)]
    assert parts == ["See Fig. 3 and No. 4 here.", "Then stop.", "1. First item", "Last line"]
    # the line a full stop is on is found going forward (a long line stays linear): a list
    # number opens an item only at its line's start, on every line; a single letter is an initial
    text = "Intro here.\n2. Second item. Then 3. More\n4. Next item. X. Y\nThe end 5. Z"
    parts = [text[s:e] for s, e in sentence_spans(text)]
    assert parts == ["Intro here.", "2. Second item.", "Then 3.", "More", "4. Next item.", "X. Y",
                     "The end 5.", "Z"]


def _long_section(n_sentences: int, heading: str = "Para 9-9: Long") -> Section:
    sentences = [f"Sentence number {i} tells the reader one more useful fact." for i in range(n_sentences)]
    return Section(heading, [(3, " ".join(sentences))])


def test_chunks_respect_length_overlap_and_verbatim_text() -> None:
    section = _long_section(80)
    text = section.paras[0][1]
    chunks = chunk_sections([section], "long.txt")
    assert len(chunks) > 3
    for chunk in chunks:
        assert len(chunk.text.split()) <= MAX_WORDS
        assert chunk.text in text  # verbatim slice
        assert chunk.section == "Para 9-9: Long" and chunk.page == 3
    for prev, nxt in zip(chunks, chunks[1:]):
        last_sentence = prev.text.rsplit(". ", 1)[-1]
        first_sentence = nxt.text.split(". ", 1)[0] + "."
        assert last_sentence in nxt.text and first_sentence in prev.text  # 1-2 sentences shared
        shared = nxt.text[: nxt.text.index(last_sentence) + len(last_sentence)]
        assert len(shared.split()) <= 40


def test_chunk_never_spans_two_sections() -> None:
    sections = [_long_section(5, "Para 1-1: A"), _long_section(5, "Para 1-2: B")]
    chunks = chunk_sections(sections, "two.txt")
    assert [c.section for c in chunks] == ["Para 1-1: A", "Para 1-2: B"]


def test_one_enormous_sentence_is_split() -> None:
    section = Section("S", [(None, " ".join(["word"] * 500))])
    chunks = chunk_sections([section], "x.txt")
    assert len(chunks) >= 3 and all(len(c.text.split()) <= MAX_WORDS for c in chunks)


def test_notice_kept_whole_inside_one_chunk() -> None:
    filler = " ".join(f"Filler sentence {i} about routine checks." for i in range(30))
    notice = ("WARNING: Disconnect the battery before working on the starter. "
              "The starter cable is live even with the switch off.")
    section = Section("Para 5-1: Starter", [(1, filler), (1, notice), (1, filler)])
    chunks = chunk_sections([section], "n.txt")
    holding = [c for c in chunks if "WARNING" in c.text]
    assert holding and all(notice in c.text for c in holding)
    assert find_notices(holding[0].text) == [notice]


def test_find_notices_shapes() -> None:
    text = (
        "Check the level.\n"
        "⚠  SAFETY WARNING: Fuel system under pressure. Wear eye protection.\n"
        "The warning light comes on when the level is low.\n"
        "CAUTION\n"
        "Support the pump while the last screw is removed; it is heavy.\n"
        "\n"
        "NOTE: This is trivia.\n"
        "hull. Caution: Do not drain into hull.\n"
        "KNOWN INFO 1 WARNING TEST OPTIONS\n"
        "DANGER - High voltage inside the cabinet.\n"
    )
    assert find_notices(text) == [
        "⚠  SAFETY WARNING: Fuel system under pressure. Wear eye protection.",
        "CAUTION\nSupport the pump while the last screw is removed; it is heavy.",
        "Caution: Do not drain into hull.",
        "DANGER - High voltage inside the cabinet.",
    ]
    assert find_notices("No notices here, only a warning light.") == []


def test_inline_notice_is_capped_at_sentence_end() -> None:
    long_tail = " ".join(f"Sentence {i} continues the reflowed page." for i in range(40))
    (notice,) = find_notices(f"CAUTION: Keep hands clear. {long_tail}")
    assert notice.startswith("CAUTION: Keep hands clear.") and notice.endswith(".")
    assert len(notice.split()) <= 80


def test_vehicle_manual_like_fixture_sections_hold_notices() -> None:
    (doc,) = load_documents(FIX / "tm_manual.txt")
    crank = [c for c in doc.chunks if c.section == "Para 1-2: Engine Cranks But Won't Start"]
    notices = [n for c in crank for n in find_notices(c.text)]
    assert notices == ["⚠ WARNING: Fuel is under pressure. Wear eye protection and keep sparks "
                       "away from the filter housing. [Safety Notice 1-A]"]


def test_faq_entries_become_sections_of_their_own() -> None:
    """"Q: ...?" anywhere, and a plain question line under a FAQ heading when an answer follows,
    is an entry's heading: each answer is cited by its question and matched by it. A question
    line in an ordinary section stays text."""
    from nic_edge.engine.ingest.markdown import parse_markdown

    text = ("# Washer\n\n## Frequently Asked Questions\nCan I wash shoes in the machine?\n"
            "Yes, sports shoes can be washed on the Synthetics programme.\n"
            "- Why does it take longer than shown?\nThe machine adds time to rebalance the load.\n"
            "Is it safe?\nIs it quiet?\nBoth, within the limits below.\n\n"
            "## Settings\nQ: How do I turn off the end-of-cycle beep?\nA: Hold the Spin button for 5 seconds.\n"
            "Why is the display dim?\nThe dimmer is on.\n")
    sections = {s.heading: [p for _, p in s.paras] for s in parse_markdown(text)}
    assert sections["Can I wash shoes in the machine?"] == [
        "Yes, sports shoes can be washed on the Synthetics programme."]
    # a question line followed by another question is not an entry of its own: it stays text
    assert sections["Why does it take longer than shown?"] == [
        "The machine adds time to rebalance the load.", "Is it safe?"]
    assert sections["Is it quiet?"] == ["Both, within the limits below."]
    assert sections["How do I turn off the end-of-cycle beep?"] == [
        "A: Hold the Spin button for 5 seconds.", "Why is the display dim?", "The dimmer is on."]
    assert "Frequently Asked Questions" not in sections   # its entries took all its text


def test_faq_entries_in_plain_text_manuals() -> None:
    text = ("FREQUENTLY ASKED QUESTIONS\n\nQuestion 1: Can the radio run from the car battery?\n"
            "Yes, with the 12 V adapter cable.\n")
    sections = {s.heading: [p for _, p in s.paras] for s in parse_text(text)}
    assert sections["Can the radio run from the car battery?"] == ["Yes, with the 12 V adapter cable."]
