from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nic_edge.core.config import Config, data_dir, load_config, parse_config, read_secret
from nic_edge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def problems(data: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as e:
        parse_config(data, check_files=False)
    return dict(e.value.problems)


def test_defaults() -> None:
    cfg = parse_config({})
    assert cfg.http.bind == "127.0.0.1" and cfg.http.port == 8080
    assert cfg.mqtt.host == "" and cfg.mqtt.topic_prefix == "nic" and cfg.mqtt.reconnect_max_s == 10
    assert cfg.device.tier == "auto"
    assert cfg.aggregator.render_interval_s == 10


def test_example_config_is_valid_and_complete() -> None:
    cfg = load_config(ROOT / "config" / "device.example.toml")
    assert cfg == Config(source=cfg.source)  # documents every default
    rc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_example_config.py"), "--check"])
    assert rc.returncode == 0, "config/device.example.toml is out of date"


def test_config_is_frozen() -> None:
    cfg = parse_config({})
    with pytest.raises(Exception):
        cfg.http.port = 1  # type: ignore[misc]


@pytest.mark.parametrize("data,path,fragment", [
    ({"mqtt": {"port": 70000}}, "mqtt.port", "1-65535"),
    ({"mqtt": {"port": "1883"}}, "mqtt.port", "integer"),
    ({"mqtt": {"port": True}}, "mqtt.port", "integer"),
    ({"mqtt": {"tls": "yes"}}, "mqtt.tls", "true or false"),
    ({"mqtt": {"protocol": "4"}}, "mqtt.protocol", "one of"),
    ({"mqtt": {"topic_prefix": "a/#"}}, "mqtt.topic_prefix", "MQTT topic"),
    ({"mqtt": {"password": "x"}}, "mqtt.password", "unknown key"),
    ({"mqtt": {"username": ""}, "device": {"tier": "huge"}}, "device.tier", "'auto'"),
    ({"device": {"id": "a/b"}}, "device.id", "'/'"),
    ({"http": {"port": -1}}, "http.port", "0-65535"),
    ({"http": "x"}, "http", "table"),
    ({"nope": {}}, "nope", "unknown section"),
    ({"cache": {"l1_itmes": 3}}, "cache.l1_itmes", "unknown key"),
    ({"mqtt": {"metrics_interval_s": -5}}, "mqtt.metrics_interval_s", "must be"),
    ({"mqtt": {"cert_file": "c.pem", "key_file": "k.pem"}}, "mqtt.tls", "tls"),
    ({"mqtt": {"cert_file": "c.pem", "tls": True}}, "mqtt.key_file", "together"),
    ({"mqtt": {"password_file": "p"}}, "mqtt.username", "username"),
])
def test_invalid_values_name_key_path(data: dict, path: str, fragment: str) -> None:
    found = problems(data)
    assert path in found, found
    assert fragment in found[path]


def test_every_problem_reported_at_once() -> None:
    found = problems({"mqtt": {"port": 70000, "bogus": 1}, "http": {"port": "x"}})
    assert set(found) == {"mqtt.port", "mqtt.bogus", "http.port"}


def test_missing_secret_files_are_errors(tmp_path: Path) -> None:
    f = tmp_path / "d.toml"
    f.write_text('[mqtt]\nhost = "b"\nusername = "u"\npassword_file = "pw"\n[http]\ntoken_file = "tok"\n')
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert {p for p, _ in e.value.problems} == {"mqtt.password_file", "http.token_file"}
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "tok").write_text("t" * 16 + "\n")
    cfg = load_config(f)
    assert read_secret(cfg, "mqtt.password_file") == "s3cret"


def test_a_short_admin_token_is_refused_where_serve_would_refuse_it(tmp_path: Path) -> None:
    """check-config, flash and serve share one rule: a config that passes the first two must
    not make serve refuse to start (a systemd crash loop)."""
    from nic_edge.core.signing import generate_key
    from nic_edge.fleet.provision.bundle import build_bundle

    f = tmp_path / "d.toml"
    f.write_text('[device]\nid = "box-1"\n[http]\ntoken_file = "tok"\n')
    (tmp_path / "tok").write_text("short-token\n")  # 11 characters
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert e.value.problems == [("http.token_file", "token must be at least 16 characters (it has 11)")]
    r = subprocess.run([sys.executable, "-m", "nic_edge", "check-config", str(f)], capture_output=True, text=True)
    assert r.returncode == 2 and "at least 16 characters" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(ConfigError, match="at least 16 characters"):
        build_bundle({"device": {"id": "box-1"}, "http": {"token_file": "tok"}}, tmp_path, generate_key())
    (tmp_path / "tok").write_text("x" * 16 + "\n")
    assert load_config(f).http.token_file == "tok"
    build_bundle({"device": {"id": "box-1"}, "http": {"token_file": "tok"}}, tmp_path, generate_key())


def test_toml_syntax_and_unreadable(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[mqtt\nport=1")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert e.value.problems[0][0] == "(toml)"
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.toml")
    f.write_bytes(b"\xff\xfe[mqtt]")
    with pytest.raises(ConfigError):
        load_config(f)


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "d.toml"
    f.write_text('[device]\ndata_dir = "state"\n')
    cfg = load_config(f)
    monkeypatch.delenv("NIC_EDGE_DATA", raising=False)
    assert data_dir(cfg, None) == tmp_path / "state"
    monkeypatch.setenv("NIC_EDGE_DATA", "/x/env")
    assert data_dir(cfg, None) == Path("/x/env")
    assert data_dir(cfg, "/x/cli") == Path("/x/cli")
    monkeypatch.delenv("NIC_EDGE_DATA")
    assert data_dir(parse_config({}), None) == Path("nic-data")
