"""Pure parts of provisioning: partition tables, hook text edits, inventories, bundle dirs."""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import pytest

from nic_edge.core.config import load_config
from nic_edge.core.signing import generate_key, write_key
from nic_edge.errors import ConfigError, MissingDependencyError, ProvisioningError
from nic_edge.fleet.provision.bundle import build_bundle, dump_config
from nic_edge.fleet.provision.cli import add_flash_arguments, flash_main
from nic_edge.fleet.provision.flash import cmdline_with_hook, user_data_with_hook
from nic_edge.fleet.provision.inventory import load_inventory
from nic_edge.fleet.provision.mtools import FatImage
from nic_edge.fleet.provision.partitions import find_boot_partition, read_partitions

HOOK = "/boot/firmware/nic-edge/firstboot.sh"


def mbr_image(path: Path, entries: list[tuple[int, int, int]], size: int) -> Path:
    mbr = bytearray(512)
    for i, (ptype, start, count) in enumerate(entries):
        mbr[446 + 16 * i + 4] = ptype
        struct.pack_into("<II", mbr, 446 + 16 * i + 8, start, count)
    mbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.write(mbr)
        f.truncate(size)
    return path


def test_no_partition_table(tmp_path: Path) -> None:
    img = tmp_path / "x.img"
    img.write_bytes(b"\0" * 4096)
    with pytest.raises(ProvisioningError, match="no partition table"):
        read_partitions(img)


def test_partition_past_end_is_truncated(tmp_path: Path) -> None:
    img = mbr_image(tmp_path / "t.img", [(0x0C, 2048, 100000)], 2048 * 512 + 1000)
    with pytest.raises(ProvisioningError, match="truncated"):
        find_boot_partition(img)


def test_fat_typed_partition_without_fat_filesystem(tmp_path: Path) -> None:
    img = mbr_image(tmp_path / "e.img", [(0x0B, 1, 100)], 101 * 512)
    with pytest.raises(ProvisioningError, match="holds no FAT file system"):
        find_boot_partition(img)


def test_missing_image(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError, match="cannot read image"):
        read_partitions(tmp_path / "nope.img")


def test_mtools_missing_names_apt_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependencyError) as exc:
        FatImage(tmp_path / "x.img", 0)
    assert "mtools" in str(exc.value) and "apt-get install mtools" in str(exc.value)


@pytest.mark.parametrize("tail", ["\n", "", "\r\n"])
def test_cmdline_append_only_once(tail: str) -> None:
    old = "console=tty1 root=PARTUUID=x rootwait" + tail
    new, how = cmdline_with_hook(old, HOOK)
    assert how == "cmdline.txt"
    assert new.startswith(old.rstrip("\r\n") + f" systemd.run={HOOK} ")
    assert new.endswith("systemd.unit=kernel-command-line.target" + (tail or "\n"))
    assert cmdline_with_hook(new, HOOK) == (new, "already present")


def test_cmdline_multi_line_refused() -> None:
    with pytest.raises(ProvisioningError, match="more than one line"):
        cmdline_with_hook("a\nb\n", HOOK)


@pytest.mark.parametrize("text,expect_tail", [
    ("#cloud-config\nhostname: pi\n", "runcmd:\n  - [sh, %s, --now]\n" % HOOK),
    ("#cloud-config\nruncmd:\n- [a]\n", "- [a]\n- [sh, %s, --now]\n" % HOOK),
    ("#cloud-config\nruncmd:\n    - [a]\n\nusers: []", None),
])
def test_user_data_lines_only_added(text: str, expect_tail: str | None) -> None:
    yaml = pytest.importorskip("yaml")
    new, _ = user_data_with_hook(text, HOOK)
    old_lines = text.splitlines()
    new_lines = new.splitlines()
    # Old lines all kept in order; only our entry (and a new "runcmd:" key) added.
    kept = [ln for ln in new_lines if ln in old_lines]
    assert kept == old_lines
    added = [ln for ln in new_lines if ln not in old_lines]
    assert added[-1].endswith(f"- [sh, {HOOK}, --now]") and set(added[:-1]) <= {"runcmd:"}
    assert len(new_lines) - len(old_lines) == (2 if "runcmd" not in text else 1)
    if expect_tail:
        assert new.endswith(expect_tail)
    assert ["sh", HOOK, "--now"] in yaml.safe_load(new)["runcmd"]
    assert user_data_with_hook(new, HOOK) == (new, "already present")


def test_user_data_inline_runcmd_refused() -> None:
    with pytest.raises(ProvisioningError, match="inline runcmd"):
        user_data_with_hook("#cloud-config\nruncmd: [[a]]\n", HOOK)


@pytest.mark.parametrize("text,words", [
    ("#!/bin/sh\necho hello\n", "shell script"),
    ("#include\nhttp://example.com/cfg\n", "does not start with #cloud-config"),
    ("hostname: pi\n", "does not start with #cloud-config"),  # YAML without the header: not read
])
def test_user_data_that_is_not_cloud_config_is_refused(text: str, words: str) -> None:
    with pytest.raises(ProvisioningError, match=words):
        user_data_with_hook(text, HOOK)
    assert user_data_with_hook(text + f"sh {HOOK} --now\n", HOOK)[1] == "already present"  # added by hand


@pytest.mark.parametrize("text", ["", "\n", "## template: jinja\n#cloud-config\nhostname: pi\n"])
def test_empty_or_templated_user_data_gets_a_runcmd_cloud_init_reads(text: str) -> None:
    yaml = pytest.importorskip("yaml")
    new, how = user_data_with_hook(text, HOOK)
    assert how == "user-data" and ["sh", HOOK, "--now"] in yaml.safe_load(new)["runcmd"]
    assert new.lstrip("\n").startswith(("#cloud-config", "## template: jinja\n#cloud-config"))


