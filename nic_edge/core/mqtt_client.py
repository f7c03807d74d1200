"""Build a configured paho-mqtt 2.x client from the ``[mqtt]`` config section.

Shared by the fleet tools and the aggregator (which may not import device code). paho is
imported lazily so that ``import nic_edge`` stays light.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from nic_edge.core.config import Config, file_in_config, read_secret
from nic_edge.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)


def import_paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ImportError as exc:  # pragma: no cover - paho is a default dependency
        raise MissingDependencyError("paho-mqtt is not installed", hint="pip install 'paho-mqtt>=2,<3'") from exc
    return mqtt


def make_client(cfg: Config, client_id: str, clean_session: bool = True, password: str | None = None,
                client_class: type | None = None, **client_kwargs: Any) -> Any:
    """A paho Client with protocol, TLS and credentials applied (not yet connected).

    ``clean_session=False`` (MQTT 3.1.1) with a fixed client id asks the broker to keep the
    subscriptions and queue QoS 1 messages while the client is away (the aggregator's restart).
    ``password`` overrides reading ``mqtt.password_file``; ``client_class`` (a paho ``Client``
    subclass, e.g. the aggregator's buffered receive path) replaces ``Client``; ``client_kwargs``
    go to it.
    """
    mqtt = import_paho()
    cls = client_class or mqtt.Client
    m = cfg.mqtt
    if not m.host:
        raise ConfigError([("mqtt.host", "not set; the fleet tools need a broker (--config FILE with [mqtt] host)")], cfg.source)
    if m.protocol == "5":
        client = cls(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                     protocol=mqtt.MQTTv5, **client_kwargs)
    else:
        client = cls(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                     protocol=mqtt.MQTTv311, clean_session=clean_session, **client_kwargs)
    if m.username:
        if password is None and m.password_file:
            password = read_secret(cfg, "mqtt.password_file")
        client.username_pw_set(m.username, password)
    if m.tls:
        ctx = ssl.create_default_context(cafile=str(file_in_config(cfg, m.ca_file)) if m.ca_file else None)
        if m.cert_file:
            ctx.load_cert_chain(str(file_in_config(cfg, m.cert_file)), str(file_in_config(cfg, m.key_file)))
        client.tls_set_context(ctx)
    return client


def connect_kwargs(cfg: Config) -> dict[str, Any]:
    return {"host": cfg.mqtt.host, "port": cfg.mqtt.port, "keepalive": cfg.mqtt.keepalive}
