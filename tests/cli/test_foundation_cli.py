"""CLI exit codes and the light-import rule, run as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nic_edge.core.threads import usable_cpus

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "nic_edge", *args], capture_output=True, text=True,
                          env=e, input=stdin, timeout=60)


def test_import_stays_light() -> None:
    code = ("import nic_edge, nic_edge.cli.edge, nic_edge.core.config, nic_edge.core.tiers, sys; "
            "print(sorted(m for m in ('numpy','lmdb','paho','tflite_runtime','ai_edge_litert','psutil','msgpack') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_version_and_help() -> None:
    r = run("--version")
    assert r.returncode == 0 and "nic-edge" in r.stdout
    for cmd in ("serve", "index", "manuals", "ask", "retrieve", "tier", "check-config", "cache"):
        r = run(cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        assert "usage" in r.stdout


def test_check_config_example_ok() -> None:
    r = run("check-config", str(ROOT / "config" / "device.example.toml"))
    assert r.returncode == 0, r.stderr


def test_check_config_bad_names_both_keys(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[mqtt]\nport = 70000\nhostname = 'x'\n")
    r = run("check-config", str(f))
    assert r.returncode == 2
    assert "mqtt.port: must be 1-65535" in r.stderr
    assert "mqtt.hostname: unknown key" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_subcommand_and_flag() -> None:
    for args in (("frobnicate",), ("tier", "--frob"), ()):
        r = run(*args)
        assert r.returncode == 2
        assert "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_tier_json(tmp_path: Path) -> None:
    r = run("tier", "--json", "--data-dir", str(tmp_path), env={"NIC_EDGE_TIER": "lite"})
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["tier"] == "lite" and d["source"] == "env" and d["reasons"]
    # issue 17 item 6; every CPU the process may use (the child inherits this run's affinity)
    assert d["threads"]["question"] == 1 and d["threads"]["index"] == min(d["cpus"], usable_cpus())
    r = run("tier", "--json", "--data-dir", str(tmp_path), env={"NIC_EDGE_TIER": ""})
    d = json.loads(r.stdout)
    assert d["tier"] in ("ultra_lite", "lite", "standard", "full") and d["source"] == "detected"


def test_tier_with_bad_config_is_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[device]\ntier = 'mega'\n")
    r = run("tier", "--config", str(f))
    assert r.returncode == 2 and "device.tier" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("prog", ["nic_edge.cli.fleet", "nic_edge.cli.aggregator"])
def test_other_tools_help(prog: str) -> None:
    r = subprocess.run([sys.executable, "-m", prog, "--help"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert r.returncode == 0 and "usage" in r.stdout


def test_disk_full_mid_command_is_one_line_with_a_hint(capsys) -> None:
    import errno as _errno

    from nic_edge.cli.common import run

    def body() -> int:
        raise OSError(_errno.ENOSPC, "No space left on device", "/data/index/gen-2/data.mdb")

    assert run("nic-edge", body) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no space left on device" in err and "hint" in err
    assert "internal error" not in err
