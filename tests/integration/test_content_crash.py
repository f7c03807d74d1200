"""Issue 19: kill -9 of a device process at random points of a content update (>= 20 runs).

After each kill the index is opened as a restarted device would: it answers from the old or
the new index, never a mix, never nothing; then the device restarts and the update completes
(the retained announcement is re-delivered; a partial download resumes).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nic_edge.core import ed25519
from nic_edge.core.config import EngineConfig, parse_config
from nic_edge.core.tiers import load_profiles
from nic_edge.engine import bundle_build
from nic_edge.engine.engine import Engine
from nic_edge.fleet import content as fleet_content
from nic_edge.fleet.content_server import BundleServer
from tests.engine.test_engine_support import MANUAL, HashEmbedder, fake_load, write_manual
from tests.integration.test_content_updates import NEW_MANUAL, QUESTION
from tests.support.broker import Broker
from tests.support.content_device import FAKE_MODEL

pytest.importorskip("cryptography")

ROOT = Path(__file__).resolve().parents[2]
PROC = Path(__file__).with_name("content_device_proc.py")
RUNS = int(os.environ.get("NIC_TEST_CRASH_RUNS", "24"))
WORDS = ("valve pump relay gasket sensor bracket filter hose clamp shaft bearing seal fuse wire "
         "panel switch lever spring bolt washer nozzle gauge").split()


def filler(seed: int, paragraphs: int) -> str:
    rnd = random.Random(seed)
    out = []
    for i in range(paragraphs):
        words = " ".join(rnd.choice(WORDS) + str(rnd.randint(0, 999)) for _ in range(45))
        out.append(f"Para 9-{i}: Part {i}\n{words}.")
    return "\n\n".join(out)


def engine_view(data: Path) -> Engine:
    return Engine(data, load_profiles()["lite"], EngineConfig(), HashEmbedder(FAKE_MODEL), loader=fake_load)


def start_proc(data: Path, broker: Broker, pub: Path, delay: float, rate: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(PROC), "--data", str(data), "--host", broker.host,
                             "--port", str(broker.port), "--pub", str(pub), "--step-delay", str(delay),
                             "--rate", str(rate)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)


def collect_lines(proc: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return t


def applied_version(data: Path) -> int | None:
    try:
        return json.loads((data / "content" / "state.json").read_text())["applied_version"]
    except (OSError, ValueError, KeyError):
        return None


def test_kill_9_during_download_verify_switch(tmp_path: Path, mosquitto: Broker) -> None:
    ed25519.generate(tmp_path / "k")
    key, pub = ed25519.load_private(tmp_path / "k"), tmp_path / "k.pub"
    served = tmp_path / "served"
    served.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    manual = write_manual(src, "manual.txt", NEW_MANUAL + "\n\n" + filler(1, 400))
    bundle = served / "v2.nicb"
    bundle_build.build([manual], key, bundle, HashEmbedder(FAKE_MODEL), version=2,
                       env={"SOURCE_DATE_EPOCH": "1767225600"}, loader=fake_load)
    size = bundle.stat().st_size
    # the template box: a local index of the old manual
    template = tmp_path / "template"
    old = engine_view(template)
    old.index_paths([write_manual(tmp_path, "local.txt", MANUAL)])
    old_answer = old.ask(QUESTION)["answer"]
    old_sources = [m["source"] for m in old.manuals()]
    server = BundleServer(served)
    server.start()
    try:
        cfg = parse_config({"mqtt": mosquitto.client_settings()}, check_files=False)
        assert fleet_content.push(cfg, bundle, ["crash-dev"], key, f"{server.url}/v2.nicb", 1, True,
                                  out=lambda s: None) == 0
        rnd = random.Random(19)
        rate = size * 2  # the download alone takes ~0.5 s
        landed: list[str] = []
        new_answer = None
        for run in range(RUNS):
            data = tmp_path / f"run{run}"
            shutil.copytree(template, data)
            lines: list[str] = []
            proc = start_proc(data, mosquitto, pub, 0.08, rate)
            pump = collect_lines(proc, lines)
            deadline = time.monotonic() + 30
            while "ready" not in lines and time.monotonic() < deadline:
                time.sleep(0.01)
            assert "ready" in lines, f"run {run}: device did not start"
            time.sleep(rnd.uniform(0.0, 1.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            pump.join(5)
            steps = [ln[5:] for ln in lines if ln.startswith("step ")]
            landed.append(steps[-1] if steps else "before")
            # what a restarted box would answer from
            view = engine_view(data)
            answer = view.ask(QUESTION)["answer"]
            sources = [m["source"] for m in view.manuals()]
            if sources == old_sources:
                assert answer == old_answer, f"run {run}: old index, other answer"
            else:
                assert sources == ["manual.txt"], f"run {run}: mixed sources {sources}"
                assert answer and "120 ft-lbs" in answer and "85-95" not in answer, f"run {run}: {answer!r}"
                new_answer = new_answer or answer
                assert answer == new_answer
            view.store.open_current().close()
            # restart without pauses: the update completes
            proc = start_proc(data, mosquitto, pub, 0.0, 0)
            try:
                deadline = time.monotonic() + 30
                while applied_version(data) != 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert applied_version(data) == 2, f"run {run}: update did not complete after restart"
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(15)
            final = engine_view(data)
            assert [m["source"] for m in final.manuals()] == ["manual.txt"]
            assert "120 ft-lbs" in (final.ask(QUESTION)["answer"] or "")
            assert not list((data / "index").glob(".tmp-*")), f"run {run}: staging left behind"
            assert len(list((data / "index").glob("gen-*"))) <= 2  # current + the one to roll back to
            shutil.rmtree(data)
        print("kill points:", sorted(set(landed)), landed)
        # the random kills covered every phase
        assert any(s.startswith("download") for s in landed)
        assert any(s in ("downloaded", "verified", "extracted") for s in landed)
        assert any(s in ("store-switch", "switched") for s in landed)
    finally:
        server.stop()
