from __future__ import annotations

import pytest

pytest.importorskip("cryptography")

from nic_edge.core import keywrap, signing  # noqa: E402
from nic_edge.errors import SignatureError  # noqa: E402


def test_wrap_unwrap_bound_to_key_and_device() -> None:
    old, new, other = signing.generate_key(), signing.generate_key(), signing.generate_key()
    blob = keywrap.wrap(old, new, "dev-a")
    assert blob == keywrap.wrap(old, new, "dev-a")  # deterministic: bundles stay byte-identical
    assert new.hex() not in blob
    assert keywrap.unwrap([other, old], blob, "dev-a") == new
    with pytest.raises(SignatureError):
        keywrap.unwrap([other], blob, "dev-a")
    with pytest.raises(SignatureError):
        keywrap.unwrap([old], blob, "dev-b")  # another box cannot use it
    with pytest.raises(SignatureError):
        keywrap.unwrap([old], blob[:-4] + "AAAA", "dev-a")
    with pytest.raises(SignatureError):
        keywrap.unwrap([old], "@@", "dev-a")
