"""The README as a new user follows it: the Quick start's `bash tools/run.sh` in a fresh copy of
the repository (its own .venv, made by run.sh exactly as the quick start makes it), then every
line of "Using it" run as written, in a shell in that folder.

The user's own files the commands name (a `manuals/` folder with a PDF and a text manual,
`questions.jsonl`, `device.toml`) are created first, as a user would have them. Slow (a real
pip install and the bundled sample indexed with the real model): a minute or more.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "engine" / "fixtures" / "ingest"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_repo(dst: Path) -> None:
    """The files a clone has (tracked ones, as they are on disk now)."""
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        files = [n for n in names.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot tell which files a clone has")
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)


def using_it_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Using it\n.*?```sh\n(.*?)```", text, re.S).group(1)
    return [re.sub(r"\s{2,}#.*$", "", line).strip() for line in block.splitlines() if line.strip()]


def _serve_until_healthy(cmd: list[str], cwd: Path, port: int, log: Path, timeout: float) -> tuple[subprocess.Popen, float]:
    t0 = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{cmd} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.5)
    _stop(proc)
    pytest.fail(f"{cmd} not healthy within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)  # run.sh execs nic-edge: this is the server itself
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def test_readme_commands_work_as_written(tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash needed")
    clone = tmp_path / "nic_edge"
    _copy_repo(clone)

    # Quick start, step 1 (extra arguments go to serve: a free port instead of 8080)
    port = _free_port()
    proc, _ = _serve_until_healthy(["bash", "tools/run.sh", "--port", str(port)], clone, port, tmp_path / "run1.log", 900)
    assert _stop(proc) == 0
    first = (tmp_path / "run1.log").read_text()
    assert "installing nic-edge" in first and "Successfully installed" in first, first[-3000:]
    assert "Requirement already satisfied" not in first
    assert "XNNPACK" not in first, "the TFLite runtime's INFO line shows only with -v"
    assert "indexing the bundled sample manual" in first and " INFO " in first
    # a restart with nothing changed skips pip
    proc, took = _serve_until_healthy(["bash", "tools/run.sh", "--port", str(port)], clone, port, tmp_path / "run2.log", 300)
    assert _stop(proc) == 0
    second = (tmp_path / "run2.log").read_text()
    assert "up to date" in second and "pip" not in second and "installing" not in second, second

    # the user's own files the "Using it" commands name
    (clone / "manuals").mkdir()
    shutil.copy(FIX / "manual.pdf", clone / "manuals" / "pump_manual.pdf")
    shutil.copy(FIX / "manual.pdf", clone / "manuals" / "old.pdf")  # the one the README removes
    shutil.copy(FIX / "tm_manual.txt", clone / "manuals" / "tm_manual.txt")
    (clone / "questions.jsonl").write_text('{"id": "q1", "question": "How do I adjust the carburetor?"}\n'
                                           '{"id": "q2", "question": "What is the spark plug gap?"}\n')
    serve_port = _free_port()
    (clone / "device.toml").write_text(f'[http]\nport = {serve_port}\n')

    lines = using_it_lines()
    activate, commands = lines[0], lines[1:]
    assert activate == ". .venv/bin/activate"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIC_EDGE_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # a fresh shell: nothing of ours on PATH yet
    outputs: dict[str, str] = {}
    for line in commands:
        if line.startswith("nic-edge serve"):
            continue
        r = subprocess.run(["bash", "-c", f"{activate} && {line}"], cwd=clone, env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, f"{line}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-2000:]}"
        assert "Traceback" not in r.stderr and "XNNPACK" not in r.stderr, (line, r.stderr)
        outputs[" ".join(line.split()[1:3])] = r.stdout
    assert "3 file(s) indexed" in outputs["index manuals/*.pdf"], outputs["index manuals/*.pdf"]
    manuals = outputs["manuals"]
    for name in ("pump_manual.pdf", "old.pdf", "tm_manual.txt", "ford_model_t_manual_1919.txt"):
        assert name in manuals, manuals
    assert "[1]" in outputs['ask "How']
    answers = [json.loads(x) for x in outputs["ask --jsonl"].splitlines()]
    assert [a["id"] for a in answers] == ["q1", "q2"]
    assert len(outputs['retrieve "spark']) and len(outputs['retrieve "spark'].splitlines()) == 5
    assert json.loads(outputs["tier --json"])["tier"]
    listed = subprocess.run(["bash", "-c", f"{activate} && nic-edge manuals --json"], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=300)
    assert "old.pdf" not in listed.stdout and "pump_manual.pdf" in listed.stdout  # removed as written

    serve = next(line for line in commands if line.startswith("nic-edge serve"))
    proc, _ = _serve_until_healthy(["bash", "-c", f"{activate} && exec {serve}"], clone, serve_port,
                                   tmp_path / "serve.log", 300)
    assert _stop(proc) == 0
