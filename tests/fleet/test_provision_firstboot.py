"""The first-boot hook (firmware/nic-edge-firstboot.sh) run with /bin/sh against a fake root."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from nic_edge.core.config import load_config
from nic_edge.core.signing import generate_key, write_key
from nic_edge.fleet.provision.cli import add_flash_arguments, flash_main
from tests.fleet.provision_support import BOOKWORM_CMDLINE, CONFIG_TXT

SCRIPT = Path(__file__).resolve().parents[2] / "firmware" / "nic-edge-firstboot.sh"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fake root whose /boot/firmware was flashed with ``nic-fleet flash --boot``."""
    ws = tmp_path / "ws"
    ws.mkdir()
    write_key(ws / "fleet.key", generate_key())
    (ws / "pass").write_text("mqtt-secret\n")
    (ws / "manuals").mkdir()
    (ws / "manuals" / "pump.txt").write_text("PUMP MANUAL\n")
    (ws / "device.toml").write_text('[device]\nid = "hvac-3"\n[mqtt]\nhost = "b"\nusername = "u"\n'
                                    'password_file = "pass"\n')
    r = tmp_path / "root"
    boot = r / "boot" / "firmware"
    boot.mkdir(parents=True)
    (boot / "cmdline.txt").write_text(BOOKWORM_CMDLINE)
    (boot / "config.txt").write_text(CONFIG_TXT)
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    args = parser.parse_args(["--boot", str(boot), "--device-config", str(ws / "device.toml"),
                              "--fleet-key", str(ws / "fleet.key"), "--manuals", str(ws / "manuals")])
    assert flash_main(args, None) == 0
    return r


