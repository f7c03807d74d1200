"""Is the new version up? ``/healthz`` ok, ``/api/status`` reports the new version, and the box
said ``online`` on MQTT after the restart; a crash loop (the unit restarted again and again)
ends the wait early."""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Callable

log = logging.getLogger(__name__)

# PEP 440 (the public spelling rules of packaging's VERSION_PATTERN; packaging is not a dependency).
_PEP440 = re.compile(
    r"^\s*v?(?:(?P<epoch>\d+)!)?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>\d+)?)?"
    r"(?:-(?P<post_n1>\d+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d+)?)?"
    r"(?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d+)?)?"
    r"(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$", re.IGNORECASE)
_PRE = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}


def canonical_version(version: str) -> str:
    """The form two versions are compared in: PEP 440's normalisation, and trailing ".0"s
    dropped as PEP 440 compares them equal ("0.4.0-RC1" and "0.4.0rc1" -> "0.4rc1"). A string
    that is not a PEP 440 version is returned as it is (compared exactly)."""
    m = _PEP440.match(version)
    if m is None:
        return version
    release = [int(x) for x in m["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    out = (f"{int(m['epoch'])}!" if m["epoch"] and int(m["epoch"]) else "") + ".".join(map(str, release))
    if m["pre_l"]:
        out += _PRE.get(m["pre_l"].lower(), m["pre_l"].lower()) + str(int(m["pre_n"] or 0))
    if m["post_n1"] or m["post_l"]:
        out += ".post" + str(int(m["post_n1"] or m["post_n2"] or 0))
    if m["dev_l"]:
        out += ".dev" + str(int(m["dev_n"] or 0))
    if m["local"]:
        out += "+" + ".".join(str(int(p)) if p.isdigit() else p.lower() for p in re.split(r"[-_.]", m["local"]))
    return out


def restart_count(command: str) -> int | None:
    """The service's restart counter (``systemctl show -p NRestarts --value``), None if unknown."""
    try:
        r = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = r.stdout.strip()
    return int(out) if r.returncode == 0 and out.isdigit() else None


def _get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}


def wait_healthy(base_url: str, version: str, online_since: Callable[[float], bool], restarts: Callable[[], int | None],
                 crash_loop: int, deadline_s: float, since: float, stop: threading.Event,
                 poll_s: float = 0.5) -> tuple[bool, str]:
    """Wait until healthy (True, "") or not within ``deadline_s`` of ``since`` (False, reason).

    ``since`` is the wall-clock time of the restart; ``online_since(t)`` says whether an MQTT
    ``online`` arrived after ``t``.
    """
    base = restarts()
    last = "no answer on " + base_url + "/healthz"
    end = time.monotonic() + max(0.0, deadline_s - (time.time() - since))
    while time.monotonic() < end:
        n = restarts()
        if base is not None and n is not None and n - base >= crash_loop:
            return False, f"crash loop: the service restarted {n - base} times"
        code, body = _get_json(base_url + "/healthz")
        if code == 200 and body.get("status") == "ok":
            _, status = _get_json(base_url + "/api/status")
            got = status.get("version")
            # The service says its own spelling ("0.4.0-rc1"), the bundle the wheel's ("0.4.0rc1").
            if not isinstance(got, str) or canonical_version(got) != canonical_version(version):
                last = f"/api/status reports version {status.get('version')!r}, not {version}"
            elif not online_since(since):
                last = "MQTT status not online since the restart"
            else:
                return True, ""
        elif code:
            last = f"/healthz answered {code} {body.get('status', '')}".strip()
        if stop.wait(poll_s):
            return False, "updater stopped"
    return False, f"not healthy within {deadline_s:.0f} s: {last}"
