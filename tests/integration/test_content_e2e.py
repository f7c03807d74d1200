"""Issue 19 end to end with the real commands: keygen --signing, content build (real model),
content serve, content push, a real ``nic-edge serve`` applying it, /api/status, content status."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.device import ROOT, DeviceServer, prepare_data_dir, run_cli, write_toml

pytest.importorskip("cryptography")

PUSHED = """SECTION 4: COOLING

Para 4-1: Radiator Cap
Never open the radiator cap while the engine is hot. Replace the cap gasket every two years.
"""


def fleet(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("--config", str(cfg), *args, module="nic_edge.cli.fleet", timeout=180, env=env)


def test_build_push_apply_with_the_real_commands(tmp_path: Path, mosquitto: Broker) -> None:
    r = run_cli("keygen", "--signing", "--out", str(tmp_path / "signing.key"), module="nic_edge.cli.fleet")
    assert r.returncode == 0, r.stderr
    served = tmp_path / "served"
    served.mkdir()
    port_proc = subprocess.Popen([sys.executable, "-m", "nic_edge.cli.fleet", "content", "serve", str(served),
                                  "--port", "0"], stdout=subprocess.PIPE, text=True,
                                 env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        line = port_proc.stdout.readline()  # type: ignore[union-attr]
        base = re.search(r"on (http://\S+)", line).group(1)  # type: ignore[union-attr]
        fleet_cfg = write_toml(tmp_path / "fleet.toml", {
            "mqtt": mosquitto.client_settings(),
            "fleet": {"signing_key_file": str(tmp_path / "signing.key"), "content_url": base,
                      "report_timeout_s": 60.0}})
        (tmp_path / "cooling.txt").write_text(PUSHED)
        bundle = served / "cooling-v1.nicb"
        env = {"SOURCE_DATE_EPOCH": "1767225600"}
        r = fleet(fleet_cfg, "content", "build", str(tmp_path / "cooling.txt"), "--out", str(bundle), env=env)
        assert r.returncode == 0, r.stderr
        assert "version 1767225600" in r.stdout
        first = bundle.read_bytes()
        r = fleet(fleet_cfg, "content", "build", str(tmp_path / "cooling.txt"), "--out", str(bundle), env=env)
        assert r.returncode == 0 and bundle.read_bytes() == first  # byte-identical rebuild
        r = fleet(fleet_cfg, "content", "verify", str(bundle), "--pub", str(tmp_path / "signing.key.pub"))
        assert r.returncode == 0 and "signature and" in r.stdout, r.stderr
        run_cli("keygen", "--signing", "--out", str(tmp_path / "other.key"), module="nic_edge.cli.fleet")
        r = fleet(fleet_cfg, "content", "verify", str(bundle), "--pub", str(tmp_path / "other.key.pub"))
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "signature does not verify" in r.stderr

        dev = tmp_path / "box"
        dev.mkdir()
        cfg = write_toml(dev / "device.toml", {
            "device": {"id": "box-1"}, "http": {"port": 0},
            "mqtt": {**mosquitto.client_settings(), "reconnect_max_s": 1.0},
            "fleet": {"signing_pub_file": str(tmp_path / "signing.key.pub")}})
        prepare_data_dir(dev / "data", dev / "manuals")
        box = DeviceServer(cfg, dev / "data").start()
        try:
            box.wait_for(lambda s: s["mqtt"]["state"] == "connected")
            r = fleet(fleet_cfg, "content", "push", str(bundle), "box-1")
            assert r.returncode == 0 and "box-1: applied" in r.stdout, r.stdout + r.stderr
            st = box.get("/api/status")
            assert st["content"]["applied_version"] == 1767225600
            assert st["content"]["last_report"]["status"] == "applied"
            ans = box.post("/api/ask", {"question": "When should the radiator cap gasket be replaced?"})
            assert not ans["abstained"] and ans["citations"][0]["source"] == "cooling.txt"
            assert ans["mode"] == "hybrid"  # the pushed embeddings, same model
            r = fleet(fleet_cfg, "content", "status", "--json")
            rows = {d["id"]: d for d in json.loads(r.stdout)["devices"]}
            assert rows["box-1"]["desired_version"] == 1767225600
            assert rows["box-1"]["reported"]["applied_version"] == 1767225600
            r = fleet(fleet_cfg, "status")
            assert re.search(r"box-1\s+online.*1767225600", r.stdout), r.stdout
        finally:
            box.stop()
        r = fleet(fleet_cfg, "content", "push", str(bundle))
        assert r.returncode == 1 and "name devices or pass --all" in r.stderr
    finally:
        port_proc.terminate()
        port_proc.wait(10)