def hook(root: Path, *args: str, fake: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    e = {"PATH": os.environ["PATH"], "NIC_EDGE_ROOT": str(root), **env}
    if fake:
        e["NIC_EDGE_FIRSTBOOT_FAKE"] = "1"
    return subprocess.run(["sh", str(SCRIPT), *args], env=e, capture_output=True, text=True, timeout=60)


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """path -> (mode, uid, sha256 or link target) for everything under root."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            digest = "-> " + os.readlink(p)
        elif p.is_file():
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            digest = "dir"
        out[str(p.relative_to(root))] = (stat.S_IMODE(st.st_mode), st.st_uid, digest)
    return out


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_flash_to_boot_dir_creates_secrets_0600(root: Path) -> None:
    bundle = root / "boot" / "firmware" / "nic-edge"
    assert mode(bundle / "device.key") == 0o600 and mode(bundle / "mqtt-password") == 0o600
    assert mode(bundle / "firstboot.sh") == 0o755
    assert "systemd.run=/boot/firmware/nic-edge/firstboot.sh" in (root / "boot/firmware/cmdline.txt").read_text()


def test_first_boot_moves_bundle_wipes_secrets_and_is_idempotent(root: Path) -> None:
    proc = hook(root)
    assert proc.returncode == 0, proc.stderr
    etc = root / "etc" / "nic-edge"
    cfg = load_config(etc / "device.toml")  # files it names resolve inside /etc/nic-edge
    assert cfg.device.id == "hvac-3"
    assert mode(etc) == 0o750
    assert mode(etc / "device.key") == mode(etc / "mqtt-password") == 0o600
    assert mode(etc / "device.toml") == 0o644
    assert (etc / "mqtt-password").read_text() == "mqtt-secret\n"
    assert (root / "var/lib/nic-edge/manuals/pump.txt").read_text() == "PUMP MANUAL\n"
    # Secrets and the rest of the bundle are gone from the FAT partition; only the script stays.
    assert sorted(p.name for p in (root / "boot/firmware/nic-edge").iterdir()) == ["firstboot.sh"]
    assert (root / "boot/firmware/cmdline.txt").read_text() == BOOKWORM_CMDLINE
    assert (root / "boot/firmware/config.txt").read_text() == CONFIG_TXT
    # No venv yet: a marker says what to do, the service is not enabled.
    assert "install.sh" in (etc / "NEEDS-INSTALL").read_text()
    assert not (root / "etc/systemd/system/multi-user.target.wants").exists()
    before = snapshot(root)
    again = hook(root)
    assert again.returncode == 0, again.stderr
    assert snapshot(root) == before


def test_first_boot_enables_service_when_venv_present(root: Path) -> None:
    venv = root / "opt/nic-edge/venv/bin"
    venv.mkdir(parents=True)
    (venv / "nic-edge").write_text("#!/bin/sh\n")
    (venv / "nic-edge").chmod(0o755)
    assert hook(root).returncode == 0
    unit = root / "etc/systemd/system/nic-edge.service"
    assert "ExecStart=/opt/nic-edge/venv/bin/nic-edge serve --config /etc/nic-edge/device.toml" in unit.read_text()
    link = root / "etc/systemd/system/multi-user.target.wants/nic-edge.service"
    assert os.readlink(link) == "/etc/systemd/system/nic-edge.service"
    assert not (root / "etc/nic-edge/NEEDS-INSTALL").exists()
    before = snapshot(root)
    assert hook(root).returncode == 0
    assert snapshot(root) == before


def test_first_boot_says_the_service_is_enabled_when_install_sh_came_first(root: Path) -> None:
    """An image built with install.sh has the unit installed and enabled before first boot: the
    journal must still say the service is enabled (it used to say nothing)."""
    venv = root / "opt/nic-edge/venv/bin"
    venv.mkdir(parents=True)
    (venv / "nic-edge").write_text("#!/bin/sh\n")
    (venv / "nic-edge").chmod(0o755)
    units = root / "etc/systemd/system"
    (units / "multi-user.target.wants").mkdir(parents=True)
    shutil.copy(SCRIPT.parent / "nic-edge.service", units / "nic-edge.service")
    (units / "multi-user.target.wants/nic-edge.service").symlink_to("/etc/systemd/system/nic-edge.service")
    proc = hook(root)
    assert proc.returncode == 0, proc.stderr
    assert "nic-edge.service was already enabled" in proc.stderr
    fresh = hook(root)  # nothing new: still says where the service stands
    assert "already enabled" in fresh.stderr


def test_first_boot_says_it_enabled_the_service(root: Path) -> None:
    venv = root / "opt/nic-edge/venv/bin"
    venv.mkdir(parents=True)
    (venv / "nic-edge").write_text("#!/bin/sh\n")
    (venv / "nic-edge").chmod(0o755)
    proc = hook(root)
    assert proc.returncode == 0 and "enabled nic-edge.service" in proc.stderr, proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown to another user")
def test_first_boot_real_mode_chowns_to_service_user(root: Path) -> None:
    """Not FAKE: chown to the service user (here 'nobody', which exists everywhere)."""
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl not installed")
    venv = root / "opt/nic-edge/venv/bin"
    venv.mkdir(parents=True)
    (venv / "nic-edge").write_text("#!/bin/sh\n")
    (venv / "nic-edge").chmod(0o755)
    proc = hook(root, fake=False, NIC_EDGE_USER="nobody")
    assert proc.returncode == 0, proc.stderr
    etc = root / "etc/nic-edge"
    nobody = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout)
    assert (etc / "device.key").stat().st_uid == nobody and mode(etc / "device.key") == 0o600
    assert (etc / "device.toml").stat().st_uid == 0
    assert (root / "etc/systemd/system/multi-user.target.wants/nic-edge.service").is_symlink()
    before = snapshot(root)
    assert hook(root, fake=False, NIC_EDGE_USER="nobody").returncode == 0
    assert snapshot(root) == before


def test_broken_bundle_fails_cleanly_without_boot_loop(root: Path) -> None:
    bundle = root / "boot/firmware/nic-edge"
    (bundle / "mqtt-password").unlink()  # a half-copied card
    proc = hook(root)
    assert proc.returncode == 1
    assert "bundle file missing: mqtt-password" in proc.stderr
    assert not (root / "etc/nic-edge").exists()  # nothing half-installed
    assert (bundle / "device.key").exists() and "missing" in (bundle / "FAILED").read_text()
    assert (root / "boot/firmware/cmdline.txt").read_text() == BOOKWORM_CMDLINE  # no reboot loop


def test_unhook_keeps_other_systemd_run(root: Path) -> None:
    cmd = root / "boot/firmware/cmdline.txt"
    other = BOOKWORM_CMDLINE.rstrip("\n") + (" systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot"
                                             " systemd.unit=kernel-command-line.target")
    cmd.write_text(other + " systemd.run=/boot/firmware/nic-edge/firstboot.sh systemd.run_failure_action=reboot\n")
    assert hook(root).returncode == 0
    assert cmd.read_text() == other + " systemd.run_failure_action=reboot\n"


def test_legacy_boot_location_and_nothing_to_do(tmp_path: Path, root: Path) -> None:
    (root / "boot/firmware").rename(root / "boot-old")
    shutil.rmtree(root / "boot")
    (root / "boot-old").rename(root / "boot")
    assert hook(root).returncode == 0
    assert (root / "etc/nic-edge/device.key").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = hook(empty)
    assert proc.returncode == 0 and "nothing to do" in proc.stderr
    assert list(empty.iterdir()) == []


def test_image_flash_then_first_boot_round_trip(tmp_path: Path) -> None:
    """flash --image, copy the boot partition out with mtools, boot the fake root: card is clean."""
    from tests.fleet.provision_support import MTOOLS_ENV, make_image, require_tools
    require_tools()
    write_key(tmp_path / "fleet.key", generate_key())
    (tmp_path / "d.toml").write_text('[device]\nid = "pi-1"\n')
    img = tmp_path / "pi.img"
    off = make_image(img, {"cmdline.txt": BOOKWORM_CMDLINE.encode(), "config.txt": CONFIG_TXT.encode()})
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    assert flash_main(parser.parse_args(["--image", str(img), "--device-config", str(tmp_path / "d.toml"),
                                         "--fleet-key", str(tmp_path / "fleet.key")]), None) == 0
    boot = tmp_path / "root" / "boot" / "firmware"
    boot.mkdir(parents=True)
    subprocess.run(["mcopy", "-s", "-n", "-i", f"{img}@@{off}", "::/*", str(boot)], check=True, env=MTOOLS_ENV)
    assert "nic-edge/firstboot.sh" in (boot / "cmdline.txt").read_text()
    proc = hook(tmp_path / "root")
    assert proc.returncode == 0, proc.stderr
    assert (boot / "cmdline.txt").read_text() == BOOKWORM_CMDLINE
    assert mode(tmp_path / "root/etc/nic-edge/device.key") == 0o600
    assert load_config(tmp_path / "root/etc/nic-edge/device.toml").device.id == "pi-1"
