"""`nic-fleet flash --manuals DIR` and links: a link to a file is copied as its content (FAT holds
no links, as `cp -L`); a link to a folder is refused by name (it used to be left out silently:
the card shipped without those manuals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.firmware.test_firstboot_names import flash


def test_a_link_to_a_folder_in_manuals_is_refused_and_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "pump.txt").write_text("PUMP\n")
    man = tmp_path / "manuals"
    man.mkdir()
    (man / "own.txt").write_text("OWN\n")
    (man / "vendor").symlink_to(vendor, target_is_directory=True)
    rc, root = flash(tmp_path, man)
    assert rc != 0
    err = capsys.readouterr().err
    assert "'vendor' is a link to a folder" in err and "cp -rL" in err, err
    assert not (root / "boot/firmware/nic-edge").exists()


def test_a_link_to_a_file_is_flashed_as_its_content(tmp_path: Path) -> None:
    (tmp_path / "shared.txt").write_text("SHARED\n")
    man = tmp_path / "manuals"
    man.mkdir()
    (man / "shared.txt").symlink_to(tmp_path / "shared.txt")
    rc, root = flash(tmp_path, man)
    assert rc == 0
    assert (root / "boot/firmware/nic-edge/manuals/shared.txt").read_text() == "SHARED\n"
