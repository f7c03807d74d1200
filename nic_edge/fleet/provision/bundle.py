"""Build a device bundle: the files a box needs in ``nic-edge/`` on its boot partition.

The config is validated with the device's own parser before anything is written; every file the
config names (password, token, TLS files, alert rules) is copied into the bundle under a fixed
name and the config is rewritten to point at it, so on the box everything resolves relative to
``/etc/nic-edge/device.toml``. The device key is derived from the fleet key, never the fleet key
itself. ``MANIFEST`` lists ``<mode> <name>`` per file for the first-boot hook.
"""

from __future__ import annotations

import json
import logging
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nic_edge.core.config import FILE_KEYS, Config, parse_config, resolve_path
from nic_edge.core.config_files import secret_problem
from nic_edge.core.signing import derive_device_key
from nic_edge.errors import ConfigError, ProvisioningError

log = logging.getLogger(__name__)

BUNDLE_DIR = "nic-edge"
CONFIG_NAME = "device.toml"
DEVICE_KEY_NAME = "device.key"
MANIFEST_NAME = "MANIFEST"
FIRSTBOOT_NAME = "firstboot.sh"
SERVICE_NAME = "nic-edge.service"
MANUALS_DIR = "manuals"
SIGNING_PUB_NAME = "content-signing.pub"
CONTENT_NAME = "content.nicb"   # a prebuilt, signed index (nic-fleet content build); first boot
                                # moves it to /var/lib/nic-edge/content/flashed.nicb
MAX_MANUALS_BYTES = 2 << 30  # a boot partition is ~512 MiB; this only guards against typos

# Where each file key's content goes in the bundle, and whether it is a secret (mode 0600).
FILE_TARGETS: dict[str, tuple[str, bool]] = {
    "http.token_file": ("http-token", True),
    "mqtt.password_file": ("mqtt-password", True),
    "mqtt.key_file": ("mqtt-client.key", True),
    "mqtt.cert_file": ("mqtt-client.crt", False),
    "mqtt.ca_file": ("mqtt-ca.crt", False),
    "alerts.rules_file": ("alerts.toml", False),
    "fleet.signing_pub_file": (SIGNING_PUB_NAME, False),
    "aggregator.webhook_secret_file": ("webhook-secret", True),
    "aggregator.smtp_password_file": ("smtp-password", True),
    "engine.words_file": ("words.txt", False),
}
# fleet.signing_key_file is the fleet box's private key: never copied onto a card (refused below).
assert set(FILE_TARGETS) | {"fleet.key_file", "fleet.signing_key_file"} == set(FILE_KEYS), \
    "a new file key needs a bundle name"


@dataclass
class Bundle:
    device_id: str
    config: Config
    files: dict[str, bytes] = field(default_factory=dict)  # name in nic-edge/ -> content
    secrets: set[str] = field(default_factory=set)          # names written with mode 0600
    executables: set[str] = field(default_factory=set)      # names written with mode 0755

    def mode(self, name: str) -> int:
        if name in self.secrets:
            return 0o600
        return 0o755 if name in self.executables else 0o644

    def total_bytes(self) -> int:
        return sum(len(v) for v in self.files.values())


def toml_value(v: Any) -> str:
    """TOML for the scalar values a config holds (JSON string escapes are valid TOML)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ProvisioningError(f"cannot write non-finite number {v!r} to TOML")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    raise ProvisioningError(f"cannot write {type(v).__name__} to TOML", hint="config values are scalars")


def dump_config(data: dict[str, dict[str, Any]], header: str = "") -> str:
    lines = [f"# {h}" for h in header.splitlines()]
    for section, values in data.items():
        lines.append("")
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def load_config_data(path: Path) -> dict[str, Any]:
    """Parse a TOML config file into a dict (errors as ConfigError with the file name)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([("(file)", f"cannot read {path}: {exc}")], str(path)) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("(toml)", f"{exc}; fix the TOML syntax")], str(path)) from None


