#!/usr/bin/env python3
"""Software update with the REAL runtime: bundles of this checkout, real venvs, real ``serve``.

    .venv-test/bin/python tools/demo_release_real.py [--boxes 3] [--deadline-s 120]

Needs a package index (or a pip mirror) for the dependency wheels of the first bundle. Steps:
1. ``nic-fleet release build --arch <this machine>`` of this checkout as version A (its wheels
   are then the --find-links of the next builds, --no-index), and of two copies: A+1 (good) and
   A+2 whose ``nic-edge`` exits at start (broken);
2. per box: ``<prefix>/venvs/A`` installed offline from bundle A, ``current`` -> it, the real
   ``nic-edge serve`` run by tests/support/fake_systemd.py from ``<prefix>/current/bin/nic-edge``
   (no systemd in the sandbox), a real ``nic-edge updater``; a real mosquitto; an HTTP server
   for the bundles;
3. ``nic-fleet release push A+1 --all`` -> applied on every box (timings printed);
4. ``nic-fleet release push A+2 --all`` -> rolled back on every box within the deadline.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nic_edge import __version__  # noqa: E402
from nic_edge.core import ed25519  # noqa: E402
from tests.support.broker import Broker, find_mosquitto  # noqa: E402
from tests.support.release_box import Box, BundleServer, run_fleet  # noqa: E402


def bump(version: str, n: int) -> str:
    parts = version.split(".")
    parts[-1] = str(int(parts[-1]) + n)
    return ".".join(parts)


def project_wheel(work: Path, version: str, broken: bool) -> Path:
    """A wheel of a copy of this checkout with ``__version__`` = version (and, broken, a CLI that exits)."""
    src = work / f"src-{version}"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    init = src / "nic_edge" / "__init__.py"
    init.write_text(init.read_text().replace(f'__version__ = "{__version__}"', f'__version__ = "{version}"'))
    if broken:
        cli = src / "nic_edge" / "cli" / "edge.py"
        cli.write_text(cli.read_text().replace("def main(argv: Sequence[str] | None = None) -> int:\n",
                                               "def main(argv: Sequence[str] | None = None) -> int:\n"
                                               "    raise SystemExit('nic-edge: deliberately broken release')\n"))
    out = work / f"wheel-{version}"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)], check=True)
    return next(out.glob("*.whl"))


def build(work: Path, key: Path, version: str, wheel: Path | None, links: Path | None) -> Path:
    out = work / "bundles" / f"nic-edge-{version}.tar"
    args = ["release", "build", "--out", str(out), "--key", str(key), "--arch", platform.machine(),
            "--python-version", ".".join(platform.python_version_tuple()[:2])]
    if wheel is not None:
        args += ["--wheel", str(wheel)]
    if links is not None:
        args += ["--no-index", "--find-links", str(links)]
    t0 = time.monotonic()
    r = run_fleet(*args, "--project", str(ROOT), timeout=900)
    assert r.returncode == 0, r.stderr
    print(f"built {out.name} ({out.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t0:.1f} s", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boxes", type=int, default=3)
    ap.add_argument("--deadline-s", type=float, default=120.0)
    args = ap.parse_args()
    binary = find_mosquitto()
    if binary is None:
        print("mosquitto not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="nic-release-real-") as tmp:
        work = Path(tmp)
        key = work / "signing.key"
        ed25519.generate(key)
        pub = Path(str(key) + ".pub")
        a, good, bad = __version__, bump(__version__, 1), bump(__version__, 2)
        first = build(work, key, a, None, None)
        links = work / "links"
        subprocess.run(["tar", "xf", str(first), "-C", str(work)], check=True)
        os.replace(work / "wheels", links)
        bundles = {v: build(work, key, v, project_wheel(work, v, v == bad), links) for v in (good, bad)}
        broker = Broker(work / "broker", binary)
        broker.start()
        server = BundleServer(work / "bundles")
        cfg = work / "fleet.toml"
        cfg.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n[fleet]\nsigning_key_file = "{key}"\n'
                       f'content_url = "{server.url}"\n')
        boxes = [Box(work / f"box{i}", f"real-{i}", broker.port, pub, args.deadline_s, real_service=True)
                 for i in range(args.boxes)]
        try:
            t0 = time.monotonic()
            for b in boxes:
                b.install_initial(first, pub)
            print(f"{len(boxes)} boxes: venvs/{a} installed offline in {time.monotonic() - t0:.1f} s", flush=True)
            for b in boxes:
                b.start_unit()
            for b in boxes:
                assert b.wait_version(a, 180), f"{b.device}: serve did not come up"
                b.start_updater()
            print(f"serving {a} on {len(boxes)} boxes", flush=True)
            rc = 0
            for v, want in ((good, 0), (bad, 1)):
                t0 = time.monotonic()
                r = run_fleet("--config", str(cfg), "release", "push", str(bundles[v]), "--all",
                              "--timeout", str(args.deadline_s + 300), timeout=args.deadline_s + 400)
                took = time.monotonic() - t0
                print(f"push {v}: exit {r.returncode} after {took:.1f} s\n{r.stdout.strip()}", flush=True)
                for b in boxes:
                    print(f"  {b.device}: current -> {b.current()}, /api/status version {b.api_version()}, "
                          f"venvs {b.venvs()}", flush=True)
                rc |= int(r.returncode != want)
            print("result: " + ("as expected (applied, then rolled back)" if rc == 0 else "NOT as expected"))
            return rc
        finally:
            for b in boxes:
                b.stop()
            server.close()
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
