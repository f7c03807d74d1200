"""Compose the content updater for a device: keys, model, index store and MQTT wiring.

The trusted public keys are the ring adopted from the last applied bundle
(``<data_dir>/content/keys.pem``; how a key rotation arrives, see fleet/rotation.py), else every
key in the flashed ``fleet.signing_pub_file``. No key: the updater still runs and rejects every
announcement, saying why.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from nic_edge.comms import content_schema as cs
from nic_edge.comms import schema
from nic_edge.comms.content_updates import KEYS_FILE, ContentUpdater
from nic_edge.core import ed25519
from nic_edge.core.config import Config, file_in_config
from nic_edge.engine import bundle_install
from nic_edge.engine.store import FORMAT
from nic_edge.errors import NicEdgeError

log = logging.getLogger(__name__)


def bundle_applied(data_dir: Path) -> bool:
    """True once a pushed content bundle has been applied: it then owns the box's manual set."""
    import json

    try:
        state = json.loads((Path(data_dir) / "content" / "state.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and isinstance(state.get("applied_version"), int)


def trusted_keys(cfg: Config, data_dir: Path) -> list[Any]:
    rotated = Path(data_dir) / "content" / KEYS_FILE
    path = rotated if rotated.exists() else (
        file_in_config(cfg, cfg.fleet.signing_pub_file) if cfg.fleet.signing_pub_file else None)
    if path is None:
        return []
    try:
        return ed25519.load_public_keys(path)
    except NicEdgeError as exc:  # boundary: a bad key file disables updates, not the box
        log.error("content signing keys: %s", exc)
        return []


def make_updater(cfg: Config, app: Any, data_dir: Path, publisher: Any | None,
                 audit: Callable[[str, dict[str, Any], bool], None] | None = None,
                 fault: Callable[[str], None] | None = None,
                 on_device_keys: Callable[[Any], None] | None = None) -> ContentUpdater:
    engine = app.engine
    keys = trusted_keys(cfg, data_dir)
    if not keys:
        log.warning("no content signing public key (fleet.signing_pub_file): content updates will be refused")

    def publish(rep: dict[str, Any]) -> None:
        if publisher is not None:
            publisher.set_retained(schema.CONTENT_REPORTED, cs.encode_reported(rep))

    updater = ContentUpdater(
        app.device_id, data_dir, cfg.content, keys,
        model_sha=lambda: getattr(app.embedder, "model_sha256", None) if app.embedder is not None else None,
        index_format=FORMAT,
        install=lambda b: engine.install(lambda store: bundle_install.install(store, b, fault)),
        marker=lambda: bundle_install.current_marker(engine.store),
        publish=publish, audit=audit, fault=fault, on_device_keys=on_device_keys)
    if publisher is not None:  # without MQTT: only a flashed bundle (apply_flashed)
        publisher.add_handler(schema.CONTENT_DESIRED, updater.offer)
    app.content_status = updater.status
    return updater


FLASHED = "flashed.nicb"   # <data_dir>/content/FLASHED: the bundle first boot moved off the card


def apply_flashed(updater: ContentUpdater, data_dir: Path) -> dict[str, Any] | None:
    """Apply the content bundle flashed with the config, if one waits in the data dir, before
    the box indexes anything itself: a prebuilt, signed index answers within a minute of first
    boot where a Pi Zero would embed the manuals for an hour. Applied (or already applied): the
    file is deleted (the index holds it now). Refused: renamed ``flashed.nicb.rejected`` so it is
    not retried at every start, with the reason in the log, the audit log and the report.
    None when there is no flashed bundle."""
    path = Path(data_dir) / "content" / FLASHED
    if not path.is_file():
        return None
    log.info("applying the content bundle flashed with the config (%s)", path)
    rep = updater.apply_file(path)
    if rep.get("status") == "applied":
        path.unlink(missing_ok=True)
    elif rep.get("status") == "rejected":
        path.replace(path.with_name(FLASHED + ".rejected"))
        log.error("flashed content bundle refused: %s (kept as %s.rejected)", rep.get("reason"), FLASHED)
    return rep
