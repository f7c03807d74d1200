"""The compose stack and device containers driven the way an operator would: tools/build_images.sh,
tools/fleet_stack.sh (podman-compose) and `podman run` of the device image.

Only the container tests use this (`bash tools/test.sh --containers`); every port is a free
loopback port and every name carries a per-run project name, so runs never collide.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

from tests.support.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "containers" / "containers.conf"
DEVICE_IMAGE = "localhost/nic-edge-device:latest"
AGG_IMAGE = "localhost/nic-edge-aggregator:latest"


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 900, check: bool = True) -> str:
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout


def get_json(url: str, timeout: float = 3) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
        return json.loads(r.read())


def wait_for(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.5) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = pred()
        except OSError as exc:  # not up yet: refused, reset, 404 before the first render
            last = exc
        else:
            if last:
                return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


class Stack:
    """One compose project in its own stack dir: broker, aggregator-a/-b, dashboard."""

    def __init__(self, base: Path, render_interval: float = 2.0, commit_interval: float = 0.5) -> None:
        self.dir = base / "fleet"
        self.project = f"nic-ct-{os.getpid()}"
        self.render_interval = render_interval
        self.ports = {k: free_port() for k in ("mqtt", "dashboard", "agg_a", "agg_b")}
        self.env = dict(os.environ, CONTAINERS_CONF=str(CONF), NIC_FLEET_DIR=str(self.dir),
                        NIC_FLEET_PROJECT=self.project, NIC_RENDER_INTERVAL=str(render_interval),
                        NIC_COMMIT_INTERVAL=str(commit_interval),
                        NIC_MQTT_PORT=str(self.ports["mqtt"]), NIC_DASHBOARD_PORT=str(self.ports["dashboard"]),
                        NIC_AGG_A_PORT=str(self.ports["agg_a"]), NIC_AGG_B_PORT=str(self.ports["agg_b"]))
        self.devices: list[Device] = []

    def podman(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        return run(["podman", *args], env=self.env, check=check, timeout=timeout)

    def up(self) -> None:
        run(["bash", "tools/fleet_stack.sh", "up"], env=self.env, timeout=1800)

    def container(self, service: str) -> str:
        out = self.podman("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}",
                          "--filter", f"label=com.docker.compose.service={service}").split()
        assert len(out) == 1, f"{service}: {out}"
        return out[0]

    def healthy(self, name: str, url: str | None = None) -> bool:
        """The image's own HEALTHCHECK run now (podman has no systemd timer to run it here)."""
        args = ["exec", "-e", f"NIC_HEALTH_URL={url}"] if url else []
        if args:  # a device's port is its own: the same script, pointed at it
            return subprocess.run(["podman", *args, name, "python3", "/opt/nic-edge/healthcheck.py"],
                                  env=self.env, capture_output=True).returncode == 0
        return subprocess.run(["podman", "healthcheck", "run", name], env=self.env, capture_output=True).returncode == 0

    def fleet(self) -> dict[str, Any]:
        return get_json(f"http://127.0.0.1:{self.ports['dashboard']}/fleet.json")

    def add_device(self, dev_id: str, tmp: Path) -> "Device":
        pw = run(["bash", "tools/fleet_stack.sh", "add-user", dev_id], env=self.env).strip()
        d = Device(self, dev_id, tmp / dev_id, Path(pw))
        self.devices.append(d)
        return d

    def down(self) -> None:
        for d in self.devices:
            self.podman("rm", "-f", "-v", "-t", "5", d.name, check=False)
        run(["bash", "tools/fleet_stack.sh", "down"], env=self.env, check=False, timeout=300)
        self.podman("network", "rm", "-f", f"{self.project}_default", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def render_once(self, service: str, out: Path) -> dict[str, Any]:
        """Render one aggregator's own committed state (`nic-aggregator --once`, the same image and
        mounts as compose) into ``out``; the aggregator must be stopped."""
        out.mkdir(parents=True, exist_ok=True)
        os.chown(out, 10001, 10001)
        name = service.split("-")[-1]
        self.podman("run", "--rm", "--read-only", "--network", "none",
                    "-v", f"{self.dir}/config/aggregator-{name}.toml:/config/aggregator.toml:ro",
                    "-v", f"{self.dir}/data/aggregator-{name}:/data",
                    "-v", f"{self.dir}/secrets/aggregator.password:/run/secrets/aggregator_mqtt_password:ro",
                    "-v", f"{out}:/out", AGG_IMAGE, "--config", "/config/aggregator.toml", "--out", "/out", "--once")
        return json.loads((out / "fleet.json").read_text())


class Device:
    """The device image run as an operator would on a box: config and password mounted read-only,
    data dir a volume, read-only root, host network to reach the stack's loopback broker."""

    def __init__(self, stack: Stack, dev_id: str, home: Path, password_file: Path) -> None:
        self.stack, self.id, self.home = stack, dev_id, home
        self.name = f"{stack.project}-{dev_id}"
        self.port = free_port()
        (home / "config").mkdir(parents=True)
        (home / "data").mkdir()
        shutil.copy(password_file, home / "config" / "mqtt.password")
        (home / "config" / "device.toml").write_text(
            f'[device]\nid = "{dev_id}"\n\n[http]\nbind = "127.0.0.1"\nport = {self.port}\n\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {stack.ports["mqtt"]}\nusername = "{dev_id}"\n'
            f'password_file = "/config/mqtt.password"\nmetrics_interval_s = 1\n')
        for p in (home, home / "config", home / "data", home / "config" / "device.toml", home / "config" / "mqtt.password"):
            os.chown(p, 10001, 10001)
        os.chmod(home / "config" / "mqtt.password", 0o600)

    def start(self) -> None:
        self.stack.podman("run", "-d", "--name", self.name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
                          "-v", f"{self.home}/config:/config:ro", "-v", f"{self.home}/data:/data", DEVICE_IMAGE)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        return self.stack.healthy(self.name, f"{self.url}/healthz")

    def seq(self) -> int | None:
        return get_json(f"{self.url}/api/status")["mqtt"]["seq"]
