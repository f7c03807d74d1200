#!/usr/bin/env python3
"""Load the nic-edge HTTP API: N concurrent clients for D seconds against /api/ask and /healthz.

A maintainer script, not a test. Loopback only. Prints request counts, errors and p50/p95/p99 per
route, and the server's RSS over time against the ultra_lite budget (160 MiB, DESIGN.md).

    # against a running box (RSS needs the server pid; found from the port when possible)
    python3 tools/load_http.py --url http://127.0.0.1:8080 [--pid PID]
    # or let the script start `nic-edge serve` itself (tier ultra_lite, free port)
    python3 tools/load_http.py --spawn --data-dir /tmp/nic-load [--clients 50 --duration 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict

BUDGET_MIB = {"ultra_lite": 160, "lite": 320, "standard": 640, "full": 1280}
QUESTIONS = [
    "How do I start the engine?", "How should the carburetor be adjusted?",
    "What oil should be used in the engine?", "How do I tighten the connecting rod bearings?",
    "Why does the engine overheat?", "How is the transmission band adjusted?",
    "What causes the engine to knock?", "How do I clean the commutator?",
    "How often should the grease cups be filled?", "What should I do if the car will not start in cold weather?",
    "How do I replace a tire?", "How is the magneto tested?", "What is the firing order?",
    "How do I drain the radiator?", "Where is the spark lever?", "how to adjust the brakes",
]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[rank]


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.codes: dict[str, dict[object, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, route: str, code: object, seconds: float) -> None:
        with self.lock:
            self.codes[route][code] += 1
            if code == 200:
                self.latencies[route].append(seconds * 1000)


def one_request(host: str, port: int, route: str, question: str, timeout: float) -> object:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if route == "/api/ask":
            body = json.dumps({"question": question})
            conn.request("POST", route, body=body, headers={"Content-Type": "application/json"})
        else:
            conn.request("GET", route)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__
    finally:
        conn.close()


def client(host: str, port: int, stats: Stats, stop: threading.Event, budget: list[int],
           questions: list[str], health_share: float, seed: int, timeout: float) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        with stats.lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        route = "/healthz" if rng.random() < health_share else "/api/ask"
        started = time.perf_counter()
        code = one_request(host, port, route, rng.choice(questions), timeout)
        stats.add(route, code, time.perf_counter() - started)


def rss_sampler(pid: int | None, stop: threading.Event, samples: list[tuple[float, float]],
                t0: float) -> None:
    if pid is None:
        return
    import psutil  # lazily: only the RSS part needs it

    try:
        proc = psutil.Process(pid)
        while True:
            samples.append((time.monotonic() - t0, proc.memory_info().rss / 2**20))
            if stop.wait(1.0):
                return
    except psutil.Error as exc:
        print(f"RSS sampling stopped: {exc}", file=sys.stderr)


def pid_listening_on(port: int) -> int | None:
    try:
        import psutil

        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return conn.pid
    except (ImportError, OSError, RuntimeError):
        return None
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(host: str, port: int, deadline_s: float, proc: subprocess.Popen | None) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before /healthz answered")
        if one_request(host, port, "/healthz", "", 2.0) == 200:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise SystemExit(f"/healthz not 200 within {deadline_s:.0f}s")


def spawn(data_dir: str, port: int, tier: str, config: str | None) -> subprocess.Popen:
    exe = shutil.which("nic-edge")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from nic_edge.cli.edge import main; sys.exit(main())"]
    cmd += ["serve", "--data-dir", data_dir, "--bind", "127.0.0.1", "--port", str(port)]
    if config:
        cmd += ["--config", config]
    env = {**os.environ, "NIC_EDGE_TIER": tier}
    print("spawning:", " ".join(cmd[-8:]), f"(NIC_EDGE_TIER={tier})")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def load_questions(path: str | None) -> list[str]:
    if not path:
        return QUESTIONS
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                rec = json.loads(line)
                line = rec.get("question") or rec.get("query") or rec.get("text") or ""
            if line:
                out.append(line)
            if len(out) >= 10000:
                break
    return out or QUESTIONS


def report(stats: Stats, elapsed: float, samples: list[tuple[float, float]], budget_mib: int) -> bool:
    ok = True
    print(f"\n{'route':<10} {'requests':>9} {'req/s':>7} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for route in ("/api/ask", "/healthz"):
        codes = stats.codes.get(route, {})
        total = sum(codes.values())
        errors = sum(n for c, n in codes.items() if c != 200)
        lat = sorted(stats.latencies.get(route, []))
        ok &= errors == 0
        print(f"{route:<10} {total:>9} {total / elapsed:>7.1f} {errors:>7} {percentile(lat, .50):>8.1f} "
              f"{percentile(lat, .95):>8.1f} {percentile(lat, .99):>8.1f}")
        if errors:
            print("   non-200:", {str(c): n for c, n in codes.items() if c != 200})
    if samples:
        step = max(1, len(samples) // 12)
        timeline = ", ".join(f"{t:.0f}s {r:.0f}" for t, r in samples[::step])
        peak = max(r for _, r in samples)
        print(f"\nserver RSS MiB over time: {timeline}")
        print(f"server RSS peak {peak:.1f} MiB vs budget {budget_mib} MiB -> "
              f"{'inside' if peak <= budget_mib else 'OVER'}")
        ok &= peak <= budget_mib
    else:
        print("\nserver RSS: not sampled (give --pid, or use --spawn)")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="running server (loopback only)")
    ap.add_argument("--spawn", action="store_true", help="start `nic-edge serve` on a free port")
    ap.add_argument("--data-dir", help="data dir for --spawn (default: a temp dir)")
    ap.add_argument("--config", help="config file for --spawn")
    ap.add_argument("--tier", default="ultra_lite", choices=sorted(BUDGET_MIB))
    ap.add_argument("--pid", type=int, help="server pid for RSS sampling (default: found from the port)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds")
    ap.add_argument("--max-requests", type=int, default=1_000_000)
    ap.add_argument("--health-share", type=float, default=0.2, help="fraction of requests to /healthz")
    ap.add_argument("--questions", help="file: one question per line, or JSONL with 'question'")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout")
    ap.add_argument("--startup-timeout", type=float, default=120.0)
    args = ap.parse_args(argv)
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    print(cpu_banner(), flush=True)
    clients = max(1, min(args.clients, 500))
    duration = max(1.0, min(args.duration, 3600.0))
    questions = load_questions(args.questions)

    proc = None
    tmp = None
    if args.spawn:
        host, port = "127.0.0.1", free_port()
        data_dir = args.data_dir or (tmp := tempfile.mkdtemp(prefix="nic-load-"))
        proc = spawn(data_dir, port, args.tier, args.config)
        pid = proc.pid
    else:
        url = urllib.parse.urlsplit(args.url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        if host not in LOOPBACK:
            print("load_http: loopback targets only", file=sys.stderr)
            return 2
        pid = args.pid or pid_listening_on(port)
    try:
        ready = wait_healthy(host, port, args.startup_timeout, proc)
        print(f"server ready in {ready:.2f}s at http://{host}:{port}; pid {pid}; "
              f"{clients} clients for {duration:.0f}s; {len(questions)} questions")
        stats, stop, samples = Stats(), threading.Event(), []
        budget = [max(1, args.max_requests)]
        t0 = time.monotonic()
        sampler = threading.Thread(target=rss_sampler, args=(pid, stop, samples, t0), daemon=True)
        sampler.start()
        threads = [threading.Thread(target=client, daemon=True,
                                    args=(host, port, stats, stop, budget, questions, args.health_share, i,
                                          args.timeout)) for i in range(clients)]
        for t in threads:
            t.start()
        stop.wait(duration)
        stop.set()
        for t in threads:
            t.join(args.timeout + 5)
        elapsed = time.monotonic() - t0
        sampler.join(5)
        alive = one_request(host, port, "/healthz", "", 10.0)
        print(f"elapsed {elapsed:.1f}s; /healthz afterwards: {alive}")
        ok = report(stats, elapsed, samples, BUDGET_MIB[args.tier]) and alive == 200
        print("\nresult:", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, -signal.SIGTERM):
                print(f"server exit code {proc.returncode}; stderr tail:\n{(proc.stderr.read() or '')[-2000:]}",
                      file=sys.stderr)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
