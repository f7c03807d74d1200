"""Files are identified by resolved path: records of different files never replace each other
(issue 17 item 1), the index format version (item 8) and exit-code-relevant skips (item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from nic_edge.engine.store import FORMAT, IndexStore
from nic_edge.errors import IndexStoreError, MissingDependencyError
from tests.engine.test_engine_support import HashEmbedder, fake_load, write_manual

PHONE = [("section_1", "Battery", "Charge the phone battery with the supplied USB cable for two hours."),
         ("section_2", "Screen", "Clean the touch screen with a dry microfibre cloth only."),
         ("section_3", "Ringtone", "Choose a ringtone under Settings then Sounds then Ringtone.")]
TRUCK = [("section_1", "Lug nuts", "Tighten the wheel lug nuts to 85-95 ft-lbs in a star pattern."),
         ("section_2", "Coolant", "Drain the radiator coolant every two years and refill with glycol."),
         ("section_4", "Wipers", "Replace the wiper blades when they streak the windshield.")]
QUESTIONS = {"phone": ["how long to charge the phone battery", "how to clean the touch screen"],
             "truck": ["lug nuts torque star pattern", "when to drain the radiator coolant"]}


def make(data: Path) -> Engine:
    return Engine(data, load_profiles()["ultra_lite"], EngineConfig(), HashEmbedder(),
                  store=IndexStore(data / "index"), loader=fake_load)


def write_beir(folder: Path, records: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.jsonl"  # both held-out style sets carry this name
    path.write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in records),
                    encoding="utf-8")
    return path


def answers(eng: Engine, qs: list[str]) -> list[tuple]:
    out = []
    for q in qs:
        a = eng.ask(q)
        out.append((a["answer"], [c["source"] for c in a["citations"]][:1]))
    return out


def test_two_beir_sets_with_overlapping_ids_are_both_kept(tmp_path):
    phone = write_beir(tmp_path / "phone", PHONE)
    truck = write_beir(tmp_path / "truck", TRUCK)
    alone = {}
    for name, path in (("phone", phone), ("truck", truck)):
        e = make(tmp_path / f"alone-{name}")
        e.index_paths([path])
        alone[name] = answers(e, QUESTIONS[name])
        assert all(a for a, _ in alone[name])
    eng = make(tmp_path / "both")
    eng.index_paths([phone])
    rep = eng.index_paths([truck])
    assert rep.duplicates_replaced == 0 and rep.chunks_total == 6
    for name in ("phone", "truck"):
        assert answers(eng, QUESTIONS[name]) == alone[name]
    snap = eng.snapshot()
    ids = [snap.chunk_id(i) for i in range(snap.n)]
    assert len(set(ids)) == len(ids)  # unique across files
    assert {snap.source(i) for i in range(snap.n)} == {"section_1", "section_2", "section_3", "section_4"}
    # re-indexing the first set changes nothing and keeps the second
    again = eng.index_paths([phone])
    assert again.unchanged == [str(phone)] and again.chunks_total == 6


def test_manuals_are_listed_per_file_with_records(tmp_path):
    phone = write_beir(tmp_path / "phone", PHONE)
    truck = write_beir(tmp_path / "truck", TRUCK)
    txt = write_manual(tmp_path)
    eng = make(tmp_path / "data")
    eng.index_paths([phone, truck, txt])
    rows = eng.manuals()
    assert [(r["source"], r["file"]) for r in rows] == [
        ("corpus.jsonl", str(phone.resolve())), ("corpus.jsonl", str(truck.resolve())),
        ("manual.txt", str(txt.resolve()))]
    assert rows[0]["chunks"] == 3 and rows[0]["record_count"] == 3 and "records" not in rows[0]
    assert all(isinstance(r["indexed_at"], float) and r["sections"] >= 1 for r in rows)
    detail = eng.manuals(records=True)
    assert [r["source"] for r in detail[1]["records"]] == ["section_1", "section_2", "section_4"]


def test_same_file_name_in_two_folders_both_kept(tmp_path):
    a = write_manual(tmp_path / "a")
    b = write_manual(tmp_path / "b", text="Para 5-1: Horn\nThe horn button is on the steering wheel.\n")
    eng = make(tmp_path / "data")
    eng.index_paths([a])
    eng.index_paths([b])
    assert [r["file"] for r in eng.manuals()] == [str(a.resolve()), str(b.resolve())]
    assert not eng.ask("lug nut torque")["abstained"]
    assert not eng.ask("where is the horn button")["abstained"]


def test_reindex_restores_a_file_whose_index_content_no_longer_matches(tmp_path):
    phone = write_beir(tmp_path / "phone", PHONE)
    eng = make(tmp_path / "data")
    eng.index_paths([phone])
    assert eng.remove(["section_2"]).removed == ["section_2"]  # one record gone
    assert eng.ask("how to clean the touch screen")["abstained"]
    rep = eng.index_paths([phone])
    assert rep.indexed_files == [str(phone)] and rep.chunks_total == 3
    assert not eng.ask("how to clean the touch screen")["abstained"]


def test_remove_by_path_name_or_record(tmp_path):
    phone = write_beir(tmp_path / "phone", PHONE)
    truck = write_beir(tmp_path / "truck", TRUCK)
    eng = make(tmp_path / "data")
    eng.index_paths([phone, truck])
    rep = eng.remove(["corpus.jsonl"])  # two files have that name: nothing removed
    assert rep.removed == [] and "give the file path" in rep.skipped[0][1]
    assert eng.remove(["section_1"]).skipped[0][0] == "section_1"  # in both files
    rep = eng.remove([str(truck)])
    assert rep.removed == ["corpus.jsonl"]
    assert [r["file"] for r in eng.manuals()] == [str(phone.resolve())]
    assert eng.remove(["section_3"]).removed == ["section_3"]
    assert eng.remove(["corpus.jsonl"]).removed == ["corpus.jsonl"] and eng.manuals() == []


def test_old_index_format_gives_one_line_reindex_error_and_index_rebuilds(tmp_path):
    txt = write_manual(tmp_path)
    eng = make(tmp_path / "data")
    eng.index_paths([txt])
    gen = tmp_path / "data" / "index" / eng.store.current_name()
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["format"] = FORMAT - 1
    (gen / "manifest.json").write_text(json.dumps(manifest))
    (gen / "sources.json").write_text(json.dumps({"sources": {}, "files": {str(txt.resolve()): {}}}))
    fresh = make(tmp_path / "data")
    with pytest.raises(IndexStoreError) as err:
        fresh.ask("lug nut torque")
    msg = str(err.value)
    assert "re-index needed" in msg and "nic-edge index" in msg and "\n" not in msg
    rep = make(tmp_path / "data").index_paths([])  # re-reads the files the old index names
    assert rep.indexed_files == [str(txt.resolve())] and any("older format" in w for w in rep.warnings)
    assert not make(tmp_path / "data").ask("lug nut torque")["abstained"]


def test_a_file_needing_a_missing_extra_is_skipped_and_the_rest_indexed(tmp_path):
    good = write_manual(tmp_path)
    pdf = tmp_path / "garbage.pdf"
    pdf.write_bytes(b"%PDF-1.4 junk")

    def loader(path: Path):
        if path.suffix == ".pdf":
            raise MissingDependencyError("reading PDF manuals needs the pypdf package",
                                         "pip install 'nic-edge[pdf]'")
        return fake_load(path)

    eng = Engine(tmp_path / "data", load_profiles()["ultra_lite"], EngineConfig(), HashEmbedder(),
                 loader=loader)
    rep = eng.index_paths([pdf, good])
    assert rep.indexed_files == [str(good)]
    assert rep.skipped[0][0] == str(pdf) and "pypdf" in rep.skipped[0][1]


def test_empty_folder_is_named_with_a_reason(tmp_path):
    (tmp_path / "empty").mkdir()
    eng = make(tmp_path / "data")
    rep = eng.index_paths([tmp_path / "empty"])
    assert rep.skipped and rep.skipped[0][0] == str(tmp_path / "empty")
    assert "no manual files" in rep.skipped[0][1]


def test_other_files_in_a_folder_are_left_out_and_counted(tmp_path):
    """A spreadsheet dropped beside the manuals is not silently ignored: the report says how many
    files of which kinds were left out, and which kinds are manuals (exit code unchanged)."""
    folder = tmp_path / "manuals"
    write_manual(folder)
    (folder / "wiring.xlsx").write_bytes(b"PK")
    (folder / "sub").mkdir()
    (folder / "sub" / "photo.JPG").write_bytes(b"x")
    (folder / "sub" / "notes.xlsx").write_bytes(b"PK")
    (folder / ".DS_Store").write_bytes(b"x")          # hidden: not counted
    rep = make(tmp_path / "data").index_paths([folder])
    assert len(rep.indexed_files) == 1 and not rep.skipped
    [w] = [w for w in rep.warnings if "not of a manual type" in w]
    assert w.startswith("3 file(s)") and ".xlsx x2, .jpg x1" in w and ".pdf" in w and ".txt" in w


# What a generation of format 2 stores. A change to this list (or to the columns' meaning,
# sources.json or the chunk id rules) must bump store.FORMAT and add a line to its history:
# readers of another format give the "re-index needed" error instead of misreading the index.
LAYOUT = {2: {"bm25_df.npy", "bm25_doc.npy", "bm25_ptr.npy", "bm25_terms.txt", "bm25_w.npy",
              "doclen.npy", "emb.npy", "emb_scale.npy", "file.npy", "ids.bin", "ids_off.npy",
              "manifest.json", "ngrp.npy", "ord.npy", "page.npy", "page_kind.npy", "sec.npy",
              "sources.json", "src.npy", "strings.json", "texts.bin", "texts_off.npy"}}
LAYOUT[3] = LAYOUT[2] | {"calibration.json"}
LAYOUT[4] = LAYOUT[3] | {"head_emb.npy", "head_emb_scale.npy"}
LAYOUT[5] = LAYOUT[4]   # + open_key/open_emb/open_emb_scale on a box that reranks (test_openings.py)


def test_generation_layout_matches_its_format_version(tmp_path):
    eng = make(tmp_path / "data")
    eng.index_paths([write_manual(tmp_path)])
    gen = tmp_path / "data" / "index" / eng.store.current_name()
    assert FORMAT in LAYOUT, "new index format: record its layout here"
    assert {p.name for p in gen.iterdir()} == LAYOUT[FORMAT], "index layout changed: bump store.FORMAT"
    strings = json.loads((gen / "strings.json").read_text())
    assert set(strings) == {"sources", "sections", "notices", "files"}
