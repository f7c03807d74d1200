"""Configuration: TOML read with tomllib into frozen dataclasses.

Unknown keys are errors; every error names its key path and a hint (``mqtt.port: must be
1-65535``). Secrets are never inline: only paths to files that hold them.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nic_edge.core.config_files import FILE_KEYS, file_problems, resolve_path
from nic_edge.errors import ConfigError

TIER_NAMES = ("ultra_lite", "lite", "standard", "full")

Check = Callable[[Any], str | None]


def _opt(default: Any, check: Check | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"check": check, "doc": doc})


def _range(lo: float, hi: float) -> Check:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"must be {lo:g}-{hi:g}"
    return check


def _one_of(*choices: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in choices else "must be one of " + ", ".join(repr(c) for c in choices)
    return check


def device_id_problem(v: str) -> str | None:
    """The device id rule (DESIGN.md): what is wrong with ``v``, or None. Shared by the config,
    the MQTT topic boundary (comms/schema.py) and the fleet tools."""
    if not v or len(v) > 64 or any(c in v for c in "/+#") or not v.isprintable() or v.strip() != v:
        return "must be 1-64 printable characters without '/', '+', '#' or surrounding spaces"
    return None


def _device_id(v: str) -> str | None:
    return None if v == "" else device_id_problem(v)  # "" is filled from the hostname


def _tier(v: str) -> str | None:
    return None if v == "auto" or v in TIER_NAMES else "must be 'auto' or one of " + ", ".join(TIER_NAMES)


def _http_url(v: str) -> str | None:
    if v == "" or (v.startswith(("http://", "https://")) and len(v) > 8 and not any(c.isspace() for c in v)):
        return None
    return "must be an http:// or https:// URL (or empty for off)"


def _topic_prefix(v: str) -> str | None:
    if not v or any(c in v for c in "+#") or v.startswith("/") or v.endswith("/"):
        return "must be a non-empty MQTT topic without '+', '#' or leading/trailing '/'"
    return None


@dataclass(frozen=True)
class DeviceConfig:
    id: str = _opt("", _device_id, "device id; empty = the hostname")
    tier: str = _opt("auto", _tier, "'auto' or ultra_lite|lite|standard|full")
    data_dir: str = _opt("", None, "data dir; empty = $NIC_EDGE_DATA or ./nic-data")


@dataclass(frozen=True)
class HttpConfig:
    bind: str = _opt("127.0.0.1", None, "address to bind; 0.0.0.0 serves the LAN")
    port: int = _opt(8080, _range(0, 65535), "TCP port (0 = any free port)")
    token_file: str = _opt("", None, "file holding the admin bearer token (at least 16 characters); empty = admin routes off")
    max_body_bytes: int = _opt(16384, _range(1024, 10 * 1024 * 1024), "largest request body")
    request_timeout_s: float = _opt(10.0, _range(0.5, 300), "socket timeout per request")
    header_timeout_s: float = _opt(5.0, _range(0.5, 300), "a request head must arrive within this")
    body_timeout_s: float = _opt(5.0, _range(0.5, 300), "a request body must arrive within this")
    max_pending_per_client: int = _opt(16, _range(1, 4096),
                                       "requests still arriving per client address; beyond, its oldest is dropped")
    workers: int = _opt(8, _range(1, 256), "most requests handled at once")


@dataclass(frozen=True)
class MqttConfig:
    host: str = _opt("", None, "broker host; empty = no MQTT")
    port: int = _opt(1883, _range(1, 65535), "broker port")
    protocol: str = _opt("3.1.1", _one_of("3.1.1", "5"), "MQTT protocol version")
    tls: bool = _opt(False, None, "use TLS")
    ca_file: str = _opt("", None, "CA bundle for TLS; empty = system CAs")
    cert_file: str = _opt("", None, "client certificate (optional)")
    key_file: str = _opt("", None, "client certificate key (optional)")
    username: str = _opt("", None, "username (optional)")
    password_file: str = _opt("", None, "file holding the password")
    topic_prefix: str = _opt("nic", _topic_prefix, "topic prefix")
    client_id: str = _opt("", None, "client id; empty = nic-edge-<device id>")
    keepalive: int = _opt(30, _range(5, 3600), "keepalive seconds")
    metrics_interval_s: float = _opt(0.0, _range(0, 86400), "seconds between snapshots; 0 = tier")
    reconnect_max_s: float = _opt(10.0, _range(1, 3600), "reconnect backoff cap")
    spool_max_bytes: int = _opt(8 * 1024 * 1024, _range(4096, 1 << 34), "outbox byte cap")
    replay_rate_per_s: float = _opt(50.0, _range(1, 100000), "backlog messages per second")
    ha_discovery: bool = _opt(False, None, "publish Home Assistant discovery configs")
    ha_prefix: str = _opt("homeassistant", _topic_prefix, "Home Assistant discovery prefix")


@dataclass(frozen=True)
class CacheConfig:
    enabled: bool = _opt(True, None, "answer cache on/off")
    l1_items: int = _opt(0, _range(0, 1_000_000), "L1 answers; 0 = tier (at least 64)")
    l1_bytes: int = _opt(0, _range(0, 1 << 32), "L1 bytes; 0 = tier")
    l2_enabled: bool = _opt(True, None, "LMDB L2 on/off")
    l2_max_bytes: int = _opt(0, _range(0, 1 << 40), "L2 byte budget; 0 = tier")
    l2_ttl_s: float = _opt(0.0, _range(0, 1e9), "L2 time to live; 0 = tier")
    compress_min_bytes: int = _opt(512, _range(0, 1 << 24), "zlib values larger than this")
    write_behind_s: float = _opt(1.0, _range(0, 3600), "batch L2 writes into one commit per this many seconds (0 = write through)")


@dataclass(frozen=True)
class EngineConfig:
    top_k: int = _opt(0, _range(0, 100), "chunks retrieved; 0 = tier")
    abstain_threshold: float = _opt(-1.0, _range(-1, 1),
                                    "confidence below this abstains; -1 = this index's calibrated threshold")
    target_abstain: float = _opt(0.80, _range(0.5, 0.99),
                                 "per-index calibration: share of off-topic questions to abstain on")
    max_question_chars: int = _opt(2000, _range(10, 100000), "longest question accepted")
    rerank: str = _opt("auto", _one_of("auto", "on", "off"),
                       "weigh the meaning of close candidate quotes (vectors stored when indexing); auto = tier")
    words_file: str = _opt("", None, "more groups of interchangeable words beside the bundled list "
                                     "(one group per line, e.g. 'dispenser drawer'); empty = bundled only")


@dataclass(frozen=True)
class AlertsConfig:
    enabled: bool = _opt(True, None, "evaluate alert rules")
    rules_file: str = _opt("", None, "alert rules TOML; empty = bundled config/alerts.toml")
    eval_interval_s: float = _opt(5.0, _range(0.1, 3600), "seconds between rule evaluations")


@dataclass(frozen=True)
class AuditConfig:
    enabled: bool = _opt(True, None, "write the audit log")
    log_question_text: bool = _opt(False, None, "store question text (else only its hash)")
    max_bytes: int = _opt(1024 * 1024, _range(1024, 1 << 32), "rotate after this size")
    backups: int = _opt(3, _range(0, 100), "rotated files kept")


@dataclass(frozen=True)
class FleetConfig:
    key_file: str = _opt("", None, "device: its derived key; fleet tools: the fleet key")
    max_age_s: float = _opt(7 * 86400.0, _range(0, 1e9), "reject desired states older than this")
    max_future_s: float = _opt(300.0, _range(0, 1e9), "reject desired states from further ahead")
    report_timeout_s: float = _opt(30.0, _range(0.1, 3600), "nic-fleet: wait this long for reports")
    signing_key_file: str = _opt("", None, "nic-fleet: Ed25519 content signing key (keygen --signing)")
    signing_pub_file: str = _opt("", None, "public key(s) content bundles must be signed with; empty = content updates refused")
    content_url: str = _opt("", None, "nic-fleet content push: base URL the bundles folder is served at")


@dataclass(frozen=True)
class ContentConfig:
    rate_bytes_per_s: int = _opt(0, _range(0, 1 << 40), "bundle download rate cap; 0 = unlimited")
    retry_max_s: float = _opt(300.0, _range(0.01, 86400), "download retry backoff cap (doubles from retry_min_s)")
    retry_min_s: float = _opt(1.0, _range(0.001, 3600), "first download retry delay")
    max_attempts: int = _opt(10, _range(1, 1000), "download attempts before reporting failed")
    timeout_s: float = _opt(30.0, _range(0.1, 3600), "socket timeout per download request")


@dataclass(frozen=True)
class AggregatorConfig:
    render_interval_s: float = _opt(10.0, _range(0.1, 86400), "dashboard render interval")
    out_dir: str = _opt("", None, "dashboard output dir (or --out)")
    data_dir: str = _opt("", None, "aggregator LMDB dir; empty = <out>/.state")
    shared_group: str = _opt("", None, "MQTT 5 shared subscription group; empty = none")
    offline_after_s: float = _opt(0.0, _range(0, 1e7), "mark offline if silent this long; 0 = LWT only")
    webhook_url: str = _opt("", None, "generic webhook for alerts")
    webhook_secret_file: str = _opt("", None, "HMAC secret for X-NIC-Signature")
    chat_webhook_url: str = _opt("", None, "Slack/Discord-compatible incoming webhook")
    smtp_host: str = _opt("", None, "SMTP server for alert mail")
    smtp_port: int = _opt(25, _range(1, 65535), "SMTP port")
    smtp_starttls: bool = _opt(False, None, "use STARTTLS")
    smtp_username: str = _opt("", None, "SMTP user")
    smtp_password_file: str = _opt("", None, "file holding the SMTP password")
    mail_from: str = _opt("", None, "sender address")
    mail_to: str = _opt("", None, "comma-separated recipients")
    notify_cooldown_s: float = _opt(300.0, _range(0, 1e7), "same alert/state not re-sent within this")
    metrics_port: int = _opt(0, _range(0, 65535), "Prometheus endpoint port; 0 = off")
    metrics_bind: str = _opt("127.0.0.1", None, "Prometheus endpoint address")
    report_interval_s: float = _opt(86400.0, _range(1, 1e8), "periodic report interval")
    ack_after_commit: str = _opt("auto", _one_of("auto", "on", "off"),
                                 "acknowledge snapshots only once committed (none lost if killed); auto = on with MQTT 5")
    commit_interval_s: float = _opt(0.5, _range(0.05, 60), "LMDB commit + fsync interval")
    session_expiry_s: int = _opt(86400, _range(0, 4294967295),
                                 "MQTT 5: the broker keeps this aggregator's session (queued snapshots) this long while it is away")
    max_devices: int = _opt(2000, _range(1, 1_000_000), "device ids held; beyond, new ids are ignored")
    remote_write_url: str = _opt("", _http_url, "Prometheus remote-write URL for fleet series "
                                 "(e.g. http://prom:9090/api/v1/write); empty = off")
    remote_write_interval_s: float = _opt(30.0, _range(1, 3600), "seconds between remote-write samples")
    remote_write_timeout_s: float = _opt(10.0, _range(0.5, 300), "HTTP timeout per remote-write request")
    remote_write_queue: int = _opt(120, _range(1, 100000),
                                   "batches waiting while Prometheus is unreachable; beyond, the oldest are dropped")
    remote_write_bearer_token_file: str = _opt("", None, "file holding a bearer token for remote write (optional)")
    unknown_expire_s: float = _opt(3600.0, _range(1, 1e8), "forget ids that never sent info/metrics, silent this long")


@dataclass(frozen=True)
class SoftwareConfig:
    prefix: str = _opt("/opt/nic-edge", None, "updater: install root holding venvs/<version> and the current symlink")
    service: str = _opt("nic-edge.service", None, "updater: the systemd unit restarted after a switch")
    restart_command: str = _opt("", None, "updater: command restarting the service; empty = systemctl restart <service>")
    restarts_command: str = _opt("", None, "updater: command printing the service's restart count; empty = systemctl show -p NRestarts --value <service>")
    health_url: str = _opt("", None, "updater: base URL of the device's HTTP API; empty = http://127.0.0.1:<http.port>")
    health_deadline_s: float = _opt(120.0, _range(1, 86400), "updater: new version must be healthy (healthz ok, MQTT online) within this")
    crash_loop_restarts: int = _opt(3, _range(1, 1000), "updater: this many service restarts after a switch = crash loop, roll back")
    python: str = _opt("", None, "updater: interpreter new venvs are made from; empty = the updater's base python")
    system_site_packages: bool = _opt(True, None, "updater: new venvs see the system's python3-* packages (as firmware/install.sh)")
    download_timeout_s: float = _opt(60.0, _range(0.1, 3600), "updater: socket timeout per bundle download request")


@dataclass(frozen=True)
class Config:
    device: DeviceConfig = field(default_factory=DeviceConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)

    software: SoftwareConfig = field(default_factory=SoftwareConfig)
    source: str | None = None  # the file it came from (not a TOML key)

    @property
    def device_id(self) -> str:
        return self.device.id or socket.gethostname()

    def replace(self, **sections: Any) -> "Config":
        return dataclasses.replace(self, **sections)


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Config)
    if f.name != "source"
}



def _type_ok(value: Any, typ: Any) -> bool:
    if typ in ("bool", bool):
        return isinstance(value, bool)
    if typ in ("int", int):
        return isinstance(value, int) and not isinstance(value, bool)
    if typ in ("float", float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _type_name(typ: Any) -> str:
    return {"bool": "true or false", "int": "an integer", "float": "a number"}.get(str(typ), "a string")


def _parse_section(name: str, raw: Any, problems: list[tuple[str, str]]) -> Any:
    cls = SECTIONS[name]
    if not isinstance(raw, dict):
        problems.append((name, "must be a table ([%s])" % name))
        return cls()
    known = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{name}.{key}"
        f = known.get(key)
        if f is None:
            close = [k for k in known if k.replace("_", "") == key.replace("_", "").lower()]
            hint = f" (did you mean {name}.{close[0]}?)" if close else f"; known keys: {', '.join(known)}"
            problems.append((path, "unknown key" + hint))
            continue
        if not _type_ok(value, f.type):
            problems.append((path, f"must be {_type_name(f.type)}, got {type(value).__name__}"))
            continue
        if str(f.type) in ("float", "<class 'float'>"):
            value = float(value)
        check = f.metadata.get("check")
        msg = check(value) if check else None
        if msg:
            problems.append((path, msg))
            continue
        values[key] = value
    return cls(**values)


def parse_config(data: dict[str, Any], source: str | None = None, check_files: bool = True) -> Config:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    problems: list[tuple[str, str]] = []
    sections: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in SECTIONS:
            problems.append((key, "unknown section; known: " + ", ".join(SECTIONS)))
            continue
        sections[key] = _parse_section(key, raw, problems)
    cfg = Config(**sections, source=source)
    if cfg.mqtt.tls is False and (cfg.mqtt.cert_file or cfg.mqtt.key_file):
        problems.append(("mqtt.tls", "cert_file/key_file are set but tls is false; set tls = true"))
    if bool(cfg.mqtt.cert_file) != bool(cfg.mqtt.key_file):
        problems.append(("mqtt.key_file", "cert_file and key_file go together; set both or neither"))
    if cfg.mqtt.password_file and not cfg.mqtt.username:
        problems.append(("mqtt.username", "password_file is set but username is empty"))
    if check_files:
        base = Path(source).parent if source else Path.cwd()
        named = {path: getattr(getattr(cfg, path.split(".")[0]), path.split(".")[1]) for path in FILE_KEYS}
        problems.extend(file_problems(named, base))
    if problems:
        raise ConfigError(problems, source)
    return cfg


def load_config(path: str | os.PathLike[str] | None, check_files: bool = True) -> Config:
    """Load and validate a config file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {p}: {exc.strerror or exc}")], str(p)) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([("(file)", f"{p} is not UTF-8 text")], str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("(toml)", f"{exc}; fix the TOML syntax")], str(p)) from None
    return parse_config(data, source=str(p.resolve()), check_files=check_files)


