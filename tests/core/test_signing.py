from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.core import signing
from nic_edge.errors import NicEdgeError, SignatureError


def test_sign_verify_and_device_binding() -> None:
    fleet = signing.generate_key()
    ka, kb = signing.derive_device_key(fleet, "dev-a"), signing.derive_device_key(fleet, "dev-b")
    assert ka != kb and len(ka) == 32
    payload = {"tier": "lite", "version": 3, "issued_at": 1.5}
    payload["sig"] = signing.sign(payload, "dev-a", ka)
    signing.verify(payload, "dev-a", ka)
    with pytest.raises(SignatureError):
        signing.verify(payload, "dev-b", kb)  # another device's key
    with pytest.raises(SignatureError):
        signing.verify(payload, "dev-b", ka)  # replayed to another device id
    with pytest.raises(SignatureError):
        signing.verify(dict(payload, tier="full"), "dev-a", ka)
    with pytest.raises(SignatureError):
        signing.verify({k: v for k, v in payload.items() if k != "sig"}, "dev-a", ka)


def test_key_files(tmp_path: Path) -> None:
    key = signing.generate_key()
    p = tmp_path / "k"
    signing.write_key(p, key)
    assert (p.stat().st_mode & 0o777) == 0o600
    assert signing.read_key(p) == key
    with pytest.raises(NicEdgeError):
        signing.write_key(p, key)
    (tmp_path / "bad").write_text("zz")
    with pytest.raises(NicEdgeError):
        signing.read_key(tmp_path / "bad")
