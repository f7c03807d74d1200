#!/usr/bin/env python3
"""A stand-in for systemd + systemctl in the software-update tests (no systemd in the sandbox).

    fake_systemd.py run STATE CMD...      run CMD like a unit with Restart=on-failure, RestartSec=0.3
    fake_systemd.py ctl STATE restart     like `systemctl restart`: stop CMD, start it again (waits)
    fake_systemd.py ctl STATE restart --hang   the same, then never returns (a systemctl stuck
                                          on its job; whoever ran it has to give up)
    fake_systemd.py ctl STATE show        like `systemctl show -p NRestarts --value`

CMD is re-executed from its path each time, so a switched ``current`` symlink takes effect at the
next start, as with ExecStart=/opt/nic-edge/current/bin/nic-edge. STATE is a JSON file:
{"pid": supervisor pid, "restarts": automatic restarts, "starts": starts so far}.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def _write(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def run(state_path: Path, cmd: list[str]) -> int:
    state = {"pid": os.getpid(), "restarts": 0, "starts": 0}
    restart, stop = threading.Event(), threading.Event()
    signal.signal(signal.SIGHUP, lambda *a: restart.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    while not stop.is_set():
        child = subprocess.Popen(cmd)
        state["starts"] += 1
        _write(state_path, state)
        while True:
            if stop.is_set() or restart.is_set():
                child.terminate()
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                if restart.is_set():
                    restart.clear()
                    state["restarts"] = 0  # a manual restart resets the counter, as systemd does
                break
            if child.poll() is not None:
                state["restarts"] += 1
                _write(state_path, state)
                stop.wait(0.3)
                break
            stop.wait(0.05)
    return 0


def ctl(state_path: Path, action: str, hang: bool = False) -> int:
    state = json.loads(state_path.read_text())
    if action == "show":
        print(state["restarts"])
        return 0
    before = state["starts"]
    os.kill(state["pid"], signal.SIGHUP)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if json.loads(state_path.read_text())["starts"] > before:
            while hang:
                time.sleep(3600)
            return 0
        time.sleep(0.05)
    print("restart timed out", file=sys.stderr)
    return 1


if __name__ == "__main__":
    mode, path = sys.argv[1], Path(sys.argv[2])
    sys.exit(run(path, sys.argv[3:]) if mode == "run" else ctl(path, sys.argv[3], "--hang" in sys.argv[4:]))