def config_path(cli_value: str | None) -> str | None:
    """--config, else $NIC_EDGE_CONFIG, else no file (defaults)."""
    return cli_value or os.environ.get("NIC_EDGE_CONFIG") or None


def data_dir(cfg: Config, cli_value: str | None) -> Path:
    """--data-dir, else $NIC_EDGE_DATA, else device.data_dir, else ./nic-data.

    A path that exists and is not a directory is a config error naming where it came from."""
    env = os.environ.get("NIC_EDGE_DATA")
    if cli_value:
        path, key = Path(cli_value), "--data-dir"
    elif env:
        path, key = Path(env), "NIC_EDGE_DATA"
    elif cfg.device.data_dir:
        base = Path(cfg.source).parent if cfg.source else Path.cwd()
        path, key = resolve_path(cfg.device.data_dir, base), "device.data_dir"
    else:
        path, key = Path("nic-data"), "data dir"
    if path.exists() and not path.is_dir():
        raise ConfigError([(key, f"{path} exists and is not a directory; name a directory")],
                          cfg.source if key == "device.data_dir" else None)
    return path


def file_in_config(cfg: Config, value: str) -> Path:
    """Resolve a file key's value relative to the config file."""
    base = Path(cfg.source).parent if cfg.source else Path.cwd()
    return resolve_path(value, base)


def read_secret(cfg: Config, key_path: str) -> str:
    """Read a secret from the file named by ``key_path`` (e.g. ``mqtt.password_file``)."""
    sec, key = key_path.split(".")
    value = getattr(getattr(cfg, sec), key)
    if not value:
        raise ConfigError([(key_path, "not set")], cfg.source)
    p = file_in_config(cfg, value)
    try:
        return p.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([(key_path, f"cannot read {p}: {exc}")], cfg.source) from exc


def describe_keys() -> list[tuple[str, Any, str]]:
    """(key path, default, doc) for every key; used to check the example config is complete."""
    out = []
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            out.append((f"{name}.{f.name}", f.default, f.metadata.get("doc", "")))
    return out
