"""nic-fleet flash into disk image files: MBR and GPT, hook styles, inventories, bad inputs."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

import pytest

from nic_edge.core.config import load_config
from nic_edge.core.signing import derive_device_key, generate_key, write_key
from nic_edge.fleet.provision.bundle import parse_manifest
from nic_edge.fleet.provision.cli import add_flash_arguments, flash_main
from nic_edge.fleet.provision.partitions import SECTOR
from tests.fleet.provision_support import (
    BOOKWORM_CMDLINE, CONFIG_TXT, FAT_SECTORS, FAT_START, make_image, mdir_tree, mtype,
    require_tools, sha256_file)

HOOK = "systemd.run=/boot/firmware/nic-edge/firstboot.sh"


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tools()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """Fleet key, secrets and a valid device config, as an integrator would have them."""
    write_key(tmp_path / "fleet.key", generate_key())
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "mqtt.pass").write_text("s3cret-pass\n")
    (tmp_path / "secrets" / "token").write_text("admin-token-0123456789\n")
    (tmp_path / "device.toml").write_text(
        '[device]\nid = "truck-07"\ntier = "lite"\n\n'
        '[http]\nbind = "0.0.0.0"\ntoken_file = "secrets/token"\n\n'
        '[mqtt]\nhost = "broker.fleet.lan"\nusername = "truck-07"\npassword_file = "secrets/mqtt.pass"\n')
    return tmp_path


def boot_files(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    files = {"cmdline.txt": BOOKWORM_CMDLINE.encode(), "config.txt": CONFIG_TXT.encode(),
             "start4.elf": os.urandom(5000), "overlays/README": b"overlays\n", "issue.txt": b"bookworm\n"}
    files.update(extra or {})
    return files


def image_with(tmp: Path, files: dict[str, bytes], scheme: str = "mbr", fat_type: int = 0x0C) -> tuple[Path, int]:
    img = tmp / f"base-{scheme}.img"
    return img, make_image(img, files, scheme, fat_type)


def run(argv: list[str], cfg: object = None) -> int:
    parser = argparse.ArgumentParser(prog="nic-fleet flash")
    add_flash_arguments(parser)
    return flash_main(parser.parse_args(argv), cfg)  # type: ignore[arg-type]


def outside_fat_sha(img: Path) -> str:
    """Hash of everything outside the FAT partition: MBR/GPT and the root partition."""
    import hashlib
    h = hashlib.sha256()
    with open(img, "rb") as f:
        h.update(f.read(FAT_START * SECTOR))
        f.seek((FAT_START + FAT_SECTORS) * SECTOR)
        h.update(f.read())
    return h.hexdigest()


def extract_bundle(img: Path, off: int, dest: Path) -> dict[str, int]:
    manifest = mtype(img, off, "nic-edge/MANIFEST")
    assert manifest is not None
    modes = parse_manifest(manifest.decode())
    for name in modes:
        data = mtype(img, off, f"nic-edge/{name}")
        assert data is not None, name
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)
    return modes


@pytest.mark.parametrize("scheme", ["mbr", "gpt"])
def test_flash_image_writes_valid_bundle_and_only_appends_hook(ws: Path, tmp_path: Path, scheme: str) -> None:
    img, off = image_with(tmp_path, boot_files(), scheme)
    before = mdir_tree(img, off)
    outside = outside_fat_sha(img)
    assert run(["--image", str(img), "--device-config", str(ws / "device.toml"),
                "--fleet-key", str(ws / "fleet.key")]) == 0
    after = mdir_tree(img, off)
    # Nothing but cmdline.txt changed among the files that were there; new files only in nic-edge/.
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {"cmdline.txt"}
    assert {k for k in after if k not in before} == {k for k in after if k.startswith("nic-edge/")}
    assert outside_fat_sha(img) == outside
    cmdline = mtype(img, off, "cmdline.txt").decode()  # type: ignore[union-attr]
    assert cmdline.startswith(BOOKWORM_CMDLINE.rstrip("\n") + " ")
    assert cmdline.endswith("systemd.unit=kernel-command-line.target\n") and cmdline.count("\n") == 1
    assert cmdline.count(HOOK) == 1
    # The bundle read back: a config that loads with its files, the derived key, the secrets.
    dest = tmp_path / "readback"
    modes = extract_bundle(img, off, dest)
    cfg = load_config(dest / "device.toml", check_files=True)
    assert (cfg.device.id, cfg.device.tier, cfg.mqtt.host) == ("truck-07", "lite", "broker.fleet.lan")
    assert cfg.fleet.key_file == "device.key" and cfg.mqtt.password_file == "mqtt-password"
    fleet_key = bytes.fromhex((ws / "fleet.key").read_text().strip())
    assert (dest / "device.key").read_text().strip() == derive_device_key(fleet_key, "truck-07").hex()
    assert (dest / "mqtt-password").read_text() == "s3cret-pass\n"
    assert (dest / "http-token").read_text() == "admin-token-0123456789\n"
    assert modes["device.key"] == modes["mqtt-password"] == modes["http-token"] == 0o600
    assert modes["firstboot.sh"] == 0o755 and modes["device.toml"] == 0o644
    assert (dest / "firstboot.sh").read_bytes().startswith(b"#!/bin/sh")
    assert fleet_key.hex().encode() not in b"".join((dest / n).read_bytes() for n in modes)

    # Flashing again replaces the bundle and never appends the hook twice.
    assert run(["--image", str(img), "--device-config", str(ws / "device.toml"),
                "--fleet-key", str(ws / "fleet.key")]) == 0
    assert mtype(img, off, "cmdline.txt").decode() == cmdline  # type: ignore[union-attr]
    assert mdir_tree(img, off) == after


def test_chains_after_imager_firstrun(ws: Path, tmp_path: Path) -> None:
    imager = BOOKWORM_CMDLINE.rstrip("\n") + (" systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot"
                                              " systemd.unit=kernel-command-line.target\n")
    img, off = image_with(tmp_path, boot_files({"cmdline.txt": imager.encode(), "firstrun.sh": b"#!/bin/bash\n"}))
    assert run(["--image", str(img), "--device-config", str(ws / "device.toml"),
                "--fleet-key", str(ws / "fleet.key")]) == 0
    cmdline = mtype(img, off, "cmdline.txt").decode()  # type: ignore[union-attr]
    assert cmdline.startswith(imager.rstrip("\n") + " ")  # Imager's firstrun.sh kept, runs first
    assert cmdline.count(HOOK) == 1 and cmdline.count("systemd.run_success_action") == 1
    assert mtype(img, off, "firstrun.sh") == b"#!/bin/bash\n"


def test_cloud_init_image_gets_runcmd_entry(ws: Path, tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    user_data = ("#cloud-config\nhostname: raspberrypi\nruncmd:\n  - [echo, hello]\n"
                 "users:\n  - name: pi\n")
    img, off = image_with(tmp_path, boot_files({"user-data": user_data.encode(), "meta-data": b"{}\n"}))
    assert run(["--image", str(img), "--device-config", str(ws / "device.toml"),
                "--fleet-key", str(ws / "fleet.key")]) == 0
    new = mtype(img, off, "user-data").decode()  # type: ignore[union-attr]
    added = [ln for ln in new.splitlines() if ln not in user_data.splitlines()]
    assert added == ["  - [sh, /boot/firmware/nic-edge/firstboot.sh, --now]"]
    doc = yaml.safe_load(new)
    assert doc["runcmd"] == [["echo", "hello"], ["sh", "/boot/firmware/nic-edge/firstboot.sh", "--now"]]
    assert doc["users"] == [{"name": "pi"}]
    assert mtype(img, off, "cmdline.txt") == BOOKWORM_CMDLINE.encode()  # untouched
    assert run(["--image", str(img), "--device-config", str(ws / "device.toml"),
                "--fleet-key", str(ws / "fleet.key")]) == 0
    assert mtype(img, off, "user-data").decode() == new  # type: ignore[union-attr]


def test_inventory_csv_one_image_per_device(ws: Path, tmp_path: Path) -> None:
    img, off = image_with(tmp_path, boot_files())
    base_sha = sha256_file(img)
    (ws / "secrets" / "b.pass").write_text("pass-b\n")
    inv = ws / "fleet.csv"
    inv.write_text("id,tier,broker,password_file\ntruck-01,ultra_lite,,\n"
                   "truck-02,,broker2.lan:8883,secrets/b.pass\n")
    out = tmp_path / "out"
    assert run(["--image", str(img), "--inventory", str(inv), "--template", str(ws / "device.toml"),
                "--out", str(out), "--fleet-key", str(ws / "fleet.key")]) == 0
    assert sha256_file(img) == base_sha  # the base image is only copied
    assert sorted(p.name for p in out.iterdir()) == ["truck-01.img", "truck-02.img"]
    fleet_key = bytes.fromhex((ws / "fleet.key").read_text().strip())
    for dev, tier, host, port, pw in (("truck-01", "ultra_lite", "broker.fleet.lan", 1883, "s3cret-pass\n"),
                                      ("truck-02", "lite", "broker2.lan", 8883, "pass-b\n")):
        dest = tmp_path / dev
        extract_bundle(out / f"{dev}.img", off, dest)
        cfg = load_config(dest / "device.toml")
        assert (cfg.device.id, cfg.device.tier, cfg.mqtt.host, cfg.mqtt.port) == (dev, tier, host, port)
        assert (dest / "mqtt-password").read_text() == pw
        assert (dest / "device.key").read_text().strip() == derive_device_key(fleet_key, dev).hex()
        assert oct((out / f"{dev}.img").stat().st_mode & 0o777) == oct(0o600)


def test_fleet_key_from_fleet_config(ws: Path, tmp_path: Path) -> None:
    img, off = image_with(tmp_path, boot_files())
    fleet_cfg = ws / "fleet.toml"
    fleet_cfg.write_text('[fleet]\nkey_file = "fleet.key"\n')
    assert run(["--image", str(img), "--device-config", str(ws / "device.toml")], load_config(fleet_cfg)) == 0
    assert mtype(img, off, "nic-edge/device.key") is not None


# ---- bad inputs: a clear error and not one byte written --------------------------------------

def _assert_refused(argv: list[str], img: Path, capsys: pytest.CaptureFixture[str], rc: int, words: str) -> None:
    before = sha256_file(img)
    assert run(argv) == rc
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert sha256_file(img) == before


def test_image_without_fat_partition(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, _ = image_with(tmp_path, boot_files(), fat_type=0x83)
    _assert_refused(["--image", str(img), "--device-config", str(ws / "device.toml"),
                     "--fleet-key", str(ws / "fleet.key")], img, capsys, 1, "no FAT boot partition")


def test_truncated_image(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, _ = image_with(tmp_path, boot_files())
    with open(img, "r+b") as f:
        f.truncate((FAT_START + FAT_SECTORS // 2) * SECTOR)
    _assert_refused(["--image", str(img), "--device-config", str(ws / "device.toml"),
                     "--fleet-key", str(ws / "fleet.key")], img, capsys, 1, "truncated image")


def test_read_only_image(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, _ = image_with(tmp_path, boot_files())
    img.chmod(0o444)
    _assert_refused(["--image", str(img), "--device-config", str(ws / "device.toml"),
                     "--fleet-key", str(ws / "fleet.key")], img, capsys, 1, "read-only")


def test_invalid_tier(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, _ = image_with(tmp_path, boot_files())
    cfg = ws / "device.toml"
    cfg.write_text(cfg.read_text().replace('tier = "lite"', 'tier = "huge"'))
    _assert_refused(["--image", str(img), "--device-config", str(cfg), "--fleet-key", str(ws / "fleet.key")],
                    img, capsys, 2, "device.tier: must be 'auto' or one of")


def test_missing_secret(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, _ = image_with(tmp_path, boot_files())
    (ws / "secrets" / "mqtt.pass").unlink()
    _assert_refused(["--image", str(img), "--device-config", str(ws / "device.toml"),
                     "--fleet-key", str(ws / "fleet.key")], img, capsys, 2, "mqtt.password_file: secret file")


def test_inventory_duplicate_ids(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, _ = image_with(tmp_path, boot_files())
    inv = ws / "fleet.csv"
    inv.write_text("id,tier\ntruck-01,lite\ntruck-02,lite\ntruck-01,full\n")
    out = tmp_path / "out"
    _assert_refused(["--image", str(img), "--inventory", str(inv), "--template", str(ws / "device.toml"),
                     "--out", str(out), "--fleet-key", str(ws / "fleet.key")], img, capsys, 1,
                    "duplicate device ids in fleet.csv (letter case ignored): truck-01 (fleet.csv row 2, fleet.csv row 4)")
    assert not out.exists()


def test_inventory_one_bad_device_writes_nothing(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, _ = image_with(tmp_path, boot_files())
    inv = ws / "fleet.csv"
    inv.write_text("id,tier\ntruck-01,lite\ntruck-02,gigantic\n")
    out = tmp_path / "out"
    _assert_refused(["--image", str(img), "--inventory", str(inv), "--template", str(ws / "device.toml"),
                     "--out", str(out), "--fleet-key", str(ws / "fleet.key")], img, capsys, 2,
                    "fleet.csv row 3: device.tier")
    assert not out.exists()


def test_dry_run_writes_nothing(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, _ = image_with(tmp_path, boot_files())
    before = sha256_file(img)
    assert run(["--image", str(img), "--device-config", str(ws / "device.toml"),
                "--fleet-key", str(ws / "fleet.key"), "--dry-run"]) == 0
    assert "truck-07" in capsys.readouterr().out
    assert sha256_file(img) == before


def test_generated_config_is_plain_toml(ws: Path, tmp_path: Path) -> None:
    img, off = image_with(tmp_path, boot_files())
    assert run(["--image", str(img), "--device-config", str(ws / "device.toml"),
                "--fleet-key", str(ws / "fleet.key")]) == 0
    doc = tomllib.loads(mtype(img, off, "nic-edge/device.toml").decode())  # type: ignore[union-attr]
    assert doc["http"] == {"bind": "0.0.0.0", "token_file": "http-token"}


def test_nic_fleet_flash_command(ws: Path, tmp_path: Path) -> None:
    """The real `nic-fleet flash` entry point (nic_edge.cli.fleet), run as a subprocess."""
    import subprocess
    import sys
    img, off = image_with(tmp_path, boot_files())
    fleet_cfg = ws / "fleet.toml"
    fleet_cfg.write_text('[fleet]\nkey_file = "fleet.key"\n')
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "nic_edge.cli.fleet", "--config", str(fleet_cfg), "flash",
                           "--image", str(img), "--device-config", str(ws / "device.toml")],
                          capture_output=True, text=True, cwd=repo, timeout=120)
    if proc.returncode == 2 and "invalid choice" in proc.stderr:
        pytest.skip("nic-fleet has no flash subcommand in this build")
    assert proc.returncode == 0, proc.stderr
    assert "truck-07" in proc.stdout
    assert load_config_from_image(img, off, tmp_path).device.id == "truck-07"


def load_config_from_image(img: Path, off: int, tmp: Path):  # type: ignore[no-untyped-def]
    dest = tmp / "cli-readback"
    extract_bundle(img, off, dest)
    return load_config(dest / "device.toml")


def _inventory_refused(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, rc: int,
                       words: str) -> None:
    img, _ = image_with(tmp_path, boot_files())
    inv = ws / "fleet.csv"
    inv.write_text(rows)
    out = tmp_path / "out"
    _assert_refused(["--image", str(img), "--inventory", str(inv), "--template", str(ws / "device.toml"),
                     "--out", str(out), "--fleet-key", str(ws / "fleet.key")], img, capsys, rc, words)
    assert not out.exists()


def test_ids_differing_only_in_case_collide(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _inventory_refused(ws, tmp_path, capsys, "id,tier\nTRUCK-01,lite\ntruck-01,full\n", 1,
                       "(letter case ignored): truck-01 (TRUCK-01: fleet.csv row 2, fleet.csv row 3)")


def test_quoted_id_with_a_line_break_is_refused_not_mangled(ws: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _inventory_refused(ws, tmp_path, capsys, 'id,tier\n"evil\nid",lite\n', 2, "device.id")


def test_image_copies_are_sparse(ws: Path, tmp_path: Path) -> None:
    img, off = image_with(tmp_path, boot_files())
    with open(img, "r+b") as f:  # a base image with a large, empty root filesystem (like Raspberry Pi OS Lite)
        f.truncate(img.stat().st_size + (64 << 20))
    out = tmp_path / "out"
    (ws / "fleet.csv").write_text("id,tier\ntruck-01,lite\n")
    assert run(["--image", str(img), "--inventory", str(ws / "fleet.csv"), "--template", str(ws / "device.toml"),
                "--out", str(out), "--fleet-key", str(ws / "fleet.key")]) == 0
    copy = out / "truck-01.img"
    assert copy.stat().st_size == img.stat().st_size
    assert copy.stat().st_blocks * 512 < (16 << 20), copy.stat().st_blocks * 512  # holes stay holes
    assert outside_fat_sha(copy) == outside_fat_sha(img)


def test_reflash_swaps_the_whole_bundle_and_a_killed_swap_is_put_back(ws: Path, tmp_path: Path) -> None:
    from nic_edge.fleet.provision.flash import _tidy
    from nic_edge.fleet.provision.mtools import FatImage
    img, off = image_with(tmp_path, boot_files())
    for name in ("old", "new"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.txt").write_text(name)
    argv = ["--image", str(img), "--device-config", str(ws / "device.toml"), "--fleet-key", str(ws / "fleet.key")]
    assert run(argv + ["--manuals", str(tmp_path / "old")]) == 0
    first = mdir_tree(img, off)
    # What a run killed between the two moves of the swap leaves: the old bundle parked aside.
    fat = FatImage(img, off)
    fat.mkdir("nic-edge.nic-old")
    fat.move("nic-edge", "nic-edge.nic-old")
    fat.mkdir("nic-edge.nic-tmp")
    _tidy(fat)
    assert mdir_tree(img, off) == first  # back under its own name, letter case included
    assert run(argv + ["--manuals", str(tmp_path / "new")]) == 0
    tree = mdir_tree(img, off)
    assert "nic-edge/manuals/new.txt" in tree and "nic-edge/manuals/old.txt" not in tree
    assert not [k for k in tree if ".nic-" in k]
