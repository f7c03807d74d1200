"""Manual names: what nic-fleet flash accepts, firmware/nic-edge-firstboot.sh installs (run with
/bin/sh against a fake root, NIC_EDGE_ROOT + NIC_EDGE_FIRSTBOOT_FAKE), and what either refuses
the other refuses too, so no card fails its whole bundle at first boot over one file name."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from nic_edge.core.signing import generate_key, write_key
from nic_edge.fleet.provision.cli import add_flash_arguments, flash_main
from tests.fleet.provision_support import BOOKWORM_CMDLINE, CONFIG_TXT
from tests.fleet.test_provision_firstboot import hook


def flash(tmp_path: Path, manuals: Path) -> tuple[int, Path]:
    write_key(tmp_path / "fleet.key", generate_key())
    (tmp_path / "d.toml").write_text('[device]\nid = "pi-1"\n')
    boot = tmp_path / "root" / "boot" / "firmware"
    boot.mkdir(parents=True, exist_ok=True)
    (boot / "cmdline.txt").write_text(BOOKWORM_CMDLINE)
    (boot / "config.txt").write_text(CONFIG_TXT)
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    args = parser.parse_args(["--boot", str(boot), "--device-config", str(tmp_path / "d.toml"),
                              "--fleet-key", str(tmp_path / "fleet.key"), "--manuals", str(manuals)])
    return flash_main(args, None), tmp_path / "root"


def test_a_name_with_two_dots_in_a_row_is_flashed_and_installed(tmp_path: Path) -> None:
    man = tmp_path / "manuals"
    (man / "sub").mkdir(parents=True)
    (man / "pump-manual-rev1..2.txt").write_text("PUMP\n")
    (man / "sub" / "..notes").write_text("hidden: left out by flash\n")
    (man / "sub" / "v2..txt").write_text("V2\n")
    rc, root = flash(tmp_path, man)
    assert rc == 0
    proc = hook(root)
    assert proc.returncode == 0, proc.stderr
    assert (root / "var/lib/nic-edge/manuals/pump-manual-rev1..2.txt").read_text() == "PUMP\n"
    assert (root / "var/lib/nic-edge/manuals/sub/v2..txt").read_text() == "V2\n"


@pytest.mark.parametrize("name", ["manuals/../../etc/evil", "/etc/evil", "..", "manuals/..", "../x"])
def test_first_boot_refuses_a_name_that_climbs_out(tmp_path: Path, name: str) -> None:
    man = tmp_path / "manuals"
    man.mkdir()
    (man / "a.txt").write_text("A\n")
    rc, root = flash(tmp_path, man)
    assert rc == 0
    manifest = root / "boot/firmware/nic-edge/MANIFEST"
    manifest.write_text(manifest.read_text() + f"640 {name}\n")
    proc = hook(root)
    assert proc.returncode == 1 and f"unsafe name in MANIFEST: {name}" in proc.stderr, proc.stderr
    assert not (root / "etc/nic-edge").exists()


@pytest.mark.parametrize("names,words", [
    (["Pump.txt", "pump.txt"], "differ only in letter case"),
    (["Sub/a.txt", "sub/a.txt"], "differ only in letter case"),
    (["a:b.txt"], "FAT cannot hold"),
    (["trail."], "FAT drops"),
    (["a b.txt"], "whitespace"),
])
def test_flash_refuses_names_the_card_or_first_boot_cannot_keep(tmp_path: Path, names: list[str], words: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    man = tmp_path / "manuals"
    for n in names:
        (man / n).parent.mkdir(parents=True, exist_ok=True)
        (man / n).write_text(n)
    rc, root = flash(tmp_path, man)
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and words in err, err
    assert not (root / "boot/firmware/nic-edge").exists()  # nothing written


def test_flash_names_a_file_name_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    man = tmp_path / "manuals"
    man.mkdir()
    try:
        (man / os.fsdecode(b"caf\xe9.txt")).write_text("x")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system does not take non-UTF-8 names")
    rc, _ = flash(tmp_path, man)
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "not valid UTF-8" in err and "caf" in err, err
    assert "internal error" not in err and "Traceback" not in err
