"""Boxes for the software-update tests: real venvs, a real updater process, a stand-in service.

What is real: the release bundle (``nic-fleet release build`` from wheels), each box's
``<prefix>/venvs/<version>`` created by ``python -m venv`` and filled by pip offline from the
bundle's wheels, the ``current`` symlink, the ``nic-edge updater`` process, mosquitto, the HTTP
server the bundles are downloaded from.

What stands in (and why): the installed payload is a small wheel named ``nic-edge`` whose
``nic-edge serve`` is a stdlib-only stand-in (HTTP ``/healthz`` + ``/api/status`` with its
version, MQTT ``online``/``offline`` retained with a Last Will) instead of the real runtime,
so a venv installs in ~1 s instead of pulling numpy/LiteRT wheels into 6 venvs; and systemd is
``fake_systemd.py`` (runs ``<prefix>/current/bin/nic-edge serve``, restarts it when it exits like
``Restart=on-failure``, ``systemctl restart`` = SIGHUP, ``NRestarts`` in a state file).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.broker import free_port
from tests.support.device import ROOT, write_toml

FAKE_SYSTEMD = Path(__file__).with_name("fake_systemd.py")

SERVICE_CODE = r'''
import json, os, signal, socket, struct, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = {version!r}
BROKEN = {broken!r}


def _str(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def _packet(kind, body):
    n, out = len(body), bytearray([kind])
    while True:
        d, n = n % 128, n // 128
        out.append(d | (128 if n else 0))
        if not n:
            return bytes(out) + body


def main():
    if len(sys.argv) < 2 or sys.argv[1] != "serve":
        print("usage: nic-edge serve"); return 2
    if BROKEN:
        print("nic-edge " + VERSION + ": cannot start (deliberately broken release)", flush=True); return 1
    import fakedep  # a dependency wheel from the same bundle
    dev, port, bport = os.environ["FAKE_DEVICE"], int(os.environ["FAKE_PORT"]), int(os.environ["FAKE_BROKER_PORT"])
    status = "nic/" + dev + "/status"

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = {{"/healthz": {{"status": "ok"}}, "/api/status": {{"version": VERSION, "dep": fakedep.NAME}}}}.get(self.path)
            data = json.dumps(body or {{}}).encode()
            self.send_response(200 if body else 404); self.send_header("Content-Length", str(len(data)))
            self.end_headers(); self.wfile.write(data)
        def log_message(self, *a): pass

    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    s = socket.create_connection(("127.0.0.1", bport))
    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will, will QoS 1, will retain
    s.sendall(_packet(0x10, _str("MQTT") + bytes([4, flags]) + struct.pack(">H", 10) + _str("svc-" + dev)
                      + _str(status) + _str("offline")))
    s.recv(4)
    s.sendall(_packet(0x31, _str(status) + b"online"))  # QoS 0, retain
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    while not stop.wait(4):
        s.sendall(b"\xc0\x00")  # PINGREQ
    s.sendall(_packet(0x31, _str(status) + b"offline"))
    s.sendall(b"\xe0\x00")  # DISCONNECT (no Last Will)
    s.close(); srv.shutdown()
    return 0
'''


def make_wheel(out_dir: Path, name: str, version: str, files: dict[str, str], requires: list[str] | None = None,
               scripts: dict[str, str] | None = None) -> Path:
    """A minimal valid wheel (zip with dist-info and RECORD hashes)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires or [])
    entries = dict(files)
    entries[f"{info}/METADATA"] = meta
    entries[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if scripts:
        entries[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
    record = []
    for path, text in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    entries[f"{info}/RECORD"] = "\n".join(record) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    whl = out_dir / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for path, text in sorted(entries.items()):
            z.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), text)
    return whl


def service_wheels(out_dir: Path, version: str, broken: bool = False, pad_kib: int = 0) -> tuple[Path, Path]:
    """The stand-in ``nic-edge`` wheel of ``version`` and its dependency wheel, in ``out_dir``.
    ``pad_kib``: a data file that makes the wheel that much bigger (stored, not compressed),
    for the disk-full tests."""
    dep = make_wheel(out_dir / "links", "nic-fake-dep", "1.0", {"fakedep/__init__.py": "NAME = 'fakedep'\n"})
    files = {"fakeedge/__init__.py": SERVICE_CODE.format(version=version, broken=broken)}
    if pad_kib:
        files["fakeedge/pad.txt"] = "x" * (pad_kib << 10)
    app = make_wheel(out_dir / "project", "nic-edge", version, files,
                     requires=["nic-fake-dep>=1.0"], scripts={"nic-edge": "fakeedge:main"})
    return app, dep.parent


def build_bundle(work: Path, version: str, key: Path, broken: bool = False, arch: str | None = None,
                 pad_kib: int = 0) -> Path:
    """``nic-fleet release build`` of the stand-in wheels (offline: --no-index --find-links)."""
    import platform
    app, links = service_wheels(work / f"src-{version}", version, broken, pad_kib)
    out = work / "bundles" / f"nic-edge-{version}.tar"
    r = run_fleet("release", "build", "--out", str(out), "--key", str(key), "--wheel", str(app),
                  "--python-version", ".".join(platform.python_version_tuple()[:2]),
                  "--arch", arch or platform.machine(), "--no-index", "--find-links", str(links))
    assert r.returncode == 0, r.stderr
    return out


