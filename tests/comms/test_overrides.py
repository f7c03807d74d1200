"""Signed tier overrides: verification table (>= 30 hostile payloads), replay, clock handling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nic_edge.comms.overrides import Applied, OverrideManager, clock_synchronised
from nic_edge.core import override_state, signing

NOW = 1_800_000_000.0
FLEET = bytes(range(32))
KEY_A = signing.derive_device_key(FLEET, "dev-a")
KEY_B = signing.derive_device_key(FLEET, "dev-b")


class Box:
    """A fake runtime: remembers the tier applied."""

    def __init__(self) -> None:
        self.override: str | None = None
        self.applied: list[str | None] = []

    def apply(self, tier: str | None) -> Applied:
        self.override = tier
        self.applied.append(tier)
        return self.current()

    def current(self) -> Applied:
        return Applied(self.override, "override") if self.override else Applied("standard", "config")


def manager(tmp_path: Path, now: float = NOW, synced: bool = True, key: bytes | None = KEY_A) -> tuple[OverrideManager, Box, list]:
    box = Box()
    audit: list = []
    m = OverrideManager("dev-a", key, tmp_path, box.apply, box.current, max_age_s=3600, max_future_s=300,
                        clock=lambda: now, synced=lambda t: synced,
                        audit=lambda action, details, ok: audit.append((action, details, ok)))
    return m, box, audit


def signed(tier: Any = "lite", version: Any = 5, issued_at: Any = NOW - 10, device: str = "dev-a",
           key: bytes = KEY_A, **extra: Any) -> dict:
    body = {"tier": tier, "version": version, "issued_at": issued_at, **extra}
    body["sig"] = signing.sign(body, device, key)
    return body


def raw(d: Any) -> bytes:
    return json.dumps(d).encode()


def test_applies_and_persists(tmp_path: Path) -> None:
    m, box, audit = manager(tmp_path)
    rep = m.handle(raw(signed()))
    assert rep["status"] == "applied" and rep["tier"] == "lite" and rep["source"] == "override"
    assert rep["version"] == 5 and box.applied == ["lite"]
    assert override_state.read_override(tmp_path) == "lite"
    assert audit[-1][2] is True
    # the same retained message again (reconnect/reboot): a no-op that re-reports applied
    rep = m.handle(raw(signed()))
    assert rep["status"] == "applied" and box.applied == ["lite"]
    # a fresh manager (reboot) reads the persisted state
    m2, box2, _ = manager(tmp_path)
    assert m2.handle(raw(signed()))["status"] == "applied" and box2.applied == []


def test_a_local_override_is_reported_as_replacing_the_fleets(tmp_path: Path) -> None:
    m, box, _ = manager(tmp_path)
    m.handle(raw(signed()))
    # what DeviceApp.set_local_tier writes (POST /api/tier): the fleet's version stays the floor
    state = override_state.read_state(tmp_path)
    state.update(tier=None, source="local", applied_at=NOW)
    override_state.write_state(tmp_path, state)
    again = m.handle(raw(signed()))  # the retained message after a reconnect: not "applied"
    assert again["status"] == "rejected" and "local override" in again["reason"] and again["version"] == 5
    assert box.applied == ["lite"]  # the local choice stands
    assert m.reported_on_connect()["status"] == "rejected"
    assert m.handle(raw(signed(version=4)))["status"] == "rejected"  # still no replay below it
    newer = m.handle(raw(signed(tier="full", version=6)))  # the fleet pushes anew: it applies
    assert newer["status"] == "applied" and box.applied == ["lite", "full"]
    assert m.reported_on_connect()["status"] == "applied"


def test_signed_null_clears(tmp_path: Path) -> None:
    m, box, _ = manager(tmp_path)
    m.handle(raw(signed()))
    rep = m.handle(raw(signed(tier=None, version=6)))
    assert rep["status"] == "cleared" and rep["tier"] == "standard" and rep["source"] == "config"
    assert override_state.read_override(tmp_path) is None


def test_empty_payload_is_ignored_without_a_report(tmp_path: Path) -> None:
    m, box, _ = manager(tmp_path)
    applied = m.handle(raw(signed()))
    assert m.handle(b"") is None  # DESIGN: reports are applied|rejected|cleared; the last one stays
    assert m.last_report == applied and box.applied == ["lite"]
    assert override_state.read_override(tmp_path) == "lite"


def deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


def hostile_cases() -> list[tuple[str, bytes]]:
    good = signed()
    forged = dict(good, sig="0" * 64)
    flipped = dict(good, tier="full")  # signature no longer matches
    return [
        ("forged signature", raw(forged)),
        ("payload changed after signing", raw(flipped)),
        ("other device's key", raw(signed(key=KEY_B))),
        ("signed for another device id", raw(signed(device="dev-b", key=KEY_A))),
        ("fleet key used directly", raw(signed(key=FLEET))),
        ("missing sig", raw({"tier": "lite", "version": 5, "issued_at": NOW})),
        ("sig not hex", raw(dict(good, sig="zz" * 32))),
        ("sig too short", raw(dict(good, sig="ab"))),
        ("sig wrong type", raw(dict(good, sig=123))),
        ("stale", raw(signed(issued_at=NOW - 7200))),
        ("future", raw(signed(issued_at=NOW + 3600))),
        ("unknown tier", raw(signed(tier="turbo"))),
        ("tier wrong type", raw(signed(tier=3))),
        ("tier list", raw(signed(tier=["lite"]))),
        ("version string", raw(signed(version="7"))),
        ("version negative", raw(signed(version=-1))),
        ("version float", raw(signed(version=7.5))),
        ("version bool", raw(signed(version=True))),
        ("issued_at string", raw(signed(issued_at="now"))),
        ("extra key", raw(signed(admin=True))),
        ("missing version", raw({k: v for k, v in good.items() if k != "version"})),
        ("not an object", raw(["lite", 5])),
        ("JSON null", b"null"),
        ("JSON number", b"42"),
        ("malformed JSON", b'{"tier": "lite", '),
        ("invalid UTF-8", b'{"tier": "\xff\xfe"}'),
        ("1 MB payload", b'{"tier": "lite", "pad": "' + b"x" * 1_000_000 + b'"}'),
        ("JSON bomb nesting", deep(100_000)[:1000]),
        ("deep nesting within size", deep(400)),
        ("NaN constant", b'{"tier": "lite", "version": NaN, "issued_at": 1, "sig": "' + b"0" * 64 + b'"}'),
        ("Infinity issued_at", b'{"tier": "lite", "version": 9, "issued_at": Infinity, "sig": "' + b"0" * 64 + b'"}'),
        ("duplicate keys", b'{"tier": "lite", "tier": "full", "version": 9, "issued_at": 1, "sig": "' + b"0" * 64 + b'"}'),
        ("huge integer", b'{"tier": "lite", "version": ' + b"9" * 900 + b', "issued_at": 1, "sig": "' + b"0" * 64 + b'"}'),
        ("NUL bytes", b"\x00" * 64),
        ("BOM then JSON", b"\xef\xbb\xbf" + raw(good)),
    ]


@pytest.mark.parametrize("name,payload", hostile_cases(), ids=[c[0] for c in hostile_cases()])
def test_hostile_payloads_rejected(tmp_path: Path, name: str, payload: bytes) -> None:
    m, box, audit = manager(tmp_path)
    m.handle(raw(signed(tier="standard", version=3)))  # an override already applied
    before = override_state.read_state(tmp_path)
    rep = m.handle(payload)
    assert rep["status"] == "rejected", (name, rep)
    assert rep["reason"], name
    assert rep["tier"] == "standard"
    assert override_state.read_state(tmp_path) == before
    assert box.applied == ["standard"]
    assert audit[-1][0] == "tier_override" and audit[-1][2] is False


def test_at_least_thirty_cases() -> None:
    assert len(hostile_cases()) >= 30


def test_replay_and_same_version_different_payload(tmp_path: Path) -> None:
    m, box, _ = manager(tmp_path)
    assert m.handle(raw(signed(version=10)))["status"] == "applied"
    rep = m.handle(raw(signed(version=9, tier="full")))
    assert rep["status"] == "rejected" and "replay" in rep["reason"]
    rep = m.handle(raw(signed(version=10, tier="full")))
    assert rep["status"] == "rejected" and "different payload" in rep["reason"]
    assert box.applied == ["lite"]


def test_unsynchronised_clock_skips_age_but_keeps_version(tmp_path: Path) -> None:
    m, box, _ = manager(tmp_path, now=100.0, synced=False)
    rep = m.handle(raw(signed(version=4, issued_at=NOW)))  # far "future" for a 1970 clock
    assert rep["status"] == "applied" and "clock not synchronised" in rep["reason"]
    assert m.handle(raw(signed(version=3, issued_at=NOW)))["status"] == "rejected"


def test_no_device_key_refuses(tmp_path: Path) -> None:
    m, box, _ = manager(tmp_path, key=None)
    rep = m.handle(raw(signed()))
    assert rep["status"] == "rejected" and "fleet.key_file" in rep["reason"]


def test_clock_synchronised(tmp_path: Path) -> None:
    flag = tmp_path / "timesync" / "synchronized"
    assert clock_synchronised(NOW, flag)  # no timesyncd: trust a plausible clock
    flag.parent.mkdir()
    assert not clock_synchronised(NOW, flag)
    flag.write_text("")
    assert clock_synchronised(NOW, flag)
    assert not clock_synchronised(0.0, flag)


def test_forged_huge_version_is_rejected_and_does_not_lock_out_real_overrides(tmp_path: Path) -> None:
    m, box, _ = manager(tmp_path)
    real = int((NOW - 10) * 1000)
    rep = m.handle(raw(signed(version=2**80)))  # validly signed, absurd version
    assert rep["status"] == "rejected" and "too far ahead" in rep["reason"] and box.applied == []
    assert m.handle(raw(signed(version=real)))["status"] == "applied"
    assert m.handle(raw(signed(tier=None, version=real + 1)))["status"] == "cleared"


def test_stored_forged_version_from_an_older_build_is_ignored(tmp_path: Path) -> None:
    # what an older build left behind after applying a forged 2**80 version
    override_state.write_state(tmp_path, {"tier": "full", "source": "fleet", "version": 2**80,
                                          "payload_sha256": "x", "applied_at": NOW})
    m, box, _ = manager(tmp_path)
    rep = m.handle(raw(signed(tier="lite", version=int((NOW - 10) * 1000))))
    assert rep["status"] == "applied" and box.applied == ["lite"]
    # without a trustworthy clock the stored version still counts (nothing to judge it by)
    override_state.write_state(tmp_path, {"tier": "full", "source": "fleet", "version": 2**80,
                                          "payload_sha256": "x", "applied_at": NOW})
    m2, box2, _ = manager(tmp_path, synced=False)
    assert m2.handle(raw(signed(tier="lite", version=int((NOW - 10) * 1000))))["status"] == "rejected"
