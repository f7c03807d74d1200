"""Is the new version up? ``/healthz`` ok, ``/api/status`` reports the new version, and the box
said ``online`` on MQTT after the restart; a crash loop (the unit restarted again and again)
ends the wait early."""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Callable

log = logging.getLogger(__name__)


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
            if status.get("version") != version:
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
