#!/usr/bin/env python3
"""Image sizes, start time to healthy and idle RSS of the containers (docs/BENCHMARKS.md).

    taskset -c 1 python3 tools/bench_containers.py [--runs 3] [--idle 20]

Builds the images when needed (tools/build_images.sh, cached), brings the compose stack up in a
temporary stack dir on free loopback ports (tools/fleet_stack.sh), then per service: stop, start,
and time until the image's own HEALTHCHECK passes (`podman healthcheck run`, polled every 0.1 s;
median of --runs). The device image is timed on a first start (empty data dir: it indexes the
bundled manual) and on a restart (index present), with MQTT to the stack's broker. Idle RSS is
the sum of VmRSS of every process in the container (tini + the service) after --idle seconds.
Needs root podman; CONTAINERS_CONF defaults to containers/containers.conf.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*cmd: str, env: dict[str, str], check: bool = True) -> str:
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if check and p.returncode:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return p.stdout


def healthy(name: str, env: dict[str, str], url: str | None = None) -> bool:
    cmd = ["podman", "exec", "-e", f"NIC_HEALTH_URL={url}", name, "python3", "/opt/nic-edge/healthcheck.py"] if url \
        else ["podman", "healthcheck", "run", name]
    return subprocess.run(cmd, env=env, capture_output=True).returncode == 0


def time_to_healthy(name: str, env: dict[str, str], url: str | None = None, limit: float = 600) -> float:
    t0 = time.monotonic()
    sh("podman", "start", name, env=env)
    while time.monotonic() - t0 < limit:
        if healthy(name, env, url):
            return time.monotonic() - t0
        time.sleep(0.1)
    raise SystemExit(f"{name}: not healthy within {limit:.0f}s")


def rss_mib(name: str, env: dict[str, str]) -> float:
    """VmRSS of the container's init (tini) and all its descendants, from the host's /proc."""
    pid = int(sh("podman", "inspect", "--format", "{{.State.Pid}}", name, env=env).strip())
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{p}/task").iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    return total / 1024


def cpu_line() -> str:
    model, flags = platform.processor() or "?", ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
        if line.startswith(("flags", "Features")):
            flags = " ".join(f for f in ("avx512_vnni", "avx_vnni", "asimddp") if f in line.split())
    return f"{model}, {os.cpu_count()} cores, int8 features: {flags or 'none'}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle", type=float, default=20.0, help="seconds idle before reading RSS")
    args = ap.parse_args()
    env = dict(os.environ, CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", str(ROOT / "containers/containers.conf")))
    sh("bash", "tools/build_images.sh", env=env)
    print(f"machine: {cpu_line()}; {platform.platform()}; podman {sh('podman', '--version', env=env).split()[-1]}")
    print("image sizes (podman image inspect .Size; layers below the service's own are shared):")
    base = 0
    for img in ("base", "aggregator", "device", "broker"):
        size = json.loads(sh("podman", "image", "inspect", f"localhost/nic-edge-{img}:latest", env=env))[0]["Size"]
        base = base or size
        extra = "" if img == "base" else f" (+{(size - base) / 1e6:.0f} MB over the base)"
        print(f"  nic-edge-{img:<11} {size / 1e6:6.0f} MB{extra}")

    tmp = Path(tempfile.mkdtemp(prefix="nic-bench-ct-"))
    project = f"nic-bench-{os.getpid()}"
    ports = {k: free_port() for k in ("NIC_MQTT_PORT", "NIC_DASHBOARD_PORT", "NIC_AGG_A_PORT", "NIC_AGG_B_PORT")}
    env.update({k: str(v) for k, v in ports.items()}, NIC_FLEET_DIR=str(tmp / "fleet"), NIC_FLEET_PROJECT=project)
    dev = f"{project}-dev"
    try:
        sh("bash", "tools/fleet_stack.sh", "up", env=env)
        pw = sh("bash", "tools/fleet_stack.sh", "add-user", "bench-dev", env=env).strip()
        services = {}
        for svc in ("broker", "aggregator-a", "dashboard"):
            services[svc] = sh("podman", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                               "--filter", f"label=com.docker.compose.service={svc}", env=env).split()[0]
        print(f"start to healthy (median of {args.runs}; stop, start, poll the HEALTHCHECK every 0.1 s):")
        for svc, cid in services.items():
            times = []
            for _ in range(args.runs):
                sh("podman", "stop", "-t", "10", cid, env=env)
                times.append(time_to_healthy(cid, env))
            print(f"  {svc:<22} {statistics.median(times):5.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")
        hport = free_port()
        home = tmp / "device"
        first, again = [], []
        for _ in range(args.runs):
            shutil.rmtree(home, ignore_errors=True)
            (home / "config").mkdir(parents=True)
            (home / "data").mkdir()
            shutil.copy(pw, home / "config" / "mqtt.password")
            (home / "config" / "device.toml").write_text(
                f'[device]\nid = "bench-dev"\n[http]\nbind = "127.0.0.1"\nport = {hport}\n[mqtt]\nhost = "127.0.0.1"\n'
                f'port = {ports["NIC_MQTT_PORT"]}\nusername = "bench-dev"\npassword_file = "/config/mqtt.password"\n')
            sh("chown", "-R", "10001:10001", str(home), env=env)
            sh("podman", "rm", "-f", "-v", dev, env=env, check=False)
            sh("podman", "create", "--name", dev, "--network", "host", "--read-only", "--tmpfs", "/tmp",
               "-v", f"{home}/config:/config:ro", "-v", f"{home}/data:/data", "localhost/nic-edge-device:latest", env=env)
            url = f"http://127.0.0.1:{hport}/healthz"
            first.append(time_to_healthy(dev, env, url))
            sh("podman", "stop", "-t", "10", dev, env=env)
            again.append(time_to_healthy(dev, env, url))
        print(f"  {'device, first start':<22} {statistics.median(first):5.2f} s  (indexes the bundled manual; "
              f"runs: {', '.join(f'{t:.2f}' for t in first)})")
        print(f"  {'device, restart':<22} {statistics.median(again):5.2f} s  (runs: {', '.join(f'{t:.2f}' for t in again)})")
        time.sleep(args.idle)
        print(f"idle RSS after {args.idle:.0f} s (tini + service, VmRSS from /proc):")
        for svc, cid in list(services.items()) + [("device (1 box, MQTT on)", dev)]:
            print(f"  {svc:<22} {rss_mib(cid, env):6.1f} MiB")
    finally:
        sh("podman", "rm", "-f", "-v", dev, env=env, check=False)
        sh("bash", "tools/fleet_stack.sh", "down", env=env, check=False)
        sh("podman", "network", "rm", "-f", f"{project}_default", env=env, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
