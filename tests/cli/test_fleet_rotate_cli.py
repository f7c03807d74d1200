"""``nic-fleet rotate-key`` on the command line (no broker needed for start / refusals)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.device import run_cli, write_toml

pytest.importorskip("cryptography")


def fleet(cfg: Path, *args: str):
    return run_cli("--config", str(cfg), *args, module="nic_edge.cli.fleet", timeout=60)


def test_rotate_key_start_and_refusals(tmp_path: Path) -> None:
    assert run_cli("keygen", "--out", str(tmp_path / "fleet.key"), module="nic_edge.cli.fleet").returncode == 0
    assert run_cli("keygen", "--signing", "--out", str(tmp_path / "sig.key"), module="nic_edge.cli.fleet").returncode == 0
    cfg = write_toml(tmp_path / "fleet.toml", {"fleet": {"key_file": str(tmp_path / "fleet.key"),
                                                         "signing_key_file": str(tmp_path / "sig.key")}})
    r = fleet(cfg, "rotate-key")
    assert r.returncode == 0 and "rotation started" in r.stdout, r.stderr
    assert (tmp_path / "sig.key.next").exists() and (tmp_path / "sig.key.next.pub").exists()
    assert json.loads((tmp_path / "sig.key.rotation.json").read_text())["state"] == "overlap"
    r = fleet(cfg, "rotate-key")
    assert r.returncode == 1 and "already in progress" in r.stderr and r.stderr.count("\n") == 1
    r = fleet(cfg, "rotate-key", "--finish")
    assert r.returncode == 1 and "no bundle carrying the new key" in r.stderr
    r = fleet(cfg, "rotate-key", "--hmac")
    assert r.returncode == 1 and "no devices" in r.stderr
    r = fleet(cfg, "rotate-key", "--hmac", "box-1", "box-2")
    assert r.returncode == 0, r.stderr
    rec = json.loads((tmp_path / "fleet.key.rotation.json").read_text())
    assert rec["kind"] == "hmac" and rec["devices"] == ["box-1", "box-2"]
    assert (tmp_path / "fleet.key.next").stat().st_mode & 0o777 == 0o600
    r = fleet(cfg, "rotate-key", "--hmac", "--status")
    assert r.returncode == 0 and "rotation overlap" in r.stdout
    assert "box-1" in r.stdout and "new key: NO" in r.stdout
