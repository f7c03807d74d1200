"""Content bundle build (engine side) and install into an index store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from nic_edge.core import bundle as bundle_file  # noqa: E402
from nic_edge.core import ed25519  # noqa: E402
from nic_edge.core.config import EngineConfig  # noqa: E402
from nic_edge.core.tiers import load_profiles  # noqa: E402
from nic_edge.engine import bundle_build, bundle_install  # noqa: E402
from nic_edge.engine.engine import Engine  # noqa: E402
from nic_edge.engine.store import FORMAT, IndexStore  # noqa: E402
from tests.engine.test_engine_support import MANUAL, HashEmbedder, fake_load, write_manual  # noqa: E402


@pytest.fixture
def key(tmp_path: Path):
    ed25519.generate(tmp_path / "k")
    return ed25519.load_private(tmp_path / "k")


def build(manuals, key, out, env=None, **kw):
    return bundle_build.build(manuals, key, out, HashEmbedder(), env=env or {}, loader=fake_load, **kw)


def test_byte_identical_for_same_inputs_even_from_another_folder(tmp_path: Path, key) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    ma, mb = write_manual(a, "m.txt"), write_manual(b, "m.txt")
    os.utime(ma, (1767225600, 1767225600))
    os.utime(mb, (1767225600, 1767225600))
    m1 = build([ma], key, tmp_path / "1.nicb")
    m2 = build([mb], key, tmp_path / "2.nicb")
    assert (tmp_path / "1.nicb").read_bytes() == (tmp_path / "2.nicb").read_bytes()
    assert m1 == m2 and m1["created_at"] == 1767225600 == m1["version"]
    assert m1["index_format"] == FORMAT and m1["model_sha256"] == "fake-model-1"
    assert m1["sources"] == [{"source": "m.txt", "file": "m.txt", "sha256": m1["inputs"][0]["sha256"], "chunks": 8}]
    # SOURCE_DATE_EPOCH wins over mtimes; a changed manual changes the bundle
    m3 = build([ma], key, tmp_path / "3.nicb", env={"SOURCE_DATE_EPOCH": "1800000000"})
    assert m3["created_at"] == 1800000000
    ma.write_text(MANUAL + "\nPara 3-1: Extra\nMore text.\n")
    os.utime(ma, (1767225600, 1767225600))
    build([ma], key, tmp_path / "4.nicb")
    assert (tmp_path / "4.nicb").read_bytes() != (tmp_path / "1.nicb").read_bytes()


def test_no_fleet_paths_and_no_wall_clock_in_the_bundle(tmp_path: Path, key) -> None:
    m = write_manual(tmp_path, "m.txt")
    build([m], key, tmp_path / "b.nicb", env={"SOURCE_DATE_EPOCH": "1767225600"})
    b = bundle_file.read_bundle(tmp_path / "b.nicb", None)
    out = tmp_path / "x"
    out.mkdir()
    bundle_file.extract(b, out)
    text = (out / "sources.json").read_text() + (out / "manifest.json").read_text()
    assert str(tmp_path) not in text and "bundle:m.txt" in text
    assert '"created_at": 1767225600' in (out / "manifest.json").read_text()


def test_model_missing_or_bad_manual_refuses(tmp_path: Path, key) -> None:
    m = write_manual(tmp_path, "m.txt")
    with pytest.raises(Exception, match="no embeddings"):
        bundle_build.build([m], key, tmp_path / "b", HashEmbedder(fail=True), env={}, loader=fake_load)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(Exception, match="could not be indexed"):
        build([m, tmp_path / "empty.txt"], key, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_install_switches_keeps_previous_and_local_index_adds_on_top(tmp_path: Path, key) -> None:
    src = tmp_path / "src"
    src.mkdir()
    build([write_manual(src, "pushed.txt", MANUAL.replace("85-95", "120"))], key, tmp_path / "b.nicb")
    eng = Engine(tmp_path / "data", load_profiles()["lite"], EngineConfig(), HashEmbedder(), loader=fake_load)
    eng.index_paths([write_manual(tmp_path, "local.txt")])
    old_gen = eng.store.current_name()
    gen = bundle_install.install(eng.store, bundle_file.read_bundle(tmp_path / "b.nicb", None))
    assert eng.store.current_name() == gen != old_gen
    assert (eng.store.root / old_gen).is_dir()  # kept for a roll-back
    assert [m["source"] for m in eng.manuals()] == ["pushed.txt"]
    assert "120" in eng.ask("What torque for the lug nuts?")["answer"]
    assert eng.mode == "hybrid"  # the pushed embeddings are used as they are
    assert bundle_install.current_marker(eng.store)["version"] > 0
    eng.index_paths([write_manual(tmp_path, "extra.txt", "Para 7-1: Horn\nThe horn fuse is F12.\n")])
    assert [m["source"] for m in eng.manuals()] == ["extra.txt", "pushed.txt"]
    assert bundle_install.current_marker(eng.store) is None  # a local generation, not the bundle's


def test_install_refuses_unreadable_generation(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    staged = tmp_path / "index" / ".tmp-x"
    staged.mkdir(parents=True)
    (staged / "manifest.json").write_text('{"format": 999}')
    with pytest.raises(Exception, match="format 999"):
        store.install(staged, "gen-1")
    assert store.current_name() is None
