"""nic-fleet flash onto a boot partition that is (nearly) full: a real tmpfs of a few hundred
KiB stands in for the card, so ENOSPC and short writes come from the kernel. Refusals happen
before anything is written; a write that fails anyway leaves the previous bundle as it was, or
(when only one bundle fits) one that first boot detects as incomplete; never a *.nic-tmp."""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import pytest

from nic_edge.core.signing import generate_key, write_key
from nic_edge.fleet.provision.cli import add_flash_arguments, flash_main
from nic_edge.fleet.provision.flash import DirFS
from tests.fleet.provision_support import BOOKWORM_CMDLINE, CONFIG_TXT
from tests.fleet.test_provision_firstboot import hook, snapshot
from tests.support.tmpfs import tmpfs


def manuals(ws: Path, name: str, size: int, seed: int) -> Path:
    d = ws / name
    d.mkdir()
    (d / f"{name}.txt").write_bytes(random.Random(seed).randbytes(size))
    return d


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    write_key(ws / "fleet.key", generate_key())
    (ws / "pass").write_text("mqtt-secret\n")
    (ws / "device.toml").write_text('[device]\nid = "truck-07"\n[mqtt]\nhost = "b"\nusername = "u"\n'
                                    'password_file = "pass"\n')
    return ws


def flash(ws: Path, boot: Path, man: Path, fs_class: type | None = None) -> int:
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    args = parser.parse_args(["--boot", str(boot), "--device-config", str(ws / "device.toml"),
                              "--fleet-key", str(ws / "fleet.key"), "--manuals", str(man)])
    if fs_class is None:
        return flash_main(args, None)
    import nic_edge.fleet.provision.cli as cli
    real, cli.DirFS = cli.DirFS, fs_class  # type: ignore[attr-defined]
    try:
        return flash_main(args, None)
    finally:
        cli.DirFS = real  # type: ignore[attr-defined]


class OptimisticCard(DirFS):
    """A card whose free-space figure is wrong (FAT's FSInfo free count is only a hint and is
    often stale): it claims 1 MiB more than it has, so the write runs out of space for real."""

    def free_bytes(self) -> int | None:
        return (super().free_bytes() or 0) + (1 << 20)


def leftovers(boot: Path) -> list[str]:
    return sorted(str(p.relative_to(boot)) for p in boot.rglob("*") if ".nic-" in p.name)


def refused(ws: Path, boot: Path, manuals_dir: Path, capsys: pytest.CaptureFixture[str],
            fs_class: type | None = None) -> str:
    """Flash ``manuals_dir`` expecting a refusal: exit 1, one line on stderr (returned), and the
    card as it was (old bundle complete, hook in place, nothing staged left behind)."""
    before = snapshot(boot)
    capsys.readouterr()
    assert flash(ws, boot, manuals_dir, fs_class) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert snapshot(boot) == before and not leftovers(boot)
    return err


def boot_dir(boot: Path) -> Path:
    (boot / "cmdline.txt").write_text(BOOKWORM_CMDLINE)
    (boot / "config.txt").write_text(CONFIG_TXT)
    return boot


