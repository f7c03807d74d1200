#!/usr/bin/env python3
"""Live tier switching under load (issue 8): questions never fail while the tier flips.

Starts a private mosquitto on a free loopback port, a real `nic-edge serve` device with a
derived device key, then asks questions over HTTP continuously from several threads while
`nic-fleet set-tier` logic flips the tier N times (signed, over MQTT), ending on ultra_lite.
Prints failed questions (target 0), per-flip apply time, and the device's RSS at the end vs
the final tier's budget.

Usage: python tools/bench_tier_flip.py [--flips 20] [--threads 4] [--manual FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nic_edge.core import signing  # noqa: E402
from nic_edge.core.config import load_config  # noqa: E402
from nic_edge.core.tiers import load_profiles  # noqa: E402
from nic_edge.fleet import tools  # noqa: E402

QUESTIONS = [
    "How do I adjust the carburetor?", "What oil should be used?", "How is the transmission band adjusted?",
    "How do I fix a flat tire?", "What causes the engine to overheat?", "How often should the radiator be filled?",
    "What is the firing order?", "How do I clean the spark plugs?", "Why does the engine knock?",
    "How do I remove the rear axle?", "What is the capacity of the gasoline tank?", "How do I start the car in cold weather?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flips", type=int, default=20)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--manual", type=Path, default=ROOT / "nic_edge" / "data" / "ford_model_t_manual_1919.txt")
    args = ap.parse_args()
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    print(cpu_banner(), flush=True)
    mosq = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if mosq is None:
        print("mosquitto not installed (apt-get install mosquitto); skipping")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="nic-flip-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), NIC_EDGE_TIER="")
    port = free_port()
    (tmp / "mosq.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                                   + ("user root\n" if os.geteuid() == 0 else ""))
    broker = subprocess.Popen([mosq, "-c", str(tmp / "mosq.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    device = None
    try:
        time.sleep(0.3)
        fleet_key = signing.generate_key()
        (tmp / "dev.key").write_text(signing.derive_device_key(fleet_key, "flip-dev").hex())
        (tmp / "device.toml").write_text(
            f'[device]\nid = "flip-dev"\ntier = "standard"\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
            f'reconnect_max_s = 1.0\n[fleet]\nkey_file = "{tmp / "dev.key"}"\n')
        (tmp / "fleet.toml").write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n[fleet]\nreport_timeout_s = 20.0\n')
        data = tmp / "data"
        subprocess.run([sys.executable, "-m", "nic_edge", "index", str(args.manual), "--data-dir", str(data), "--quiet"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        device = subprocess.Popen([sys.executable, "-m", "nic_edge", "serve", "--config", str(tmp / "device.toml"),
                                   "--data-dir", str(data), "--port", "0"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        url = ""
        assert device.stdout is not None
        for line in device.stdout:
            m = re.search(r"serving on (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        threading.Thread(target=lambda: [None for _ in device.stdout], daemon=True).start()  # type: ignore[union-attr]
        while json.loads(urllib.request.urlopen(url + "/healthz", timeout=5).read())["status"] == "starting":
            time.sleep(0.1)
        fleet_cfg = load_config(tmp / "fleet.toml")
        stop = threading.Event()
        counts = {"ok": 0, "failed": 0}
        failures: list[str] = []
        lock = threading.Lock()

        def asker(i: int) -> None:
            n = 0
            while not stop.is_set():
                q = QUESTIONS[(i + n) % len(QUESTIONS)] + (f" (variant {n})" if n % 3 == 0 else "")
                n += 1
                try:
                    req = urllib.request.Request(url + "/api/ask", data=json.dumps({"question": q}).encode(),
                                                 headers={"Content-Type": "application/json"}, method="POST")
                    body = json.loads(urllib.request.urlopen(req, timeout=30).read())
                    ok = "abstained" in body and "tier" in body
                except Exception as exc:  # the figure we want: any failure counts
                    ok = False
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                with lock:
                    counts["ok" if ok else "failed"] += 1

        threads = [threading.Thread(target=asker, args=(i,), daemon=True) for i in range(args.threads)]
        for t in threads:
            t.start()
        cycle = ["lite", "full", "ultra_lite", "standard"]
        tiers = [cycle[i % len(cycle)] for i in range(args.flips - 1)] + ["ultra_lite"]
        apply_times = []
        for tier in tiers:
            t0 = time.perf_counter()
            with open(os.devnull, "w") as devnull:
                old, sys.stdout = sys.stdout, devnull
                try:
                    rc = tools.set_tier(fleet_cfg, ["flip-dev"], tier, fleet_key, 20.0, False)
                finally:
                    sys.stdout = old
            apply_times.append(time.perf_counter() - t0)
            if rc != 0:
                print(f"flip to {tier} did not apply")
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join(35)
        status = json.loads(urllib.request.urlopen(url + "/api/status", timeout=5).read())
        final = status["tier"]["name"]
        budget = load_profiles()[final].memory_budget_mib
        rss = rss_mib(device.pid)
        apply_times.sort()
        print(f"flips: {len(tiers)} (last: {tiers[-1]}); device reports tier {final} from {status['tier']['source']}")
        print(f"questions answered: {counts['ok']}, failed: {counts['failed']} (target 0)")
        for f in failures[:5]:
            print("  failure:", f)
        print(f"set-tier round trip (publish -> applied report): median {apply_times[len(apply_times)//2]*1000:.0f} ms, "
              f"max {apply_times[-1]*1000:.0f} ms")
        print(f"device RSS at the end: {rss:.1f} MiB vs {final} budget {budget} MiB -> {'inside' if rss <= budget else 'OVER'}")
        return 0 if counts["failed"] == 0 and rss <= budget and final == tiers[-1] else 1
    finally:
        if device is not None:
            device.send_signal(signal.SIGTERM)
            device.wait(20)
        broker.terminate()
        broker.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
