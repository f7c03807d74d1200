"""nic-fleet release push against a real mosquitto: device ids follow the device id rule like
set-tier and content push, retained junk under an unusable id does not stop --all, options may
stand between the bundle and the devices; usage errors of push and build."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import pytest

from nic_edge.cli.fleet import main
from nic_edge.core import ed25519
from nic_edge.fleet.release import build_release
from tests.support.broker import Broker, Subscriber
from tests.support.release_box import service_wheels


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("rel")
    ed25519.generate(tmp / "k")
    app, links = service_wheels(tmp / "src", "1.4.0")
    out = tmp / "a.tar"
    build_release(out, tmp / "k", wheel=app, python_version=".".join(platform.python_version_tuple()[:2]),
                  arch=platform.machine(), find_links=[str(links)], no_index=True)
    return {"bundle": out, "key": tmp / "k"}


@pytest.fixture
def fleet(tmp_path: Path, mosquitto: Broker, release: dict[str, Path]) -> dict[str, Any]:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\n[fleet]\n'
                   f'signing_key_file = "{release["key"]}"\ncontent_url = "http://127.0.0.1:1/"\n')
    sub = Subscriber(mosquitto, ["nic/#"])
    yield {"cfg": cfg, "sub": sub, "bundle": release["bundle"], "key": release["key"]}
    sub.close()


def push(f: dict[str, Any], *targets: str) -> int:
    return main(["--config", str(f["cfg"]), "release", "push", str(f["bundle"]), *targets, "--no-wait"])


def retain(sub: Subscriber, topic: str, payload: bytes) -> None:
    sub.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)


def announced(sub: Subscriber) -> list[str]:
    """Topics of every software/desired published so far: a sentinel published last by this
    subscriber arrives after anything the (finished) push published."""
    retain(sub, "nic/sentinel/info", b"{}")
    assert sub.wait_for(lambda msgs: any(m.topic == "nic/sentinel/info" for m in msgs))
    return sorted(m.topic for m in sub.messages if m.topic.endswith("/software/desired"))


@pytest.mark.parametrize("bad", ["a/b", "x#", "d" * 100, "plus+", " lead"])
def test_an_id_the_topic_rule_refuses_is_refused_before_any_publish(
        fleet: dict[str, Any], capsys: pytest.CaptureFixture[str], bad: str) -> None:
    assert push(fleet, "box-1", bad) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not usable in a topic" in err, err
    assert "internal error" not in err
    assert announced(fleet["sub"]) == []  # not even box-1, named before it


def test_all_skips_retained_junk_under_an_unusable_id(fleet: dict[str, Any],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    sub = fleet["sub"]
    retain(sub, "nic/" + "j" * 600 + "/status", b"online")
    retain(sub, "nic/a/b/status", b"online")
    retain(sub, "nic/box-1/status", b"online")
    assert sub.wait_for(lambda msgs: any(m.topic == "nic/box-1/status" for m in msgs))
    try:
        assert push(fleet, "--all") == 0
        assert "box-1: announced 1.4.0" in capsys.readouterr().out
        assert announced(sub) == ["nic/box-1/software/desired"]
    finally:
        for t in ("nic/" + "j" * 600 + "/status", "nic/a/b/status", "nic/box-1/status",
                  "nic/box-1/software/desired", "nic/sentinel/info"):
            retain(sub, t, b"")


def test_options_between_the_bundle_and_the_devices(fleet: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--config", str(fleet["cfg"]), "release", "push", str(fleet["bundle"]), "--no-wait", "box-1",
               "--url", "http://127.0.0.1:1/a.tar", "box-2"])
    try:
        assert rc == 0, capsys.readouterr()
        out = capsys.readouterr().out
        assert "box-1: announced 1.4.0" in out and "box-2: announced 1.4.0" in out
        assert announced(fleet["sub"]) == ["nic/box-1/software/desired", "nic/box-2/software/desired"]
    finally:
        for dev in ("box-1", "box-2"):
            retain(fleet["sub"], f"nic/{dev}/software/desired", b"")


def test_push_usage_errors_go_to_stderr_in_one_line(fleet: dict[str, Any], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(fleet["cfg"]), "release", "push", str(fleet["bundle"])]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "name DEVICE... or pass --all" in err, (out, err)
    missing = tmp_path / "nothere.tar"
    assert main(["--config", str(fleet["cfg"]), "release", "push", str(missing), "--key", str(fleet["key"]),
                 "box-1"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "no such bundle file" in err and "download it again" not in err, err


@pytest.mark.parametrize("bad", ["3", "3.11.2", "3.x", "python3.11"])
def test_build_wants_major_minor_python(tmp_path: Path, release: dict[str, Path], bad: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["release", "build", "--out", str(tmp_path / "x.tar"), "--key", str(release["key"]), "--no-index",
              "--wheel", str(tmp_path / "nic_edge-1.0-py3-none-any.whl"), "--python-version", bad])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not MAJOR.MINOR" in err, err
    assert not (tmp_path / "x.tar").exists()