def build_bundle(data: dict[str, Any], base_dir: Path, fleet_key: bytes, *,
                 source: str | None = None, manuals: Path | None = None,
                 extra_files: dict[str, tuple[bytes, int]] | None = None,
                 signing_pub: bytes | None = None, content_bundle: bytes | None = None) -> Bundle:
    """Validate ``data`` (a parsed device config) and assemble its bundle.

    Relative file paths in ``data`` resolve against ``base_dir``. ``extra_files`` adds firmware
    files (name -> (content, mode)). ``signing_pub`` (the fleet's content signing public key)
    is flashed when the device config names none. ``content_bundle``: a content bundle's bytes (checked
    by the caller), carried as ``content.nicb``. Raises ConfigError for an invalid config or
    missing secret.
    """
    label = source or "device config"
    cfg = parse_config(data, source=source, check_files=False)
    if not cfg.device.id:
        raise ConfigError([("device.id", "must be set for a provisioned device (the box is named by it)")], source)
    problems: list[tuple[str, str]] = []
    if cfg.fleet.signing_key_file:
        problems.append(("fleet.signing_key_file", "the private signing key never goes on a device; "
                                                   "set fleet.signing_pub_file (the .pub) instead"))
    out: dict[str, dict[str, Any]] = {sec: dict(vals) for sec, vals in data.items()}
    bundle = Bundle(cfg.device.id, cfg)
    for key_path, (name, secret) in FILE_TARGETS.items():
        sec, key = key_path.split(".")
        value = getattr(getattr(cfg, sec), key)
        if not value:
            continue
        path = resolve_path(value, base_dir)
        try:
            content = path.read_bytes()
        except OSError as exc:
            problems.append((key_path, f"{'secret ' if secret else ''}file not readable: {path} "
                                       f"({exc.strerror or exc}); paths are relative to the config file"))
            continue
        if secret and not content.strip():
            problems.append((key_path, f"secret file is empty: {path}"))
            continue
        problem = secret_problem(key_path, content)
        if problem:  # serve on the box would refuse to start (and systemd restart it forever)
            problems.append((key_path, f"{path}: {problem}"))
            continue
        if key_path == "engine.words_file":
            from nic_edge.engine.synonyms import parse  # the device would log it and leave it out
            try:
                parse(content.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                problems.append((key_path, f"{path}: {exc}"))
                continue
        bundle.files[name] = content
        if secret:
            bundle.secrets.add(name)
        out[sec][key] = name  # relative to /etc/nic-edge/device.toml on the box
    if problems:
        raise ConfigError(problems, source)
    if cfg.fleet.key_file:
        log.info("%s: fleet.key_file replaced by the derived device key", label)
    bundle.files[DEVICE_KEY_NAME] = derive_device_key(fleet_key, cfg.device.id).hex().encode("ascii") + b"\n"
    bundle.secrets.add(DEVICE_KEY_NAME)
    out.setdefault("fleet", {})["key_file"] = DEVICE_KEY_NAME
    if signing_pub is not None and not cfg.fleet.signing_pub_file:
        bundle.files[SIGNING_PUB_NAME] = signing_pub
        out["fleet"]["signing_pub_file"] = SIGNING_PUB_NAME
    text = dump_config(out, f"nic-edge device config for {cfg.device.id}, written by nic-fleet flash")
    # Round-trip: what lands on the card must parse exactly as validated here.
    bundle.config = parse_config(tomllib.loads(text), source=source, check_files=False)
    bundle.files[CONFIG_NAME] = text.encode("utf-8")
    for name, (content, mode) in (extra_files or {}).items():
        bundle.files[name] = content
        if mode & 0o111:
            bundle.executables.add(name)
    if manuals is not None:
        _add_manuals(bundle, manuals)
    if content_bundle is not None:
        bundle.files[CONTENT_NAME] = content_bundle
    bundle.files[MANIFEST_NAME] = _manifest(bundle)
    return bundle


# Characters a FAT long name cannot hold: mcopy refuses them, or reads "a:b" as drive a:.
FAT_FORBIDDEN = frozenset('"*:<>?\\|')


def manual_name_problem(rel: str) -> str | None:
    """Why a manual's path (relative, "/"-separated) cannot travel on a FAT boot partition and
    through firstboot.sh, or None. Anything refused here would otherwise fail the whole bundle
    at first boot (or arrive under another name than MANIFEST lists)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 (MANIFEST is UTF-8 text)"
    parts = rel.split("/")
    if rel.startswith("/") or ".." in parts:  # firstboot.sh refuses exactly these (never a "a..b")
        return "is absolute or has a '..' component"
    if any(c in rel for c in "\n\r\t "):
        return "has whitespace (the first-boot hook is a plain sh script)"
    if not rel.isprintable():
        return "has control characters"
    if FAT_FORBIDDEN & set(rel):
        return "has a character FAT cannot hold (one of " + " ".join(sorted(FAT_FORBIDDEN)) + ")"
    if any(part.endswith(".") for part in parts):
        return "ends in '.', which FAT drops"
    return None


def _add_manuals(bundle: Bundle, manuals: Path) -> None:
    if not manuals.is_dir():
        raise ProvisioningError(f"manuals directory not found: {manuals}", hint="pass an existing --manuals DIR")
    total = 0
    folded: dict[str, str] = {}
    for path in sorted(manuals.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(manuals).parts):
            continue
        rel = path.relative_to(manuals).as_posix()
        if path.is_symlink() and path.is_dir():
            # rglob does not walk it: its manuals would be missing from the card without a word.
            # A link to a file is copied as its content (FAT holds no links), as `cp -L` does.
            raise ProvisioningError(f"manual folder {rel!r} is a link to a folder, which is not followed",
                                    hint="copy the folder itself into --manuals (cp -rL); nothing was written")
        if not path.is_file():
            continue
        problem = manual_name_problem(rel)
        if problem:
            raise ProvisioningError(f"manual file name {rel!r} {problem}",
                                    hint="rename the file; nothing was written")
        other = folded.setdefault(rel.casefold(), rel)
        if other != rel:  # FAT (the boot partition) is case-insensitive: one would overwrite the other
            raise ProvisioningError(f"manual files {other!r} and {rel!r} differ only in letter case",
                                    hint="rename one of them (the boot partition would keep only one); "
                                         "nothing was written")
        content = path.read_bytes()
        total += len(content)
        if total > MAX_MANUALS_BYTES:
            raise ProvisioningError(f"manuals in {manuals} exceed {MAX_MANUALS_BYTES >> 20} MiB",
                                    hint="a boot partition is small; copy large manual sets after boot")
        bundle.files[f"{MANUALS_DIR}/{rel}"] = content


def _manifest(bundle: Bundle) -> bytes:
    lines = [f"{bundle.mode(name):o} {name}" for name in sorted(bundle.files)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_manifest(text: str) -> dict[str, int]:
    """name -> mode from a MANIFEST (used by tests and by --dry-run output)."""
    out = {}
    for line in text.splitlines():
        if line.strip():
            mode, name = line.split(" ", 1)
            out[name] = int(mode, 8)
    return out
