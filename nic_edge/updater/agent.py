"""The update agent: signed announcement -> verified bundle -> new venv -> switch -> health or rollback.

Every step is recorded in ``<prefix>/updater/state.json`` before it is taken, so an updater
killed at any point resumes correctly when systemd starts it again:

- killed while downloading or installing: ``current`` was never touched, the old version still
  runs; the partial venv and the download/unpacked wheels are removed and ``failed`` is reported;
- killed after the switch: the health wait goes on (its deadline counts from the switch) and
  ends in ``applied`` or a rollback;
- killed while rolling back: the rollback is done again.

An unexpected error while handling an announcement does not end the updater: the same resume
runs at once (``failed`` reported, or the health wait / rollback finished). When even that fails
(state.json cannot be written: a full or read-only disk) the process exits non-zero, so systemd
restarts it and the resume runs at the next start.

What is not acted on again: the very announcement already handled (a retained message is
delivered again at every reconnect and restart), a bundle already applied (its outcome is
reported again, so a re-push ends at once) and a bundle rolled back before (known bad, the last
``KNOWN_BAD`` remembered). A bundle that ``failed`` (download error, disk full, interrupted) is
installed again when it is pushed again.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from nic_edge.core import ed25519
from nic_edge.core.config import Config, file_in_config
from nic_edge.core.lifecycle import Service
from nic_edge.core.release import (FORMAT, announcement_bytes, check_target, check_version, extract_wheels, is_newer,
                                   read_bundle)
from nic_edge.core.storage import atomic_write_bytes
from nic_edge.errors import NicEdgeError, ReleaseError
from nic_edge.updater.health import restart_count, wait_healthy
from nic_edge.updater.install import Layout, create_venv, download, pip_install

log = logging.getLogger(__name__)

PACKAGE = "nic-edge"
KNOWN_BAD = 32  # rolled-back bundles remembered (a replayed old announcement of one is refused)
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class UpdateAgent(Service):
    name = "updater"

    def __init__(self, cfg: Config, on_fatal: Callable[[], None] | None = None) -> None:
        super().__init__()
        sw = cfg.software
        self.cfg, self.sw, self.device = cfg, sw, cfg.device_id
        self.layout = Layout(file_in_config(cfg, sw.prefix))
        self.keys = (ed25519.load_public_keys(file_in_config(cfg, cfg.fleet.signing_pub_file))
                     if cfg.fleet.signing_pub_file else [])
        p = cfg.mqtt.topic_prefix
        self.topics = {k: f"{p}/{self.device}/{k}" for k in ("software/desired", "software/reported", "status")}
        self.base_url = (sw.health_url or f"http://127.0.0.1:{cfg.http.port}").rstrip("/")
        self.restart_cmd = sw.restart_command or f"systemctl restart {sw.service}"
        self.restarts_cmd = sw.restarts_command or f"systemctl show -p NRestarts --value {sw.service}"
        self.state_path = self.layout.work / "state.json"
        self.exit_code = 0  # 1 after an error the loop could not recover from (run_updater returns it)
        self._on_fatal = on_fatal or (lambda: None)
        self._inbox: "queue.Queue[bytes]" = queue.Queue()
        self._online_at = 0.0
        self._client: Any = None

    # -- MQTT ------------------------------------------------------------------------------
    def on_start(self) -> None:
        from nic_edge.core.mqtt_client import make_client  # noqa: PLC0415 - paho lazily
        self.layout.work.mkdir(parents=True, exist_ok=True)
        c = make_client(self.cfg, f"nic-updater-{self.device}"[:64])
        c.on_connect = lambda cl, *_: cl.subscribe([(self.topics["software/desired"], 1), (self.topics["status"], 1)])
        c.on_message = self._on_message
        c.reconnect_delay_set(1, int(self.cfg.mqtt.reconnect_max_s))
        c.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, self.cfg.mqtt.keepalive)
        c.loop_start()
        self._client = c

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if msg.topic == self.topics["status"]:
            if bytes(msg.payload) == b"online":
                self._online_at = time.time()
        elif msg.payload:  # an empty retained payload clears the announcement: nothing to do
            self._inbox.put(bytes(msg.payload))

    def on_stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def report(self, version: str | None, status: str, reason: str | None, sha256: str | None = None,
               sig: str | None = None, done: bool = False) -> None:
        """Publish the outcome and remember it. ``sig``: the announcement it answers (set once
        its signature verified; that announcement again is not acted on). ``done``: the job in
        state.json is over (phase idle in the same write)."""
        body = {"version": version, "status": status, "reason": reason, "ts": time.time(),
                "current": self.layout.current_version(), "sha256": sha256}
        log.info("software %s %s%s", version, status, f": {reason}" if reason else "")
        # Published before state.json is written: when the write fails (full or read-only disk)
        # the fleet still learns the outcome; the resume at the next start may say it again.
        if self._client is not None:
            self._client.publish(self.topics["software/reported"], json.dumps(body), qos=1, retain=True)
        state = self._state()
        state["last"] = dict(body, sig=sig)
        if status == "rolled_back" and sha256:
            bad = [b for b in _known_bad(state) if b.get("sha256") != sha256]
            state["rolled_back"] = (bad + [{"sha256": sha256, "version": version, "reason": reason,
                                             "ts": body["ts"]}])[-KNOWN_BAD:]
        if status == "applied" and done:  # installed by this updater, not "already running"
            state["applied"] = {"version": version, "sha256": sha256}
        if done:
            state["phase"] = "idle"
            state.pop("job", None)
        self._save(state)

    # -- state -----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text("utf-8"))
        except (OSError, ValueError):
            return {"phase": "idle"}
        return data if isinstance(data, dict) else {"phase": "idle"}

    def _save(self, state: dict[str, Any]) -> None:
        atomic_write_bytes(self.state_path, json.dumps(state, sort_keys=True).encode(), mode=0o600)

    def _phase(self, phase: str, **job: Any) -> dict[str, Any]:
        state = self._state()
        state["phase"] = phase
        state.setdefault("job", {}).update(job)
        self._save(state)
        return state

    # -- loop ------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._resume()
            while not self.wait(0.2):
                try:
                    payload = self._inbox.get_nowait()
                except queue.Empty:
                    continue
                self._handle_guarded(payload)
        except Exception as exc:  # boundary: not even the resume worked; systemd restarts us
            log.error("updater cannot go on (%s: %s); exiting so that systemd restarts it and the next "
                      "start resumes from %s", type(exc).__name__, exc, self.state_path)
            self.exit_code = 1
            self._on_fatal()

    def _handle_guarded(self, payload: bytes) -> None:
        """handle(), and when it fails in a way it did not foresee, the resume of a restart at
        once (a dead loop would leave the box switched but unchecked, or the job unreported)."""
        try:
            self.handle(payload)
        except Exception as exc:  # boundary: the next announcement must still be handled
            why = f"updater error {type(exc).__name__}: {exc}"
            log.error("%s; resuming from %s", why, self.state_path)
            if not self._resume(why):  # nothing recorded yet: say it failed, nothing was touched
                self.report(_field(payload, "version"), "failed",
                            f"{why}; still running {self.layout.current_version()}", _sha_of(payload))

    def handle(self, payload: bytes) -> None:
        try:
            ann = self._verify(payload)
        except NicEdgeError as exc:
            self.report(_field(payload, "version"), "rejected", exc.message, _sha_of(payload))
            return
        version, sha, sig = ann["version"], ann["sha256"], ann["sig"]
        state = self._state()
        if (state.get("last") or {}).get("sig") == sig:
            return  # this very announcement again (retained: redelivered at each reconnect); answered already
        # Known outcomes first, before the age window: the retained announcement of the running
        # release is weeks old after a long quiet spell, and that is no reason to reject it.
        bad = next((b for b in _known_bad(state) if b.get("sha256") == sha), None)
        current = self.layout.current_version()
        if bad is not None:
            self.report(version, "rolled_back", f"this bundle was rolled back before ({bad.get('reason')}); "
                        "not installed again: build and push a new version", sha, sig)
        elif version == current:
            applied = (state.get("applied") or {}).get("sha256") == sha
            self.report(version, "applied", "already applied" if applied else "already running this version",
                        sha, sig)
        elif not self._in_window(ann):
            age = time.time() - ann["issued_at"]
            self.report(version, "rejected", f"announcement issued {age:.0f} s ago is outside the accepted window",
                        sha)  # no sig: a push from a clock ahead may fit the window later
        elif current and not is_newer(version, current) and not ann["allow_downgrade"]:
            self.report(version, "rejected", f"{version} is not newer than {current}; "
                        "a downgrade needs --allow-downgrade", sha, sig)
        else:
            self._apply(ann, current)

    def _verify(self, payload: bytes) -> dict[str, Any]:
        """Form and signature (the age window is checked after the known outcomes)."""
        try:
            ann = json.loads(payload)
        except ValueError:
            raise ReleaseError("announcement is not JSON", "publish with nic-fleet release push") from None
        if not isinstance(ann, dict):
            raise ReleaseError("announcement is not a JSON object", "publish with nic-fleet release push")
        check_version(ann.get("version"))
        if ann.get("format") != FORMAT:
            raise ReleaseError(f"announcement format {ann.get('format')!r} is not {FORMAT}", "update the updater")
        if not (isinstance(ann.get("size"), int) and 0 < ann["size"] <= 4 << 30 and isinstance(ann.get("url"), str)
                and isinstance(ann.get("sha256"), str) and _SHA_RE.match(ann["sha256"])
                and isinstance(ann.get("allow_downgrade"), bool) and isinstance(ann.get("issued_at"), (int, float))
                and isinstance(ann.get("sig"), str)):
            raise ReleaseError("announcement fields missing or of the wrong type", "publish with nic-fleet release push")
        if not self.keys:
            raise ReleaseError("this box holds no release signing key", "set fleet.signing_pub_file")
        if not ed25519.verify(self.keys, announcement_bytes(ann, self.device), ann["sig"]):
            raise ReleaseError("announcement signature does not verify with the trusted key(s)",
                               "signed with another key, for another device, or altered")
        return ann

    def _in_window(self, ann: dict[str, Any]) -> bool:
        age = time.time() - ann["issued_at"]
        return age <= self.cfg.fleet.max_age_s and -age <= self.cfg.fleet.max_future_s

    # -- the update ------------------------------------------------------------------------
    def _apply(self, ann: dict[str, Any], current: str | None) -> None:
        version, sha, sig = ann["version"], ann["sha256"], ann["sig"]
        self._phase("downloading", version=version, sha256=sha, sig=sig, previous=current)
        bundle = self.layout.work / f"release-{sha[:16]}.tar"
        wheels = self.layout.work / f"wheels-{version}"
        try:
            download(ann["url"], bundle, ann["size"], sha, self.sw.download_timeout_s)
            manifest = read_bundle(bundle, self.keys)
            check_target(manifest)
            if manifest["version"] != version or manifest.get("name") != PACKAGE:
                raise ReleaseError(f"bundle holds {manifest.get('name')} {manifest['version']}, announced {PACKAGE} {version}",
                                   "announce the bundle that was built")
        except ReleaseError as exc:
            bundle.unlink(missing_ok=True)
            status = "failed" if exc.message.startswith("download of") else "rejected"
            self.report(version, status, exc.message, sha, sig, done=True)
            return
        self._phase("installing")
        failure: Exception | None = None
        try:
            self.layout.remove(version)
            self.layout.venvs.mkdir(parents=True, exist_ok=True)
            # Only the wheels just verified: pip --find-links takes whatever lies in the directory.
            _rmtree(wheels)
            extract_wheels(bundle, manifest, wheels)
            create_venv(self.sw.python, self.layout.venv(version), self.sw.system_site_packages)
            pip_install(self.layout.venv(version), wheels, manifest["requirement"])
        except (ReleaseError, OSError) as exc:
            failure = exc
        finally:
            _rmtree(wheels)
            bundle.unlink(missing_ok=True)
        if failure is not None:
            # The venv's space back before state.json is written: on a full disk that write needs it.
            self.layout.remove(version)
            self.report(version, "failed", f"install failed, still running {current}: {failure}", sha, sig, done=True)
            return
        self._phase("switched", switched_at=time.time())
        self.layout.switch(version)
        err = self._restart()
        if err:  # the health wait would only run out its deadline (the restart used it up)
            self._rollback(f"restarting the service on {version} failed: {err}")
        else:
            self._confirm()

    def _confirm(self) -> None:
        job = self._state().get("job") or {}
        version, previous = job["version"], job.get("previous")
        ok, reason = wait_healthy(self.base_url, version, lambda t: self._online_at > t,
                                  lambda: restart_count(self.restarts_cmd), self.sw.crash_loop_restarts,
                                  self.sw.health_deadline_s, float(job.get("switched_at", time.time())), self._stop)
        if ok:
            gone = self.layout.prune({v for v in (version, previous) if v})
            self.report(version, "applied", None, job.get("sha256"), job.get("sig"), done=True)
            log.info("applied %s (kept %s, removed %s)", version, previous, gone)
        elif reason == "updater stopped":
            return  # resumed at the next start
        else:
            self._rollback(reason)

    def _rollback(self, reason: str) -> None:
        job = self._state().get("job") or {}
        version, previous = job["version"], job.get("previous")
        self._phase("rolling_back", reason=reason)
        if not previous:
            self.report(version, "failed", f"{reason}; no previous version to roll back to", job.get("sha256"),
                        job.get("sig"), done=True)
            return
        self.layout.switch(previous)
        err = self._restart()
        self.layout.remove(version)
        note = f" (restarting it: {err})" if err else ""
        self.report(version, "rolled_back", f"{reason}; back on {previous}{note}", job.get("sha256"), job.get("sig"),
                    done=True)

    def _restart(self) -> str | None:
        """Restart the service; None, or why it did not work. Bounded by the health deadline:
        a restart hanging longer cannot end healthy in time anyway."""
        timeout = self.sw.health_deadline_s
        try:
            r = subprocess.run(shlex.split(self.restart_cmd), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            err = f"{self.restart_cmd} did not finish within {timeout:.0f} s"
        except OSError as exc:
            err = f"{self.restart_cmd} could not run: {exc}"
        else:
            if r.returncode == 0:
                return None
            err = f"{self.restart_cmd} exited {r.returncode}: {r.stderr.strip()[-300:]}"
        log.error("%s", err)
        return err

    def _resume(self, why: str | None = None) -> bool:
        """Finish the job state.json records (at start, or after an unexpected error: ``why``).
        True when there was one."""
        gone = self.layout.clean_work()
        if gone:
            log.info("removed leftovers of an earlier run: %s", ", ".join(gone))
        state = self._state()
        phase, job = state.get("phase", "idle"), state.get("job") or {}
        if phase in ("switched", "rolling_back") and not job.get("version"):
            # Nothing to check or roll back to (an edited state.json): resuming would fail at
            # every start; say so once instead.
            self.report(None, "failed", f"state.json says {phase} but names no version; "
                        f"running {self.layout.current_version()}", done=True)
        elif phase in ("downloading", "installing"):
            if job.get("version") and job["version"] != self.layout.current_version():
                self.layout.remove(job["version"])
            cause = why or "interrupted during download/install (updater restarted)"
            self.report(job.get("version"), "failed", f"{cause}; still running {self.layout.current_version()}",
                        job.get("sha256"), job.get("sig"), done=True)
        elif phase == "switched":
            self._confirm()
        elif phase == "rolling_back":
            self._rollback(str(job.get("reason", "interrupted rollback")))
        else:
            return False
        return True


def _field(payload: bytes, key: str) -> str | None:
    try:
        v = json.loads(payload).get(key)
    except (ValueError, AttributeError):
        return None
    return v if isinstance(v, str) else None


def _sha_of(payload: bytes) -> str | None:
    sha = _field(payload, "sha256")
    return sha if sha and _SHA_RE.match(sha) else None


def _known_bad(state: dict[str, Any]) -> list[dict[str, Any]]:
    bad = state.get("rolled_back")
    return [b for b in bad if isinstance(b, dict)] if isinstance(bad, list) else []


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def run_updater(cfg: Config) -> int:
    """The updater process; exits 1 when its loop could not go on (systemd restarts it)."""
    from nic_edge.core.lifecycle import Runtime  # noqa: PLC0415
    if not cfg.mqtt.host:
        raise ReleaseError("the updater needs mqtt.host (announcements come over MQTT)", "set [mqtt] host")
    runtime = Runtime()
    agent = UpdateAgent(cfg, on_fatal=runtime.request_stop)
    runtime.add(agent)
    restore = runtime.install_signal_handlers()
    try:
        runtime.start()
        print(f"nic-edge updater for {cfg.device_id}: {agent.layout.prefix}", flush=True)
        runtime.wait()
    finally:
        runtime.stop()
        restore()
    return agent.exit_code
