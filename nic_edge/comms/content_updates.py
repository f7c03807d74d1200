"""Device side of content updates: retained ``content/desired`` -> download -> verify -> switch.

The MQTT thread only hands the payload over (``offer``); this service's thread does the work,
always on the newest offer (a box offline for days gets the latest retained desired state on
reconnect and applies just that). Order of checks, all before anything on the box changes:
schema, Ed25519 signature over the announcement (for this device id), version (an older one is a
replay; the same one with the same sha256 is a no-op that moves no bytes), model sha256 and index
format against what this box runs; then the download (resumed with HTTP Range, rate-capped,
retried with doubling backoff), size and sha256 of the file, the bundle's own signature and
manifest, and every file's sha256 while it is extracted. Only then is the new generation switched
in (``engine.bundle_install``). The result goes to retained ``content/reported``; the applied
version is persisted in ``<data_dir>/content/state.json`` (and in the generation's marker, which
wins after a crash between the switch and the state write).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable

from nic_edge.comms import content_schema as cs
from nic_edge.comms.download import Downloader, DownloadError
from nic_edge.comms.schema import SchemaError
from nic_edge.core import bundle as bundle_file
from nic_edge.core import ed25519
from nic_edge.core.lifecycle import Service
from nic_edge.core.storage import atomic_write_bytes
from nic_edge.errors import IndexStoreError, NicEdgeError, SignatureError

log = logging.getLogger(__name__)

KEYS_FILE = "keys.pem"  # the key ring adopted from the last applied bundle (wins over the flashed one)


class _Stopped(Exception):
    """The service is stopping mid-update: no report (the retained announcement resumes it)."""


class Rejected(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class ContentUpdater(Service):
    name = "content"

    def __init__(self, device_id: str, data_dir: Path, cfg: Any, public_keys: list[Any], *,
                 model_sha: Callable[[], str | None], index_format: int,
                 install: Callable[[bundle_file.Bundle], str], marker: Callable[[], dict | None],
                 publish: Callable[[dict[str, Any]], None] | None = None,
                 audit: Callable[[str, dict[str, Any], bool], None] | None = None,
                 on_device_keys: Callable[[Any], None] | None = None,
                 clock: Callable[[], float] = time.time, fault: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.device_id = device_id
        self.dir = Path(data_dir) / "content"
        self.cfg = cfg  # ContentConfig
        self.public_keys = list(public_keys)
        self._model_sha, self._format = model_sha, index_format
        self._install, self._marker = self._guard(install), marker
        self._publish = publish or (lambda rep: None)
        self._audit = audit
        self._on_device_keys = on_device_keys or (lambda blobs: None)  # HMAC key rotation (overrides)
        self._clock = clock
        self._fault = fault or (lambda step: None)
        self._offer_lock = threading.Lock()
        self._offer: bytes | None = None
        self._wake = threading.Event()
        self.downloader = Downloader(self._stop, cfg.rate_bytes_per_s, cfg.timeout_s, self._fault)
        self.phase = "idle"
        self.last_report: dict[str, Any] | None = None

    # -- state ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        try:
            data = json.loads((self.dir / "state.json").read_text("utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            log.error("content state unreadable (%s); treating as nothing applied", exc)
            data = {}
        return data if isinstance(data, dict) else {}

    def _save(self, state: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.dir / "state.json", json.dumps(state).encode("utf-8"))

    def _write_keys(self, data: bytes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.dir / KEYS_FILE, data)

    def applied_version(self) -> int | None:
        v = self.state().get("applied_version")
        return v if isinstance(v, int) else None

    def reconcile(self) -> None:
        """After a crash between the switch and the state write, the generation marker wins."""
        marker = self._marker()
        if marker is None:
            return
        state = self.state()
        if state.get("applied_version") is None or marker["version"] > state["applied_version"]:
            log.warning("content version %d is live but was not recorded (crash?); recording it", marker["version"])
            self._adopt_keys(marker.get("trusted_keys"), marker["version"])
            self._on_device_keys(marker.get("device_keys"))
            state.update(applied_version=marker["version"], sha256=None,
                         applied_at=self._clock())
            self._save(state)

    def status(self) -> dict[str, Any]:
        st = self.state()
        return {"applied_version": st.get("applied_version"), "applied_at": st.get("applied_at"),
                "phase": self.phase, "last_report": self.last_report,
                "bytes_downloaded": self.downloader.bytes_received,
                "keys": [ed25519.key_id(k) for k in self.public_keys]}

    # -- input from MQTT (any thread) --------------------------------------------------------
    def offer(self, payload: bytes) -> None:
        with self._offer_lock:
            self._offer = bytes(payload)
        self._wake.set()

    def _take(self) -> bytes | None:
        with self._offer_lock:
            payload, self._offer = self._offer, None
        return payload

    # -- thread ------------------------------------------------------------------------------
    def on_start(self) -> None:
        self.reconcile()

    def run(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(0.1):  # short: stop() sets only the stop event
                continue
            self._wake.clear()
            payload = self._take()
            if payload is None:
                continue
            try:
                self.handle(payload)
            except Exception:  # boundary: one bad update must not end content updates for good
                log.exception("content update crashed")
                self.phase = "idle"

    def _report(self, version: int | None, status: str, reason: str | None) -> dict[str, Any]:
        rep = cs.make_reported(version, status, reason, self._clock(), self.applied_version())
        self.last_report = rep
        if status != "applied" or reason:
            log.log(logging.INFO if status == "applied" else logging.WARNING,
                    "content version %s %s: %s", version, status, reason)
        if self._audit:
            self._audit("content_update", {"version": version, "status": status, "reason": reason},
                        status == "applied")
        self._publish(rep)
        return rep

    def handle(self, payload: bytes) -> dict[str, Any] | None:
        """Process one ``content/desired`` payload; returns the report (None: nothing to say)."""
        version: int | None = None
        try:
            desired = cs.parse_desired(payload)
            if desired is None:
                return None
            version = desired["version"]
            self._check(desired)
            if self._already(desired):
                return self._report(version, "applied", "already applied")
            self.phase = "downloading"
            part = self._download(desired)
            self.phase = "verifying"
            bundle = self._verify(desired, part)
            gen = self._switch(bundle, version, desired["sha256"])
            part.unlink(missing_ok=True)
            log.info("content version %d applied as %s", version, gen)
            return self._report(version, "applied", None)
        except SchemaError as exc:
            return self._report(version, "rejected", str(exc))
        except Rejected as exc:
            return self._report(version, exc.status, exc.reason)
        except _Stopped:
            log.info("content update of version %s interrupted by shutdown; resumes at the next start", version)
            return None
        except OSError as exc:  # the data dir (disk full, permissions); a switch done is found on restart
            return self._report(version, "failed", f"data dir error: {exc}")
        finally:
            self.phase = "idle"

    def apply_file(self, path: Path) -> dict[str, Any]:
        """Apply a bundle file that is already on the box: one flashed with the config
        (``nic-fleet flash --content``; first boot puts it in ``<data_dir>/content/``). The
        checks of a pushed bundle that do not need an announcement: the bundle's signature with
        the trusted keys, a version not older than what runs, this box's model and index format,
        every index file's sha256; then the same switch, key adoption and state. Returns the
        report (published like a pushed one's when MQTT is configured)."""
        version: int | None = None
        try:
            sha = bundle_file.file_digest(path)[0]
            try:
                b = bundle_file.read_bundle(path, self.public_keys)
            except NicEdgeError as exc:
                raise Rejected("rejected", f"flashed bundle refused: {exc.message}") from exc
            version = b.version
            if self.applied_version() == version:
                return self._report(version, "applied", "already applied")
            self._compatible(version, b.model_sha256, b.index_format, older="flashed", what="flashed bundle")
            gen = self._switch(b, version, sha, source="flashed")
            log.info("flashed content version %d applied as %s", version, gen)
            return self._report(version, "applied", None)
        except Rejected as exc:
            return self._report(version, exc.status, exc.reason)
        except OSError as exc:
            return self._report(version, "failed", f"data dir error: {exc}")
        finally:
            self.phase = "idle"

    def _compatible(self, version: int, model_sha: str | None, fmt: int, *, older: str = "replayed",
                    what: str = "bundle") -> None:
        """Refuse a version older than the applied one, another model or another index format."""
        applied = self.applied_version()
        if applied is not None and version < applied:
            raise Rejected("rejected", f"{older} version {version} < applied {applied}")
        mine = self._model_sha()
        if model_sha != mine:
            raise Rejected("rejected", f"{what} is for model {(model_sha or '?')[:12]}, this box runs "
                                       f"{(mine or 'no model')[:12]}")
        if fmt != self._format:
            raise Rejected("rejected", f"{what} index format {fmt}, this box reads format {self._format}")

    def _switch(self, bundle: bundle_file.Bundle, version: int, sha: str, **state: Any) -> str:
        """Install ``bundle`` (the atomic switch), adopt the keys it lists and record it as applied."""
        self.phase = "switching"
        gen = self._install(bundle)
        self._fault("switched")
        self._adopt_keys(bundle.manifest.get("trusted_keys"), version)
        self._on_device_keys(bundle.manifest.get("device_keys"))
        self._save({"applied_version": version, "sha256": sha, "generation": gen,
                    "applied_at": self._clock(), **state})
        return gen

    def _adopt_keys(self, pems: Any, version: int) -> None:
        """From now on trust exactly the keys the applied (signed) bundle lists: how a key
        rotation reaches boxes without reflashing (fleet/rotation.py)."""
        if not isinstance(pems, list) or not pems:
            return
        try:
            data = "".join(str(p) for p in pems).encode("ascii")
            keys = ed25519.load_public_keys(data)
        except (NicEdgeError, UnicodeEncodeError) as exc:
            log.error("bundle %d lists unusable trusted keys (%s); keeping the current ones", version, exc)
            return
        if len(keys) != len(pems):
            log.error("bundle %d lists malformed trusted keys; keeping the current ones", version)
            return
        self._write_keys(data)
        if {ed25519.key_id(k) for k in keys} != {ed25519.key_id(k) for k in self.public_keys}:
            log.warning("content signing keys now %s", ", ".join(ed25519.key_id(k) for k in keys))
        self.public_keys = keys

    def _check(self, d: dict[str, Any]) -> None:
        try:
            cs.verify_desired(d, self.device_id, self.public_keys)
        except SignatureError as exc:
            raise Rejected("rejected", exc.message) from exc
        self._compatible(d["version"], d["model_sha256"], d["format"])

    def _already(self, d: dict[str, Any]) -> bool:
        state = self.state()
        if state.get("applied_version") != d["version"]:
            return False
        if state.get("sha256") not in (None, d["sha256"]):
            raise Rejected("rejected", f"version {d['version']} was already applied with a different bundle")
        return True

    def _download(self, d: dict[str, Any]) -> Path:
        dl = self.dir / "download"
        dl.mkdir(parents=True, exist_ok=True)
        part = dl / f"{d['sha256']}.part"
        for old in dl.glob("*.part"):
            if old != part:
                old.unlink(missing_ok=True)  # a superseded version's partial download
        delay = self.cfg.retry_min_s
        for attempt in range(1, self.cfg.max_attempts + 1):
            try:
                self.downloader.fetch(d["url"], part, d["size"])
                break
            except DownloadError as exc:
                if self._stop.is_set():
                    raise _Stopped() from exc
                if exc.permanent or attempt == self.cfg.max_attempts:
                    verdict = "rejected" if "truncated" in exc.message or "more than" in exc.message else "failed"
                    raise Rejected(verdict, f"{exc.message} (attempt {attempt})") from exc
                log.info("content download attempt %d failed: %s; retrying in %.1fs", attempt, exc.message, delay)
                # A newer announcement interrupts the wait: it supersedes this one.
                if self._stop.wait(delay * (0.5 + 0.5 * random.random())):
                    raise _Stopped() from exc
                if self._offer is not None:
                    raise Rejected("failed", "superseded by a newer announcement during download retries") from exc
                delay = min(self.cfg.retry_max_s, delay * 2)
        sha = bundle_file.file_digest(part)[0]
        if sha != d["sha256"]:
            part.unlink(missing_ok=True)
            raise Rejected("rejected", f"sha256 mismatch: downloaded {sha[:12]}, announced {d['sha256'][:12]} "
                                       "(bundle altered or corrupted)")
        self._fault("downloaded")
        return part

    def _verify(self, d: dict[str, Any], part: Path) -> bundle_file.Bundle:
        try:
            b = bundle_file.read_bundle(part, self.public_keys)
        except NicEdgeError as exc:
            part.unlink(missing_ok=True)
            raise Rejected("rejected", f"bundle refused: {exc.message}") from exc
        for key, want, got in (("version", d["version"], b.version), ("model sha256", d["model_sha256"], b.model_sha256),
                               ("index format", d["format"], b.index_format)):
            if want != got:
                raise Rejected("rejected", f"bundle {key} {got} differs from the announced {want}")
        self._fault("verified")
        return b

    @staticmethod
    def _guard(install: Callable[[bundle_file.Bundle], str]) -> Callable[[bundle_file.Bundle], str]:
        """Wrap ``install`` so its failures become reports (bad member: rejected; disk: failed)."""
        def run(b: bundle_file.Bundle) -> str:
            try:
                return install(b)
            except bundle_file.BundleError as exc:
                raise Rejected("rejected", f"bundle refused: {exc.message}") from exc
            except (IndexStoreError, OSError) as exc:
                raise Rejected("failed", f"could not switch to the new index: {exc}") from exc
        return run
