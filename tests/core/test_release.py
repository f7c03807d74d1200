"""Release bundle format: built by nic-fleet release build, verified member by member."""

from __future__ import annotations

import io
import platform
import tarfile
from pathlib import Path

import pytest

from nic_edge.core import ed25519
from nic_edge.core.release import check_target, is_newer, read_bundle
from nic_edge.errors import ReleaseError
from nic_edge.fleet.release import build_release
from tests.support.release_box import service_wheels

ARCH = platform.machine()
PY = ".".join(platform.python_version_tuple()[:2])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("rel")
    key = tmp / "k"
    ed25519.generate(key)
    app, links = service_wheels(tmp / "src", "1.4.0")
    out = tmp / "a.tar"
    s = build_release(out, key, wheel=app, python_version=PY, arch=ARCH, find_links=[str(links)], no_index=True)
    return {"tmp": tmp, "key": key, "pub": ed25519.load_public_keys(Path(str(key) + ".pub")), "out": out,
            "app": app, "links": links, "summary": s}


def test_build_contents_and_determinism(built: dict) -> None:
    m = read_bundle(built["out"], built["pub"])
    assert m["name"] == "nic-edge" and m["version"] == "1.4.0" and m["requirement"] == "nic-edge==1.4.0"
    assert sorted(m["files"]) == ["wheels/nic_edge-1.4.0-py3-none-any.whl", "wheels/nic_fake_dep-1.0-py3-none-any.whl"]
    assert m["arch"] == [ARCH] and m["python"] == PY
    again = built["tmp"] / "b.tar"
    build_release(again, built["key"], wheel=built["app"], python_version=PY, arch=ARCH,
                  find_links=[str(built["links"])], no_index=True)
    assert again.read_bytes() == built["out"].read_bytes()


def _rewrite(src: Path, dst: Path, change: dict) -> None:
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()  # type: ignore[union-attr]
            data = change.get(m.name, lambda d: d)(data)
            if data is None:
                continue
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))
        for name, fn in change.items():
            if name not in tin.getnames():
                data = fn(b"")
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                tout.addfile(ti, io.BytesIO(data))


@pytest.mark.parametrize("change, reason", [
    ({"wheels/nic_edge-1.4.0-py3-none-any.whl": lambda d: d[:-1] + bytes([d[-1] ^ 1])}, "does not match the signed manifest"),
    ({"release.json": lambda d: d.replace(b"1.4.0", b"1.4.1")}, "signature does not verify"),
    ({"wheels/evil-1.0-py3-none-any.whl": lambda d: b"x"}, "does not list"),
    ({"wheels/nic_fake_dep-1.0-py3-none-any.whl": lambda d: None}, "missing"),
    ({"release.sig": lambda d: None}, "not a release bundle"),
])
def test_tampered_bundles_rejected(built: dict, tmp_path: Path, change: dict, reason: str) -> None:
    bad = tmp_path / "bad.tar"
    _rewrite(built["out"], bad, change)
    with pytest.raises(ReleaseError, match=reason):
        read_bundle(bad, built["pub"])


def test_foreign_key_and_garbage_rejected(built: dict, tmp_path: Path) -> None:
    other = tmp_path / "other"
    ed25519.generate(other)
    with pytest.raises(ReleaseError, match="signature does not verify"):
        read_bundle(built["out"], ed25519.load_public_keys(Path(str(other) + ".pub")))
    (tmp_path / "junk.tar").write_bytes(b"junk" * 300)
    with pytest.raises(ReleaseError, match="unreadable"):
        read_bundle(tmp_path / "junk.tar", built["pub"])


def test_target_and_versions() -> None:
    m = {"python": "3.11", "arch": ["aarch64"]}
    check_target(m, python="3.11", machine="aarch64")
    with pytest.raises(ReleaseError, match="this box is x86_64"):
        check_target(m, python="3.11", machine="x86_64")
    with pytest.raises(ReleaseError, match="python 3.11, this box runs 3.12"):
        check_target(m, python="3.12", machine="aarch64")
    assert is_newer("1.10.0", "1.9.2") and not is_newer("1.0.0", "1.0.0") and is_newer("1.0.0", "1.0.0rc1")


def test_cli_build_errors_one_line(tmp_path: Path) -> None:
    from tests.support.release_box import run_fleet
    r = run_fleet("release", "build", "--out", str(tmp_path / "x.tar"), "--key", str(tmp_path / "missing"))
    assert r.returncode == 1 and "cannot read signing key" in r.stderr and "Traceback" not in r.stderr
    assert run_fleet("release", "push", "--help").returncode == 0
