#!/usr/bin/env python3
"""Hostile-input figures (issue 22), loopback only, bounded in count and time. Not a test.

    python3 tools/bench_hostile.py http  [--runs 3] [--wrk-seconds 30]   # slowloris p99, wrk, slowhttptest
    python3 tools/bench_hostile.py fleet [--ids 10000] [--idle-seconds 30]  # fake device ids vs the aggregator

``http`` indexes a tiny manual, starts ``nic-edge serve`` (ultra_lite, pinned with taskset when
available) and measures other clients' GET /healthz latency while 200 slowloris sockets from
127.0.0.2 drip header lines; then ``wrk -c100`` on /healthz and ``slowhttptest -H -c 200`` when
installed. ``fleet`` starts a mosquitto and ``nic-aggregator``, publishes N retained
``online`` statuses under fake ids, then reports the aggregator's RSS and its CPU and disk
writes over an idle period.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.broker import Broker, find_mosquitto, free_port  # noqa: E402
from tests.support.device import TINY_MANUAL  # noqa: E402

ATTACKER = "127.0.0.2"
PIN = ["taskset", "-c", "1"] if shutil.which("taskset") else []


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
        flags = next((ln for ln in out.splitlines() if ln.startswith("Flags")), "")
    except (OSError, subprocess.CalledProcessError):
        model, flags = "?", ""
    int8 = [f for f in ("avx512_vnni", "avx_vnni", "asimddp") if f in flags.split()] or ["none"]
    return f"{model}, {os.cpu_count()} CPUs, int8: {' '.join(int8)}"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))] if s else float("nan")


def get(port: int, path: str = "/healthz", timeout: float = 5.0) -> tuple[int | None, float]:
    t0 = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        return (int(m.group(1)) if m else None), time.perf_counter() - t0
    except OSError:
        return None, time.perf_counter() - t0


def start_serve(tmp: Path) -> tuple[subprocess.Popen, int]:
    data = tmp / "data"
    manual = tmp / "tiny_manual.txt"
    manual.write_text(TINY_MANUAL)
    env = {**os.environ, "NIC_EDGE_TIER": "ultra_lite", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "nic_edge", "index", str(manual), "--data-dir", str(data), "--quiet"],
                   check=True, env=env, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*PIN, sys.executable, "-m", "nic_edge", "serve", "--data-dir", str(data),
                             "--bind", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "wb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if get(port, timeout=1)[0] == 200:
            return proc, port
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve did not come up; see " + str(tmp / "serve.log"))


def slowloris_round(port: int, sockets: int, requests: int) -> dict:
    attack: list[socket.socket] = []
    stop = threading.Event()

    def drip() -> None:
        for _ in range(sockets):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(ATTACKER, 0))
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                attack.append(s)
            except OSError:
                pass
        while not stop.wait(1.0):  # one header line per socket per second, reconnecting dropped ones
            for i, s in enumerate(list(attack)):
                try:
                    s.send(b"X-a: b\r\n")
                except OSError:
                    try:
                        attack[i] = socket.create_connection(("127.0.0.1", port), timeout=5,
                                                             source_address=(ATTACKER, 0))
                        attack[i].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                    except OSError:
                        pass

    t = threading.Thread(target=drip)
    t.start()
    time.sleep(1.0)
    results = [get(port) for _ in range(requests)]
    stop.set()
    t.join()
    for s in attack:
        s.close()
    lat = [d * 1000 for c, d in results if c == 200]
    return {"ok": len(lat), "n": requests, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat or [0])}


def bench_http(args: argparse.Namespace) -> None:
    print("machine:", machine(), "| server pinned to CPU 1" if PIN else "")
    with tempfile.TemporaryDirectory(prefix="nic-hostile-") as d:
        tmp = Path(d)
        proc, port = start_serve(tmp)
        try:
            base = [get(port)[1] * 1000 for _ in range(200)]
            print(f"baseline GET /healthz (200 sequential): p50 {pct(base, .5):.2f} ms  p99 {pct(base, .99):.2f} ms")
            rounds = [slowloris_round(port, 200, 200) for _ in range(args.runs)]
            for r in rounds:
                print(f"with 200 slowloris sockets from {ATTACKER}: {r['ok']}/{r['n']} answered, "
                      f"p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  max {r['max']:.1f} ms")
            print(f"median of {args.runs} rounds: p99 {statistics.median(r['p99'] for r in rounds):.2f} ms")
            if shutil.which("wrk"):
                out = subprocess.run(["wrk", "-t2", "-c100", f"-d{args.wrk_seconds}s", "--latency",
                                      f"http://127.0.0.1:{port}/healthz"], capture_output=True, text=True).stdout
                non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                errors = re.search(r"Socket errors: (.*)", out)
                rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
                total = re.search(r"(\d+) requests in", out)
                p99 = re.search(r"99%\s+(\S+)", out)
                print(f"wrk -t2 -c100 -d{args.wrk_seconds}s /healthz: {total.group(1) if total else '?'} requests, "
                      f"{rps.group(1) if rps else '?'} req/s, non-2xx {non2xx.group(1) if non2xx else 0}, "
                      f"socket errors: {errors.group(1) if errors else 'none'}, p99 {p99.group(1) if p99 else '?'}")
            if shutil.which("slowhttptest"):
                probe: list[tuple[int | None, float]] = []
                stop = threading.Event()

                def poll() -> None:
                    while not stop.wait(0.5):
                        probe.append(get(port, timeout=3))

                t = threading.Thread(target=poll)
                t.start()
                r = subprocess.run(["slowhttptest", "-H", "-c", "200", "-r", "200", "-i", "5", "-l", "20",
                                    "-u", f"http://127.0.0.1:{port}/", "-p", "3"], capture_output=True, text=True)
                out = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)  # its status lines are coloured
                stop.set()
                t.join()
                ok = [d * 1000 for c, d in probe if c == 200]
                avail = re.findall(r"service available:\s+(\S+)", out)
                print(f"slowhttptest -H -c 200 -l 20 (its own probe: {', '.join(sorted(set(avail))) or '?'}); "
                      f"our probe every 0.5 s: {len(ok)}/{len(probe)} answered, p99 {pct(ok, .99):.1f} ms")
            tail = (tmp / "serve.log").read_text(errors="replace").splitlines()
            print(f"server log lines during the run: {len(tail)} "
                  f"({sum('connection limit' in ln for ln in tail)} 'connection limit' warnings)")
        finally:
            proc.terminate()
            proc.wait(20)


def proc_stats(pid: int) -> tuple[float, int, int]:
    """(cpu seconds, rss bytes, bytes written) of a process from /proc."""
    st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(st[11]) + int(st[12])) / tick
    rss = int(st[21]) * os.sysconf("SC_PAGE_SIZE")
    io = dict(ln.split(": ") for ln in Path(f"/proc/{pid}/io").read_text().splitlines())
    return cpu, rss, int(io["write_bytes"])


def bench_fleet(args: argparse.Namespace) -> None:
    import paho.mqtt.client as mqtt

    binary = find_mosquitto()
    if binary is None:
        raise SystemExit("mosquitto not installed")
    print("machine:", machine())
    with tempfile.TemporaryDirectory(prefix="nic-fleet-hostile-") as d:
        tmp = Path(d)
        broker = Broker(tmp / "broker", binary)
        broker.start()
        out = tmp / "out"
        cfg = tmp / "agg.toml"
        cfg.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n[aggregator]\nout_dir = "{out}"\n'
                       f"render_interval_s = 2.0\n")
        agg = subprocess.Popen([*PIN, sys.executable, "-m", "nic_edge.cli.aggregator", "--config", str(cfg)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(tmp / "agg.log", "wb"))
        try:
            time.sleep(3)
            cpu0, rss0, _ = proc_stats(agg.pid)
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fake-ids")
            c.max_queued_messages_set(0)
            c.connect(broker.host, broker.port)
            c.loop_start()
            t0 = time.perf_counter()
            infos = [c.publish(f"nic/fake-{i:05d}/status", b"online", qos=1, retain=True) for i in range(args.ids)]
            for info in infos:
                info.wait_for_publish(30)
            print(f"published {args.ids} retained 'online' statuses under fake ids in {time.perf_counter() - t0:.1f} s")
            c.loop_stop()
            c.disconnect()
            t0 = time.perf_counter()
            prev = proc_stats(agg.pid)[0]
            while time.perf_counter() - t0 < 300:  # until ingestion, commits and renders settle
                time.sleep(2)
                cur = proc_stats(agg.pid)[0]
                if cur - prev < 0.1:  # under 5 % of a core over 2 s
                    break
                prev = cur
            print(f"settled {time.perf_counter() - t0:.0f} s after the flood")
            cpu1, rss1, w1 = proc_stats(agg.pid)
            doc = json.loads((out / "fleet.json").read_text())
            time.sleep(args.idle_seconds)
            cpu2, rss2, w2 = proc_stats(agg.pid)
            pages = len(list((out / "devices").glob("*.html")))
            print(f"aggregator RSS: {rss0 / 2**20:.1f} MiB at start, {rss1 / 2**20:.1f} MiB after the flood, "
                  f"{rss2 / 2**20:.1f} MiB after {args.idle_seconds} s idle")
            print(f"devices held: {len(doc['devices'])} (cap aggregator.max_devices), refused "
                  f"{doc['fleet']['ingest'].get('refused')}, device pages {pages}")
            print(f"idle {args.idle_seconds} s: CPU {100 * (cpu2 - cpu1) / args.idle_seconds:.2f} % of a core, "
                  f"{(w2 - w1) / 1024:.0f} KiB written; flood + settle CPU {cpu1 - cpu0:.1f} s")
        finally:
            agg.terminate()
            agg.wait(20)
            broker.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    h = sub.add_parser("http", help="slowloris p99, wrk, slowhttptest against nic-edge serve")
    h.add_argument("--runs", type=int, default=3)
    h.add_argument("--wrk-seconds", type=int, default=30)
    f = sub.add_parser("fleet", help="fake device ids against nic-aggregator")
    f.add_argument("--ids", type=int, default=10000)
    f.add_argument("--idle-seconds", type=int, default=30)
    args = p.parse_args()
    bench_http(args) if args.what == "http" else bench_fleet(args)


if __name__ == "__main__":
    main()