def run_fleet(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "nic_edge.cli.fleet", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


class BundleServer:
    """Serves a directory over HTTP on 127.0.0.1 (where boxes download bundles from)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        handler = partial(_QuietHandler, directory=str(directory))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *a: Any) -> None:
        pass


class Box:
    """One box: prefix with venvs, a fake systemd running the service, an updater process."""

    def __init__(self, root: Path, device: str, broker_port: int, pub: Path, deadline_s: float = 20.0,
                 real_service: bool = False, clock_offset_s: float = 0.0, restart_hangs: bool = False) -> None:
        """``clock_offset_s``: the updater's clock runs that far off (a Pi has no RTC: before NTP
        it may be behind); ``restart_hangs``: the restart command restarts the service and then
        never returns (fake_systemd.py ctl restart --hang)."""
        self.root, self.device = root, device
        root.mkdir(parents=True, exist_ok=True)
        self.prefix = root / "opt"
        self.port = free_port()
        self.unit_state = root / "unit.json"
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), FAKE_DEVICE=device, FAKE_PORT=str(self.port),
                        FAKE_BROKER_PORT=str(broker_port))
        self.updater_env = dict(self.env)
        if clock_offset_s:
            clock = root / "clock"
            clock.mkdir(exist_ok=True)
            (clock / "sitecustomize.py").write_text(
                f"import time\n_real = time.time\ntime.time = lambda: _real() + {clock_offset_s!r}\n")
            self.updater_env["PYTHONPATH"] = f"{clock}{os.pathsep}{ROOT}"
        ctl = f"{sys.executable} {FAKE_SYSTEMD} ctl {self.unit_state}"
        self.config = write_toml(root / "device.toml", {
            "device": {"id": device},
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "reconnect_max_s": 1},
            "fleet": {"signing_pub_file": str(pub)},
            "software": {"prefix": str(self.prefix), "restart_command": f"{ctl} restart" + (" --hang" if restart_hangs else ""),
                         "restarts_command": f"{ctl} show", "health_url": f"http://127.0.0.1:{self.port}",
                         "health_deadline_s": deadline_s, "crash_loop_restarts": 3, "system_site_packages": False}})
        # The real runtime as the unit's ExecStart (tools/demo_release_real.py), else the stand-in.
        self.service_args = (["serve", "--config", str(self.config), "--data-dir", str(root / "data"),
                              "--port", str(self.port)] if real_service else ["serve"])
        self.unit: subprocess.Popen[bytes] | None = None
        self.updater: subprocess.Popen[str] | None = None
        self.updater_log = root / "updater.log"

    def install_initial(self, bundle: Path, pub: Path) -> None:
        """What firmware/install.sh does on a fresh box: venvs/<version> + current symlink."""
        from nic_edge.core import ed25519
        from nic_edge.core.release import extract_wheels, read_bundle
        from nic_edge.updater.install import Layout, create_venv, pip_install
        manifest = read_bundle(bundle, ed25519.load_public_keys(pub))
        layout = Layout(self.prefix)
        layout.venvs.mkdir(parents=True, exist_ok=True)
        wheels = self.root / "initial-wheels"
        extract_wheels(bundle, manifest, wheels)
        create_venv("", layout.venv(manifest["version"]), False)
        pip_install(layout.venv(manifest["version"]), wheels, manifest["requirement"])
        layout.switch(manifest["version"])

    def start_unit(self) -> None:
        # No PYTHONPATH for the unit: the checkout's nic_edge would shadow the venv's (the
        # updater caught exactly that: "/api/status reports version 0.1.0, not 0.1.1").
        env = {k: v for k, v in self.env.items() if k != "PYTHONPATH"}
        self.unit = subprocess.Popen([sys.executable, str(FAKE_SYSTEMD), "run", str(self.unit_state),
                                      str(self.prefix / "current" / "bin" / "nic-edge"), *self.service_args],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start_updater(self) -> None:
        log = open(self.updater_log, "a")
        self.updater = subprocess.Popen([sys.executable, "-m", "nic_edge", "updater", "--config", str(self.config), "-v"],
                                        env=self.updater_env, stdout=log, stderr=subprocess.STDOUT, text=True)
        log.close()

    def wait_updater(self, timeout: float = 30) -> bool:
        """Until the updater has started (its work dir exists, it said so on stdout)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.updater_log.exists() and "nic-edge updater for" in self.updater_log.read_text():
                return True
            time.sleep(0.05)
        return False

    def api_version(self) -> str | None:
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/status", timeout=2) as r:
                return json.loads(r.read()).get("version")
        except OSError:
            return None

    def wait_version(self, version: str, timeout: float = 30) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.api_version() == version:
                return True
            time.sleep(0.1)
        return False

    def work_files(self) -> list[str]:
        """What lies in the updater's work dir (state.json, and downloads while it works)."""
        return sorted(p.name for p in (self.prefix / "updater").iterdir())

    def current(self) -> str:
        return Path(os.readlink(self.prefix / "current")).name

    def venvs(self) -> list[str]:
        return sorted(p.name for p in (self.prefix / "venvs").iterdir())

    def updater_state(self) -> dict[str, Any]:
        try:
            return json.loads((self.prefix / "updater" / "state.json").read_text())
        except (OSError, ValueError):
            return {}

    def stop(self) -> None:
        for proc in (self.updater, self.unit):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
