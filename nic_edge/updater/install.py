"""Install layout and steps: download, venv beside the current one, offline pip, symlink switch.

Layout under ``software.prefix`` (firmware/install.sh creates it)::

    venvs/<version>/     one venv per installed version
    current -> venvs/<version>    the one the service runs (ExecStart=<prefix>/current/bin/nic-edge)
    updater/             state.json, downloads, unpacked wheels (removed at every start)

The switch is one ``rename`` of a new symlink over ``current``: the service sees the old or the
new venv, never a mix. A venv is complete before the switch (a killed install leaves only a
partial ``venvs/<version>`` that nothing points at; the next start removes it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from nic_edge.core.storage import fsync_dir
from nic_edge.errors import ReleaseError

log = logging.getLogger(__name__)

# What a killed download/install leaves in updater/ (state.json's own temp files included).
LEFTOVERS = ("release-*.tar", "release-*.tar.part", "wheels-*", ".state.json.*.tmp")
# A whole download may take this long per byte (16 KiB/s), and at least 10 read timeouts.
MIN_RATE = 16384


class Layout:
    def __init__(self, prefix: Path) -> None:
        self.prefix = Path(prefix)
        self.venvs = self.prefix / "venvs"
        self.current = self.prefix / "current"
        self.work = self.prefix / "updater"

    def current_version(self) -> str | None:
        try:
            return Path(os.readlink(self.current)).name
        except OSError:
            return None

    def venv(self, version: str) -> Path:
        return self.venvs / version

    def switch(self, version: str) -> None:
        """Point ``current`` at venvs/<version> atomically (new link, then rename over the old)."""
        tmp = self.prefix / ".current.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(Path("venvs") / version, tmp)
        os.replace(tmp, self.current)
        fsync_dir(self.prefix)

    def remove(self, version: str) -> None:
        shutil.rmtree(self.venv(version), ignore_errors=True)

    def clean_work(self) -> list[str]:
        """Remove downloads and unpacked wheels a killed run left behind (never reused: only
        what was just downloaded and verified is installed); the names removed."""
        gone = []
        for pattern in LEFTOVERS:
            for p in sorted(self.work.glob(pattern)):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                gone.append(p.name)
        return gone

    def prune(self, keep: set[str]) -> list[str]:
        """Delete every venv not in ``keep`` (the current and the previous one)."""
        gone = []
        if self.venvs.is_dir():
            for d in self.venvs.iterdir():
                if d.name not in keep:
                    shutil.rmtree(d, ignore_errors=True)
                    gone.append(d.name)
        return gone


def download(url: str, dest: Path, size: int, sha256: str, timeout: float) -> None:
    """Fetch ``url`` into ``dest``; refuse more than ``size`` bytes and a wrong sha256.

    ``timeout`` bounds each read; the whole download gets ``max(10 * timeout, size / MIN_RATE)``
    seconds, so a server dripping a byte per read timeout cannot hold the updater for ever."""
    deadline_s = max(10 * timeout, size / MIN_RATE)
    end = time.monotonic() + deadline_s
    if not url.startswith(("http://", "https://")):
        raise ReleaseError(f"release URL must be http(s), not {url[:40]!r}", "announce an http(s) URL")
    h = hashlib.sha256()
    got = 0
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as out:
            while True:
                block = r.read1(1 << 16)  # what has arrived: a slow server still meets the deadline check
                if not block:
                    break
                got += len(block)
                if time.monotonic() > end:
                    raise OSError(f"not finished within {deadline_s:.0f} s ({got} of {size} bytes)")
                if got > size:
                    raise ReleaseError(f"download larger than the announced {size} bytes", "the bundle was altered")
                h.update(block)
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise ReleaseError(f"download of {url} failed: {exc}", "check the bundle server") from None
    except ReleaseError:
        tmp.unlink(missing_ok=True)
        raise
    if got != size or h.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise ReleaseError(f"downloaded bundle does not match the announcement (size {got}, sha256 {h.hexdigest()[:12]})",
                           "the bundle was altered or replaced on the server")
    os.replace(tmp, dest)


def create_venv(python: str, path: Path, system_site_packages: bool) -> None:
    # --without-pip: the venv is filled by this process's pip (``pip --python``), which keeps
    # the install offline and quick (no ensurepip, nothing fetched).
    cmd = [python or getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip"]
    if system_site_packages:
        cmd.append("--system-site-packages")
    _run(cmd + [str(path)], "creating the venv")


def pip_install(venv: Path, wheels: Path, requirement: str) -> None:
    # --isolated and no config file: the bundle's wheels only, whatever pip.conf or PIP_* says.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    _run([sys.executable, "-m", "pip", "--isolated", "--python", str(venv / "bin" / "python"), "install", "-q",
          "--no-index", "--find-links", str(wheels), "--no-cache-dir", "--disable-pip-version-check", requirement],
         "installing the release offline", env)


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    log.info("%s: %s", what, " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or r.stdout.strip().splitlines() or ["(no output)"])[-1]
        raise ReleaseError(f"{what} failed: {tail[:300]}", "see the updater log")