def test_reflash_with_a_bundle_too_big_is_refused_before_writing(ws: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    small, big = manuals(ws, "small", 13, 1), manuals(ws, "big", 400 << 10, 2)
    with tmpfs(tmp_path / "boot", "200k") as boot:
        boot_dir(boot)
        assert flash(ws, boot, big) == 1
        assert flash(ws, boot, small) == 0
        err = refused(ws, boot, big, capsys)  # the old bundle's space counted, and still not enough
        assert "bytes free" in err and "nothing was written" in err, err


def test_reflash_that_fits_only_once_the_old_bundle_is_gone(ws: Path, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    one, two = manuals(ws, "one", 100 << 10, 3), manuals(ws, "two", 110 << 10, 4)
    with tmpfs(tmp_path / "boot", "300k") as boot:
        boot_dir(boot)
        assert flash(ws, boot, one) == 0
        assert flash(ws, boot, two) == 0  # 100 + 110 KiB do not fit in 300 KiB at once
        assert "no room for two bundles" in caplog.text
        assert (boot / "nic-edge/manuals/two.txt").read_bytes() == (two / "two.txt").read_bytes()
        assert not (boot / "nic-edge/manuals/one.txt").exists() and not leftovers(boot)
        proc = hook(_fake_root(tmp_path, boot))
        assert proc.returncode == 0, proc.stderr


def _fake_root(tmp_path: Path, boot: Path) -> Path:
    """A fake root whose boot/firmware is the tmpfs (a symlink: the hook follows it)."""
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True, exist_ok=True)
    link = root / "boot" / "firmware"
    if not link.exists():
        link.symlink_to(boot)
    return root


def test_a_write_that_runs_out_of_space_keeps_the_previous_bundle(ws: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    small, big = manuals(ws, "small", 13, 5), manuals(ws, "big", 400 << 10, 6)
    with tmpfs(tmp_path / "boot", "200k") as boot:
        boot_dir(boot)
        assert flash(ws, boot, small) == 0
        err = refused(ws, boot, big, capsys, OptimisticCard)
        assert "No space left" in err and "previous bundle is unchanged" in err, err


def test_a_write_that_fails_after_the_old_bundle_went_is_caught_at_first_boot(
        ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, big = manuals(ws, "one", 100 << 10, 7), manuals(ws, "big", 400 << 10, 8)

    class RoomForOne(DirFS):
        """Claims 200 KiB more than it has: room for the new bundle only once the old one is
        removed (so it goes first), and not really even then."""

        def free_bytes(self) -> int | None:
            return (super().free_bytes() or 0) + (200 << 10)

    with tmpfs(tmp_path / "boot", "300k") as boot:
        boot_dir(boot)
        assert flash(ws, boot, one) == 0
        capsys.readouterr()
        assert flash(ws, boot, big, RoomForOne) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "flash this card again" in err, err
        assert not leftovers(boot)
        assert sorted(os.listdir(boot / "nic-edge")) == ["firstboot.sh"]
        proc = hook(_fake_root(tmp_path, boot))
        assert proc.returncode == 1  # detected: FAILED written, hook removed (no reboot loop)
        assert (boot / "nic-edge/FAILED").exists()
        assert (boot / "cmdline.txt").read_text() == BOOKWORM_CMDLINE


def test_a_short_write_is_never_renamed_into_place(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "boot", "64k") as boot:
        fs = DirFS(boot)
        with pytest.raises(OSError, match="No space left"):
            fs.write("nic-edge/big.txt", b"x" * (200 << 10))
        assert sorted(os.listdir(boot / "nic-edge")) == []


def test_a_dry_run_makes_the_checks_a_real_run_makes(ws: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    big = manuals(ws, "big", 400 << 10, 7)
    (tmp_path / "boot").mkdir()
    boot = boot_dir(tmp_path / "boot")
    (boot / "user-data").write_text("#!/bin/sh\necho hello\n")  # cloud-init would not run a hook from it
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    args = parser.parse_args(["--boot", str(boot), "--device-config", str(ws / "device.toml"),
                              "--fleet-key", str(ws / "fleet.key"), "--dry-run"])
    before = snapshot(boot)
    assert flash_main(args, None) == 1
    assert "user-data" in capsys.readouterr().err
    with tmpfs(tmp_path / "small", "200k") as small:
        boot_dir(small)
        args = parser.parse_args(["--boot", str(small), "--device-config", str(ws / "device.toml"),
                                  "--fleet-key", str(ws / "fleet.key"), "--manuals", str(big), "--dry-run"])
        assert flash_main(args, None) == 1
        assert "bytes free" in capsys.readouterr().err
        assert not (small / "nic-edge").exists()
    assert snapshot(boot) == before
