"""Signed tier overrides on the device side (shadow pattern, DESIGN.md MQTT section).

The fleet tool publishes a retained ``tier/desired`` ``{tier|null, version, issued_at, sig}``.
This module verifies it (schema, HMAC with this device's derived key, version monotonicity,
age), applies it through a callback, persists it atomically in the data dir, and returns the
``tier/reported`` body to publish. A rejected message changes nothing. Pure logic: the MQTT
plumbing lives in the publisher; clocks and the apply step are injected so tests are exact.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nic_edge.comms import key_ring, schema
from nic_edge.core import override_state, signing
from nic_edge.errors import NicEdgeError, SignatureError, StorageError

log = logging.getLogger(__name__)

# A Pi has no RTC: before NTP its clock may read 1970 or the last shutdown time. Any time before
# this date cannot be real for this build, so the age check is skipped (the version check stays).
MIN_PLAUSIBLE_TIME = 1767225600.0  # 2026-01-01T00:00:00Z
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
# Versions are milliseconds since the epoch at issue (fleet/tools.py), +1 past the last report.
# A version further ahead of its issued_at than this cannot come from the fleet tool; accepted, it
# would make every later real override look like a replay (a 2**80 version locks a box out).
VERSION_WINDOW_MS = 30 * 86400 * 1000


def clock_synchronised(now: float, flag: Path = TIMESYNC_FLAG) -> bool:
    """False when the clock is implausible, or systemd-timesyncd runs but has not synced yet."""
    if now < MIN_PLAUSIBLE_TIME:
        return False
    if flag.parent.is_dir() and not flag.exists():
        return False
    return True


@dataclass(frozen=True)
class Applied:
    """What the runtime ended up with after applying (or clearing) an override."""
    tier: str
    source: str


class OverrideManager:
    """Verifies and applies desired tier states; thread-safe."""

    def __init__(self, device_id: str, device_key: bytes | None, data_dir: Path,
                 apply: Callable[[str | None], Applied], current: Callable[[], Applied],
                 max_age_s: float, max_future_s: float, clock: Callable[[], float] = time.time,
                 synced: Callable[[float], bool] = clock_synchronised,
                 audit: Callable[[str, dict[str, Any], bool], None] | None = None) -> None:
        self.device_id = device_id
        self._dir = Path(data_dir)
        # The key ring: the flashed device key, or the ring a fleet HMAC key rotation left
        # (<data_dir>/device-keys; both keys accepted until an override signed with the newer).
        self._keys = key_ring.load(self._dir) or ([device_key] if device_key else [])
        self._apply = apply
        self._current = current
        self._max_age = max_age_s
        self._max_future = max_future_s
        self._clock = clock
        self._synced = synced
        self._audit = audit
        self._lock = threading.Lock()
        self.last_report: dict[str, Any] | None = None

    def state(self) -> dict[str, Any]:
        return override_state.read_state(self._dir)

    def _report(self, status: str, reason: str | None, version: int | None) -> dict[str, Any]:
        cur = self._current()
        rep = schema.make_reported(cur.tier, cur.source, version, status, reason, self._clock())
        self.last_report = rep
        return rep

    def _reject(self, reason: str, version: int | None, payload: bytes) -> dict[str, Any]:
        log.warning("tier override rejected: %s", reason)
        if self._audit:
            self._audit("tier_override", {"status": "rejected", "reason": reason, "version": version,
                                          "payload_sha256": hashlib.sha256(payload).hexdigest()}, False)
        if version is None:  # unparseable: report against the last applied version
            state_version = self.state().get("version")
            version = state_version if isinstance(state_version, int) else None
        # The report names the version it answers, so the fleet tool can match it.
        return self._report("rejected", reason, version)

    def handle(self, payload: bytes) -> dict[str, Any] | None:
        """Process one ``tier/desired`` message; returns the ``tier/reported`` body, or None
        when there is nothing to report (an empty payload: the last report stays)."""
        with self._lock:
            return self._handle(bytes(payload))

    def _handle(self, payload: bytes) -> dict[str, Any] | None:
        state = self.state()
        last_version = state.get("version") if isinstance(state.get("version"), int) else None
        try:
            desired = schema.parse_desired(payload)
        except schema.SchemaError as exc:
            return self._reject(str(exc), None, payload)
        if desired is None:
            # A deleted retained message: by contract it changes nothing, so nothing is reported
            # either (DESIGN allows applied|rejected|cleared, and a report here would overwrite
            # the retained last real one).
            log.info("empty tier/desired (retained message deleted): override unchanged")
            return None
        version = desired["version"]
        now = self._clock()
        if last_version is not None and self._synced(now) and last_version > now * 1000 + VERSION_WINDOW_MS:
            # stored by an older build that took a forged jump: a real clock shows it cannot be
            # a real version, so it no longer blocks real overrides (restart or next message recovers)
            log.warning("stored override version %d is beyond any real clock; ignored for the replay check",
                        last_version)
            last_version = None
        if not self._keys:
            return self._reject("this device has no fleet key (fleet.key_file); overrides are refused", version, payload)
        try:
            key = key_ring.verify(desired, self.device_id, self._keys)
        except SignatureError as exc:
            return self._reject(exc.message, version, payload)
        digest = hashlib.sha256(signing.canonical_bytes(desired, self.device_id)).hexdigest()
        if version > desired["issued_at"] * 1000 + VERSION_WINDOW_MS:
            return self._reject(f"version {version} is too far ahead of issued_at (versions are issue times "
                                f"in ms); not applied so later overrides are not locked out", version, payload)
        if last_version is not None and version < last_version:
            return self._reject(f"replayed version {version} < last applied {last_version}", version, payload)
        if last_version == version:
            if state.get("payload_sha256") == digest:
                # The retained message seen again after a reconnect or reboot: a no-op, unless a
                # local override (POST /api/tier) replaced it since: then the report says so
                # instead of "applied"; a new version from the fleet applies again.
                if state.get("source") == "local":
                    return self._report("rejected", superseded(version), version)
                status = "cleared" if desired["tier"] is None else "applied"
                return self._report(status, "already applied", version)
            return self._reject(f"version {version} was already applied with a different payload", version, payload)
        notes = []
        if self._synced(now):
            issued = desired["issued_at"]
            if issued > now + self._max_future:
                return self._reject(f"issued_at is {issued - now:.0f}s in the future (max {self._max_future:.0f}s)", version, payload)
            if now - issued > self._max_age:
                return self._reject(f"stale: issued {now - issued:.0f}s ago (max {self._max_age:.0f}s)", version, payload)
        else:
            notes.append("clock not synchronised: age check skipped, version checked")
        tier = desired["tier"]
        previous = dict(state)
        try:
            override_state.write_state(self._dir, {
                "tier": tier, "source": "fleet", "version": version, "payload_sha256": digest, "applied_at": now})
        except StorageError as exc:  # a full disk: not applied, and the fleet hears why
            return self._reject(f"could not save the override: {exc.message}", version, payload)
        try:
            self._apply(tier)
        except NicEdgeError as exc:
            override_state.write_state(self._dir, previous)
            return self._reject(f"could not apply: {exc}", version, payload)
        if len(self._keys) > 1 and key == self._keys[-1]:
            # Signed with the newest key: the rotation reached this box; the old key is retired.
            self._keys = [key]
            key_ring.save(self._dir, self._keys)
            log.info("fleet HMAC key rotation complete on this box: old key retired")
        if self._audit:
            self._audit("tier_override", {"status": "applied", "tier": tier, "version": version}, True)
        log.info("tier override version %d applied: %s", version, tier or "cleared")
        return self._report("cleared" if tier is None else "applied", "; ".join(notes) or None, version)

    def adopt_wrapped(self, blobs: Any) -> None:
        """A content bundle carried this box's next HMAC key, wrapped under its current one."""
        if not isinstance(blobs, dict) or not isinstance(blobs.get(self.device_id), str):
            return
        with self._lock:
            try:
                new = key_ring.unwrap(self._keys, blobs[self.device_id], self.device_id)
            except NicEdgeError as exc:
                log.error("fleet key rotation: %s", exc)
                return
            if new not in self._keys:
                self._keys = self._keys[-1:] + [new]
                key_ring.save(self._dir, self._keys)
                log.info("fleet key rotation: new device key accepted alongside the current one")

    @property
    def key_count(self) -> int:
        return len(self._keys)

    def reported_on_connect(self) -> dict[str, Any]:
        """The report published on (re)connect: what is applied now."""
        state = self.state()
        version = state.get("version") if isinstance(state.get("version"), int) else None
        if state.get("source") == "local" and version is not None:
            return self._report("rejected", superseded(version), version)
        status = "applied" if state.get("tier") else "cleared"
        return self._report(status, "state on connect", version)


def superseded(version: int) -> str:
    return (f"fleet version {version} was replaced on the box by a local override (POST /api/tier); "
            "push a new version to apply the fleet's tier again")


def load_device_key(path: Path | None) -> bytes | None:
    """The device's derived key, or None when no key file is configured."""
    if path is None:
        return None
    try:
        return signing.read_key(path)
    except NicEdgeError as exc:
        log.error("cannot read the device key: %s", exc)
        return None
