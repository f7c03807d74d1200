"""Inventories: many devices from one CSV or TOML file, each a template config plus overrides.

CSV: a header row with an ``id`` column; other columns are aliases (``tier``, ``broker``,
``port``, ``username``, ``password_file``, ``token_file``, ``topic_prefix``) or full key paths
(``mqtt.tls``); empty cells mean "no override". TOML: optional top-level ``template = "file"``,
an optional ``[defaults]`` table and ``[[device]]`` tables, keyed the same way.
Relative file paths resolve against the file that names them (template or inventory).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nic_edge.core.config import FILE_KEYS, SECTIONS, resolve_path
from nic_edge.errors import ConfigError, ProvisioningError
from nic_edge.fleet.provision.bundle import load_config_data

ALIASES = {
    "id": "device.id", "tier": "device.tier", "broker": "mqtt.host", "host": "mqtt.host",
    "port": "mqtt.port", "username": "mqtt.username", "password_file": "mqtt.password_file",
    "token_file": "http.token_file", "topic_prefix": "mqtt.topic_prefix", "tls": "mqtt.tls",
    "ca_file": "mqtt.ca_file",
}


@dataclass
class DeviceEntry:
    device_id: str
    data: dict[str, Any]  # full config dict, file paths already absolute
    where: str            # "inventory.csv row 3" for messages


def _field_type(key_path: str) -> str | None:
    sec, _, key = key_path.partition(".")
    cls = SECTIONS.get(sec)
    if cls is None:
        return None
    for f in dataclasses.fields(cls):
        if f.name == key:
            return str(f.type)
    return None


def _convert(key_path: str, raw: Any, where: str) -> Any:
    """CSV cells are text: turn them into the type the config key wants."""
    typ = _field_type(key_path)
    if typ is None:
        raise ConfigError([(f"{where}: {key_path}", "unknown key; use an alias ("
                            + ", ".join(sorted(ALIASES)) + ") or section.key")])
    if not isinstance(raw, str):
        return raw  # TOML already typed; parse_config checks it
    text = raw.strip()
    try:
        if typ in ("bool", "<class 'bool'>"):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if typ in ("int", "<class 'int'>"):
            return int(text)
        if typ in ("float", "<class 'float'>"):
            return float(text)
    except ValueError:
        raise ConfigError([(f"{where}: {key_path}", f"{text!r} is not a valid {typ}")]) from None
    return text


def _apply(data: dict[str, Any], overrides: dict[str, Any], base: Path, where: str) -> None:
    for col, raw in overrides.items():
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            continue
        key_path = ALIASES.get(col.strip(), col.strip())
        value = _convert(key_path, raw, where)
        if key_path in FILE_KEYS and isinstance(value, str) and value:
            value = str(resolve_path(value, base))
        if key_path == "mqtt.host" and isinstance(value, str) and value.count(":") == 1:
            host, _, port = value.partition(":")  # "broker:8883" in one cell
            value = host
            data.setdefault("mqtt", {})["port"] = _convert("mqtt.port", port, where)
        sec, _, key = key_path.partition(".")
        data.setdefault(sec, {})[key] = value


def absolutize(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Copy of ``data`` with every file key resolved against ``base``."""
    out = {sec: dict(v) if isinstance(v, dict) else v for sec, v in data.items()}
    for key_path in FILE_KEYS:
        sec, key = key_path.split(".")
        value = out.get(sec, {}).get(key) if isinstance(out.get(sec), dict) else None
        if isinstance(value, str) and value:
            out[sec][key] = str(resolve_path(value, base))
    return out


def _rows(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any], str | None]:
    """(where, overrides) per device, the defaults and the template named inside the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisioningError(f"cannot read inventory {path}: {exc}", hint="check the path") from exc
    if path.suffix.lower() == ".toml":
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([(f"{path.name}", f"{exc}; fix the TOML syntax")], str(path)) from None
        unknown = set(doc) - {"template", "defaults", "device"}
        if unknown:
            raise ConfigError([(f"{path.name}: {k}", "unknown key; use template, [defaults], [[device]]")
                               for k in sorted(unknown)], str(path))
        devices = doc.get("device", [])
        if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
            raise ConfigError([(f"{path.name}: device", "must be [[device]] tables")], str(path))
        rows = [(f"{path.name} device {i}", dict(d)) for i, d in enumerate(devices, start=1)]
        return rows, dict(doc.get("defaults", {})), doc.get("template")
    # newline="": a quoted cell keeps its line break (then refused by the id rule) instead of
    # being silently glued together ("evil\nid" -> "evilid") as splitlines() did
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "id" not in [f.strip() for f in reader.fieldnames]:
        raise ConfigError([(f"{path.name}: header", "needs an 'id' column")], str(path))
    rows = []
    for n, row in enumerate(reader, start=2):
        if None in row:
            raise ConfigError([(f"{path.name} row {n}", "more cells than header columns")], str(path))
        if any((v or "").strip() for v in row.values()):
            rows.append((f"{path.name} row {n}", {k.strip(): v for k, v in row.items()}))
    return rows, {}, None


def load_inventory(path: Path, template: Path | None = None) -> list[DeviceEntry]:
    """Parse and merge every device; duplicate or missing ids are errors before anything is written."""
    rows, defaults, named_template = _rows(path)
    base_data: dict[str, Any] = {}
    tpl = template or (resolve_path(named_template, path.parent) if named_template else None)
    if tpl is not None:
        base_data = absolutize(load_config_data(tpl), tpl.parent)
    if not rows:
        raise ProvisioningError(f"inventory {path} lists no devices", hint="add one row (CSV) or [[device]] (TOML)")
    seen: dict[str, list[str]] = {}
    entries = []
    for where, overrides in rows:
        ident = str(overrides.get("id", "") or "").strip()
        if not ident:
            raise ConfigError([(f"{where}: id", "missing device id")], str(path))
        # casefolded: TRUCK-01 and truck-01 would share one folder on a FAT/exFAT/NTFS medium
        seen.setdefault(ident.casefold(), []).append(f"{ident}: {where}" if ident.casefold() != ident else where)
        data = {sec: dict(v) for sec, v in base_data.items()}
        _apply(data, defaults, path.parent, f"{path.name} defaults")
        _apply(data, overrides, path.parent, where)
        entries.append(DeviceEntry(ident, data, where))
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    if dups:
        desc = "; ".join(f"{k} ({', '.join(v)})" for k, v in sorted(dups.items()))
        raise ProvisioningError(f"duplicate device ids in {path.name} (letter case ignored): {desc}",
                                hint="each box needs its own id; nothing was written")
    return entries
