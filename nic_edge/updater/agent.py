"""The update agent: signed announcement -> verified bundle -> new venv -> switch -> health or rollback.

Every step is recorded in ``<prefix>/updater/state.json`` before it is taken, so an updater
killed at any point resumes correctly when systemd starts it again:

- killed while downloading or installing: ``current`` was never touched, the old version still
  runs; the partial venv is removed and ``failed`` is reported;
- killed after the switch: the health wait goes on (its deadline counts from the switch) and
  ends in ``applied`` or a rollback;
- killed while rolling back: the rollback is done again.

An announcement already handled (same bundle sha256) is not acted on again, so a retained
announcement of a release that was rolled back does not loop.
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
from typing import Any

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
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class UpdateAgent(Service):
    name = "updater"

    def __init__(self, cfg: Config) -> None:
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

    def report(self, version: str | None, status: str, reason: str | None, sha256: str | None = None) -> None:
        body = {"version": version, "status": status, "reason": reason, "ts": time.time(),
                "current": self.layout.current_version()}
        log.info("software %s %s%s", version, status, f": {reason}" if reason else "")
        state = self._state()
        state["last"] = dict(body, sha256=sha256)
        self._save(state)
        if self._client is not None:
            self._client.publish(self.topics["software/reported"], json.dumps(body), qos=1, retain=True)

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
        if phase == "idle":
            state.pop("job", None)
        self._save(state)
        return state

    # -- loop ------------------------------------------------------------------------------
    def run(self) -> None:
        self._resume()
        while not self.wait(0.2):
            try:
                payload = self._inbox.get_nowait()
            except queue.Empty:
                continue
            self.handle(payload)

    def handle(self, payload: bytes) -> None:
        try:
            ann = self._verify(payload)
        except NicEdgeError as exc:
            self.report(_version_of(payload), "rejected", exc.message)
            return
        last = self._state().get("last") or {}
        if last.get("sha256") == ann["sha256"] and last.get("version") == ann["version"]:
            return  # handled already (applied, or rolled back: not retried in a loop)
        current = self.layout.current_version()
        if ann["version"] == current:
            self.report(ann["version"], "applied", "already running this version", ann["sha256"])
        elif current and not is_newer(ann["version"], current) and not ann["allow_downgrade"]:
            self.report(ann["version"], "rejected", f"{ann['version']} is not newer than {current}; "
                        "a downgrade needs --allow-downgrade", ann["sha256"])
        else:
            self._apply(ann, current)

    def _verify(self, payload: bytes) -> dict[str, Any]:
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
        age = time.time() - ann["issued_at"]
        if age > self.cfg.fleet.max_age_s or -age > self.cfg.fleet.max_future_s:
            raise ReleaseError(f"announcement issued {age:.0f} s ago is outside the accepted window", "push it again")
        return ann

    # -- the update ------------------------------------------------------------------------
    def _apply(self, ann: dict[str, Any], current: str | None) -> None:
        version, sha = ann["version"], ann["sha256"]
        job = dict(version=version, sha256=sha, previous=current)
        self._phase("downloading", **job)
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
            self._phase("idle")
            status = "failed" if exc.message.startswith("download of") else "rejected"
            self.report(version, status, exc.message, sha)
            return
        self._phase("installing")
        venv = self.layout.venv(version)
        try:
            self.layout.remove(version)
            self.layout.venvs.mkdir(parents=True, exist_ok=True)
            extract_wheels(bundle, manifest, wheels)
            create_venv(self.sw.python, venv, self.sw.system_site_packages)
            pip_install(venv, wheels, manifest["requirement"])
        except (ReleaseError, OSError) as exc:
            self.layout.remove(version)
            self._phase("idle")
            self.report(version, "failed", f"install failed, still running {current}: {exc}", sha)
            return
        finally:
            _rmtree(wheels)
            bundle.unlink(missing_ok=True)
        self._phase("switched", switched_at=time.time())
        self.layout.switch(version)
        self._restart()
        self._confirm()

    def _confirm(self) -> None:
        job = self._state().get("job") or {}
        version, previous = job["version"], job.get("previous")
        ok, reason = wait_healthy(self.base_url, version, lambda t: self._online_at > t,
                                  lambda: restart_count(self.restarts_cmd), self.sw.crash_loop_restarts,
                                  self.sw.health_deadline_s, float(job.get("switched_at", time.time())), self._stop)
        if ok:
            self._phase("idle")
            gone = self.layout.prune({v for v in (version, previous) if v})
            self.report(version, "applied", None, job.get("sha256"))
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
            self._phase("idle")
            self.report(version, "failed", f"{reason}; no previous version to roll back to", job.get("sha256"))
            return
        self.layout.switch(previous)
        self._restart()
        self.layout.remove(version)
        self._phase("idle")
        self.report(version, "rolled_back", f"{reason}; back on {previous}", job.get("sha256"))

    def _restart(self) -> None:
        r = subprocess.run(shlex.split(self.restart_cmd), capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            log.error("%s failed: %s", self.restart_cmd, r.stderr.strip()[-300:])

    def _resume(self) -> None:
        state = self._state()
        phase, job = state.get("phase", "idle"), state.get("job") or {}
        if phase in ("downloading", "installing"):
            if job.get("version") and job["version"] != self.layout.current_version():
                self.layout.remove(job["version"])
            self._phase("idle")
            self.report(job.get("version"), "failed", "interrupted during download/install (updater restarted); "
                        f"still running {self.layout.current_version()}", job.get("sha256"))
        elif phase == "switched":
            self._confirm()
        elif phase == "rolling_back":
            self._rollback(str(job.get("reason", "interrupted rollback")))


def _version_of(payload: bytes) -> str | None:
    try:
        v = json.loads(payload).get("version")
    except (ValueError, AttributeError):
        return None
    return v if isinstance(v, str) else None


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def run_updater(cfg: Config) -> int:
    from nic_edge.core.lifecycle import Runtime  # noqa: PLC0415
    if not cfg.mqtt.host:
        raise ReleaseError("the updater needs mqtt.host (announcements come over MQTT)", "set [mqtt] host")
    runtime = Runtime()
    runtime.add(UpdateAgent(cfg))
    restore = runtime.install_signal_handlers()
    try:
        runtime.start()
        print(f"nic-edge updater for {cfg.device_id}: {runtime.services[0].layout.prefix}", flush=True)
        runtime.wait()
    finally:
        runtime.stop()
        restore()
    return 0
