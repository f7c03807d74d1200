"""The files a config names: where they resolve and what must hold for them.

One place for the rules, so ``nic-edge check-config`` (parse_config with check_files), ``nic-fleet
flash`` (build_bundle) and ``nic-edge serve`` agree: a box must never be flashed with a config it
then refuses to start with (under systemd, a crash loop).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

# Keys naming files that must exist when set (checked by check-config and at load).
FILE_KEYS = (
    "http.token_file", "mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file", "mqtt.password_file",
    "fleet.key_file", "fleet.signing_key_file", "fleet.signing_pub_file", "alerts.rules_file", "aggregator.webhook_secret_file",
    "aggregator.smtp_password_file", "engine.words_file",
)
MIN_TOKEN_CHARS = 16  # the admin token (http.token_file): serve refuses a shorter one


def resolve_path(value: str, base: Path) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base / p


def secret_problem(key_path: str, content: bytes) -> str | None:
    """What serve would refuse in the content of the file ``key_path`` names, or None."""
    if key_path != "http.token_file":
        return None
    try:
        token = content.decode("utf-8").strip()  # as read_secret reads it
    except UnicodeDecodeError:
        return "token file is not UTF-8 text"
    if len(token) < MIN_TOKEN_CHARS:
        return f"token must be at least {MIN_TOKEN_CHARS} characters (it has {len(token)})"
    return None


def file_problems(named: dict[str, str], base: Path) -> list[tuple[str, str]]:
    """(key path, problem) for the files ``named`` (key path -> value, "" for unset), relative
    paths resolved against ``base`` (the config file's directory)."""
    problems = []
    for path, value in named.items():
        if not value:
            continue
        where = resolve_path(value, base)
        if not where.is_file():
            problems.append((path, f"file not found: {value} (paths are relative to the config file)"))
            continue
        if path != "http.token_file":
            continue
        try:
            content = where.read_bytes()
        except OSError as exc:
            # Readable by the service user only (0600 nic-edge) and checked as another admin:
            # existence is all that can be checked from here; serve reads it as its owner.
            log.debug("cannot read %s to check it (%s); only its existence was checked", where, exc)
            continue
        msg = secret_problem(path, content)
        if msg:
            problems.append((path, msg))
    return problems
