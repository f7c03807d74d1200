"""Two manuals with the same file name in different folders (a mower's and a generator's
``manual.md``) are told apart: citations, retrieve hits, the manuals listing and abstention
messages carry a ``label`` ("a/manual.md"); ``source`` stays the file name (DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from tests.engine.test_engine_support import write_manual
from tests.engine.test_index_files import PHONE, TRUCK, make, write_beir

MOWER = ("Para 1-1: Oil\nUse SAE 30 oil in the mower engine. Change the mower oil every 50 hours.\n\n"
         "Para 1-2: Blade\nSharpen the mower blade every season.\n")
GENERATOR = ("Para 1-1: Oil\nUse 5W-40 oil in the generator engine. Change the generator oil every "
             "100 hours.\nCAUTION: Hot oil can burn your skin.\n\n"
             "Para 1-2: Outlets\nThe generator has two 120 V outlets.\n")
GEN_Q = "How often do I change the generator oil?"
MOWER_Q = "How often do I change the mower oil?"


def two_manuals(tmp_path: Path) -> tuple[Path, Path]:
    return (write_manual(tmp_path / "m" / "a", "manual.md", MOWER),
            write_manual(tmp_path / "m" / "b", "manual.md", GENERATOR))


def first_cite(eng, question: str) -> dict:
    a = eng.ask(question)
    assert not a["abstained"], a
    return a["citations"][a["quotes"][0]["citation"]]


def test_file_labels_are_the_shortest_unique_trailing_paths() -> None:
    from nic_edge.engine.labels import file_labels
    keys = ["/srv/m/a/manual.md", "/srv/m/b/manual.md", "/srv/x/a/manual.md", "/srv/ford.txt",
            "/t/manual.md/../q/other.txt", "bundle:tm9.txt"]
    got = file_labels(keys)
    assert got["/srv/m/a/manual.md"] == "m/a/manual.md"   # a/manual.md is held by /srv/x/a too
    assert got["/srv/x/a/manual.md"] == "x/a/manual.md"
    assert got["/srv/m/b/manual.md"] == "b/manual.md"
    assert got["/srv/ford.txt"] == "ford.txt"               # unique name: the name
    assert got["bundle:tm9.txt"] == "tm9.txt"
    # one path that ends with all of another: the whole path
    assert file_labels(["/a/m.txt", "/x/a/m.txt"]) == {"/a/m.txt": "/a/m.txt", "/x/a/m.txt": "x/a/m.txt"}
    # the same name, its accent encoded two ways (a Mac writes NFD), is the same name
    nfc, nfd = "/p/r\u00e9glage.txt", "/q/re\u0301glage.txt"
    assert set(file_labels([nfc, nfd]).values()) == {"p/r\u00e9glage.txt", "q/r\u00e9glage.txt"}


def test_same_named_manuals_are_cited_by_distinct_labels(tmp_path: Path) -> None:
    a, b = two_manuals(tmp_path)
    eng = make(tmp_path / "data")
    eng.index_paths([tmp_path / "m"])
    gen, mower = first_cite(eng, GEN_Q), first_cite(eng, MOWER_Q)
    assert gen["source"] == mower["source"] == "manual.md"          # the contract's source is kept
    assert (gen["label"], mower["label"]) == ("b/manual.md", "a/manual.md")
    assert "100 hours" in gen["snippet"] and "50 hours" in mower["snippet"]
    hits = eng.retrieve("oil change hours", 5)
    assert {h["label"] for h in hits if h["section"] == "Para 1-1: Oil"} == {"a/manual.md", "b/manual.md"}
    listed = eng.manuals()
    assert [(r["source"], r["label"], r["file"]) for r in listed] == [
        ("manual.md", "a/manual.md", str(a.resolve())), ("manual.md", "b/manual.md", str(b.resolve()))]
    # an abstention names both, not "manual.md" once
    off = eng.ask("What is the capital of France?")
    assert off["abstained"] and "a/manual.md" in off["message"] and "b/manual.md" in off["message"]
    # the generator's caution is not shown with an answer quoting the mower's manual only
    assert all("Hot oil" not in w for w in eng.ask(MOWER_Q)["warnings"])


def test_a_unique_name_keeps_label_equal_to_source(tmp_path: Path) -> None:
    a, _ = two_manuals(tmp_path)
    eng = make(tmp_path / "data")
    eng.index_paths([a, write_manual(tmp_path / "m" / "c", "ford.txt")])
    c = first_cite(eng, MOWER_Q)
    assert c["label"] == c["source"] == "manual.md"
    assert all(r["label"] == r["source"] for r in eng.manuals())
    assert all(h["label"] == h["source"] for h in eng.retrieve("lug nut torque", 10))


def test_labels_follow_the_index_as_manuals_come_and_go(tmp_path: Path) -> None:
    a, b = two_manuals(tmp_path)
    eng = make(tmp_path / "data")
    eng.index_paths([a])
    fp = eng.fingerprint
    assert first_cite(eng, MOWER_Q)["label"] == "manual.md"
    eng.index_paths([b])
    # a new generation, so a new cache fingerprint: an answer cached with the bare name is not served
    assert eng.fingerprint != fp
    assert first_cite(eng, MOWER_Q)["label"] == "a/manual.md"
    assert eng.remove(["manual.md"]).removed == []                 # ambiguous: nothing removed
    eng.remove([str(b)])
    assert first_cite(eng, MOWER_Q)["label"] == "manual.md"
    assert [r["label"] for r in eng.manuals()] == ["manual.md"]


def test_beir_records_keep_their_id_and_say_which_file_when_ids_collide(tmp_path: Path) -> None:
    phone = write_beir(tmp_path / "phone", PHONE)
    truck = write_beir(tmp_path / "truck", TRUCK)
    eng = make(tmp_path / "data")
    eng.index_paths([phone, truck])
    c = first_cite(eng, "how long to charge the phone battery")
    assert c["source"] == "section_1" and c["label"] == "section_1 (phone/corpus.jsonl)"
    c = first_cite(eng, "when to drain the radiator coolant")   # section_2 is in both files
    assert c["source"] == "section_2" and c["label"] == "section_2 (truck/corpus.jsonl)"
    c = first_cite(eng, "replace the wiper blades")               # section_4: the truck's only
    assert c["label"] == c["source"] == "section_4"
    assert [r["label"] for r in eng.manuals()] == ["phone/corpus.jsonl", "truck/corpus.jsonl"]


def test_control_and_format_characters_in_a_name_are_shown_not_obeyed(tmp_path: Path) -> None:
    """A right-to-left override in a file name ("manual\u202etxt.md" reads "manualdm.txt" and
    reverses the rest of the line) or a zero-width space is written out in every label; the
    ``source`` stays the file name, byte for byte."""
    from nic_edge.engine.labels import visible

    assert visible("manual\u202etxt.md") == "manual<U+202E>txt.md"
    assert visible("a\u200bb\tc") == "a<U+200B>b<U+0009>c"
    assert visible("Ölwechsel.md") == "Ölwechsel.md"
    write_manual(tmp_path / "m", "manual\u202etxt.md", MOWER)
    eng = make(tmp_path / "data")
    eng.index_paths([tmp_path / "m"])
    cite = first_cite(eng, MOWER_Q)
    assert cite["source"] == "manual\u202etxt.md" and cite["label"] == "manual<U+202E>txt.md"
    assert [m["label"] for m in eng.manuals()] == ["manual<U+202E>txt.md"]
    gone = eng.ask("What is the price of a tractor in Peru?")
    assert gone["abstained"] and "manual<U+202E>txt.md" in gone["message"] and "\u202e" not in gone["message"]
