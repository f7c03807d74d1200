from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from nic_edge.core import ed25519  # noqa: E402
from nic_edge.errors import NicEdgeError, SignatureError  # noqa: E402


def test_generate_writes_private_0600_and_public_pub(tmp_path: Path) -> None:
    ed25519.generate(tmp_path / "sk")
    assert (tmp_path / "sk").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "sk.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert b"PRIVATE" not in (tmp_path / "sk.pub").read_bytes()
    with pytest.raises(NicEdgeError, match="already exists"):
        ed25519.generate(tmp_path / "sk")


def test_sign_verify_any_of_the_keys(tmp_path: Path) -> None:
    ed25519.generate(tmp_path / "a")
    ed25519.generate(tmp_path / "b")
    a, b = ed25519.load_private(tmp_path / "a"), ed25519.load_private(tmp_path / "b")
    pa, pb = ed25519.load_public(tmp_path / "a.pub"), ed25519.load_public((tmp_path / "b.pub").read_bytes())
    sig = ed25519.sign(a, b"data")
    assert sig == ed25519.sign(a, b"data")  # deterministic (RFC 8032)
    assert ed25519.verify([pa], b"data", sig)
    assert not ed25519.verify([pb], b"data", sig)
    assert ed25519.verify([pb, pa], b"data", sig)  # rotation overlap: either key
    assert not ed25519.verify([pa], b"datA", sig)
    assert not ed25519.verify([pa], b"data", "not base64!")
    assert not ed25519.verify([pa], b"data", sig[:-8])
    assert not ed25519.verify([], b"data", sig)
    with pytest.raises(SignatureError, match="holds no signing public key"):
        ed25519.require([], b"data", sig, "thing")
    with pytest.raises(SignatureError, match="thing: signature does not verify"):
        ed25519.require([pb], b"data", sig, "thing")


def test_key_ring_files_and_bad_files(tmp_path: Path) -> None:
    ed25519.generate(tmp_path / "a")
    ed25519.generate(tmp_path / "b")
    ring = tmp_path / "ring.pem"
    ring.write_bytes((tmp_path / "a.pub").read_bytes() + (tmp_path / "b.pub").read_bytes())
    keys = ed25519.load_public_keys(ring)
    assert [ed25519.key_id(k) for k in keys] == [ed25519.key_id(ed25519.load_private(tmp_path / n)) for n in "ab"]
    with pytest.raises(NicEdgeError, match="expected one public key"):
        ed25519.load_public(ring)
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(NicEdgeError, match="no PEM public key"):
        ed25519.load_public_keys(tmp_path / "junk")
    with pytest.raises(NicEdgeError, match="not a PEM private key"):
        ed25519.load_private(tmp_path / "a.pub")
    with pytest.raises(NicEdgeError, match="cannot read"):
        ed25519.load_private(tmp_path / "missing")
