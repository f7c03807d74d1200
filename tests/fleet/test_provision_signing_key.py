"""Issue 19: ``nic-fleet flash`` puts the content signing public key on the box, never the private key."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from nic_edge.core import ed25519  # noqa: E402
from nic_edge.core.config import parse_config  # noqa: E402
from nic_edge.core.signing import generate_key, write_key  # noqa: E402
from nic_edge.errors import ConfigError  # noqa: E402
from nic_edge.fleet.provision.bundle import SIGNING_PUB_NAME, build_bundle, parse_manifest  # noqa: E402
from nic_edge.fleet.provision.cli import add_flash_arguments, flash_main  # noqa: E402


def test_flash_writes_the_public_key_from_the_fleet_config(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    write_key(ws / "fleet.key", generate_key())
    ed25519.generate(ws / "signing.key")
    (ws / "device.toml").write_text('[device]\nid = "box-1"\n[mqtt]\nhost = "b"\n')
    fleet_cfg = parse_config({"fleet": {"key_file": str(ws / "fleet.key"),
                                        "signing_key_file": str(ws / "signing.key")}})
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "cmdline.txt").write_text("console=tty1 root=PARTUUID=1 rootwait\n")
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    args = parser.parse_args(["--boot", str(boot), "--device-config", str(ws / "device.toml")])
    assert flash_main(args, fleet_cfg) == 0
    folder = boot / "nic-edge"
    assert (folder / SIGNING_PUB_NAME).read_bytes() == (ws / "signing.key.pub").read_bytes()
    cfg = tomllib.loads((folder / "device.toml").read_text())
    assert cfg["fleet"]["signing_pub_file"] == SIGNING_PUB_NAME
    assert parse_manifest((folder / "MANIFEST").read_text())[SIGNING_PUB_NAME] == 0o644
    assert all(b"PRIVATE KEY" not in p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_device_config_pub_is_copied_and_private_key_refused(tmp_path: Path) -> None:
    ed25519.generate(tmp_path / "signing.key")
    b = build_bundle({"device": {"id": "a"}, "fleet": {"signing_pub_file": "signing.key.pub"}}, tmp_path,
                     generate_key(), signing_pub=b"other")
    assert b.files[SIGNING_PUB_NAME] == (tmp_path / "signing.key.pub").read_bytes()  # the config's own wins
    with pytest.raises(ConfigError, match="private signing key never goes on a device"):
        build_bundle({"device": {"id": "a"}, "fleet": {"signing_key_file": "signing.key"}}, tmp_path, generate_key())