def test_flash_refuses_a_shell_script_user_data_before_writing(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    write_key(tmp_path / "fleet.key", generate_key())
    (tmp_path / "d.toml").write_text('[device]\nid = "pi-1"\n')
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "user-data").write_text("#!/bin/sh\necho hello\n")
    (boot / "cmdline.txt").write_text("console=tty1\n")
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    args = parser.parse_args(["--boot", str(boot), "--device-config", str(tmp_path / "d.toml"),
                              "--fleet-key", str(tmp_path / "fleet.key")])
    assert flash_main(args, None) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "shell script" in err and "/boot/firmware/nic-edge/firstboot.sh" in err
    assert sorted(p.name for p in boot.iterdir()) == ["cmdline.txt", "user-data"]
    assert (boot / "user-data").read_text() == "#!/bin/sh\necho hello\n"


def test_bundle_requires_device_id_and_rewrites_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="device.id"):
        build_bundle({"mqtt": {"host": "b"}}, tmp_path, generate_key())
    (tmp_path / "ca.pem").write_text("CA")
    (tmp_path / "empty").write_text("\n")
    b = build_bundle({"device": {"id": "a"}, "mqtt": {"tls": True, "ca_file": "ca.pem"}}, tmp_path, generate_key())
    assert b.files["mqtt-ca.crt"] == b"CA" and b.mode("mqtt-ca.crt") == 0o644
    assert 'ca_file = "mqtt-ca.crt"' in b.files["device.toml"].decode()
    with pytest.raises(ConfigError, match="secret file is empty"):
        build_bundle({"device": {"id": "a"}, "http": {"token_file": "empty"}}, tmp_path, generate_key())


def test_bundle_carries_the_word_list_and_refuses_a_bad_one(tmp_path: Path) -> None:
    (tmp_path / "ours.txt").write_text("carafe jug\n")
    b = build_bundle({"device": {"id": "a"}, "engine": {"words_file": "ours.txt"}}, tmp_path, generate_key())
    assert b.files["words.txt"] == b"carafe jug\n" and b.mode("words.txt") == 0o644
    assert 'words_file = "words.txt"' in b.files["device.toml"].decode()
    (tmp_path / "ours.txt").write_text("carafe\n")
    with pytest.raises(ConfigError, match="line 1"):
        build_bundle({"device": {"id": "a"}, "engine": {"words_file": "ours.txt"}}, tmp_path, generate_key())


def test_dump_config_escapes_strings() -> None:
    import tomllib
    data = {"device": {"id": 'we"ird\\id\tx', "tier": "auto"}, "http": {"port": 8081, "request_timeout_s": 2.5},
            "cache": {"enabled": False}}
    assert tomllib.loads(dump_config(data, "header")) == data


def test_toml_inventory_to_bundle_dirs(tmp_path: Path) -> None:
    write_key(tmp_path / "fleet.key", generate_key())
    (tmp_path / "base.toml").write_text('[mqtt]\nhost = "broker"\nusername = "fleet"\npassword_file = "pw"\n')
    (tmp_path / "pw").write_text("pw\n")
    inv = tmp_path / "fleet.toml"
    inv.write_text('template = "base.toml"\n[defaults]\ntier = "standard"\n'
                   '[[device]]\nid = "a"\n[[device]]\nid = "b"\ntier = "full"\n"mqtt.port" = 8883\n')
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    out = tmp_path / "bundles"
    args = parser.parse_args(["--inventory", str(inv), "--out", str(out), "--fleet-key", str(tmp_path / "fleet.key")])
    assert flash_main(args, None) == 0
    a = load_config(out / "a" / "nic-edge" / "device.toml")
    b = load_config(out / "b" / "nic-edge" / "device.toml")
    assert (a.device.tier, a.mqtt.port, b.device.tier, b.mqtt.port) == ("standard", 1883, "full", 8883)
    assert (out / "a" / "nic-edge" / "mqtt-password").stat().st_mode & 0o777 == 0o600
    assert not (out / "a" / "cmdline.txt").exists()
    # Existing output is not overwritten without --force.
    assert flash_main(args, None) == 1
    args.force = True
    assert flash_main(args, None) == 0


def test_inventory_errors(tmp_path: Path) -> None:
    inv = tmp_path / "i.csv"
    inv.write_text("name,tier\nx,lite\n")
    with pytest.raises(ConfigError, match="needs an 'id' column"):
        load_inventory(inv)
    inv.write_text("id,colour\nx,red\n")
    with pytest.raises(ConfigError, match="colour: unknown key"):
        load_inventory(inv)
    inv.write_text("id,port\nx,eighty\n")
    with pytest.raises(ConfigError, match="not a valid int"):
        load_inventory(inv)
    inv.write_text("id\n")
    with pytest.raises(ProvisioningError, match="lists no devices"):
        load_inventory(inv)


def test_boot_with_inventory_of_many_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_key(tmp_path / "fleet.key", generate_key())
    inv = tmp_path / "i.csv"
    inv.write_text("id\na\nb\n")
    boot = tmp_path / "boot"
    boot.mkdir()
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    args = parser.parse_args(["--boot", str(boot), "--inventory", str(inv), "--fleet-key", str(tmp_path / "fleet.key")])
    assert flash_main(args, None) == 1
    assert "--boot holds one device" in capsys.readouterr().err
    assert list(boot.iterdir()) == []


def test_no_fleet_key_is_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.toml").write_text('[device]\nid = "a"\n')
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    args = parser.parse_args(["--boot", str(tmp_path), "--device-config", str(tmp_path / "d.toml")])
    assert flash_main(args, None) == 1
    assert "no fleet key" in capsys.readouterr().err
