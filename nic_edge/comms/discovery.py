"""Home Assistant MQTT discovery: retained sensor configs pointing at the device's topics.

Published on connect when ``mqtt.ha_discovery`` is true. Availability follows the retained
``status`` topic (``online``/``offline`` Last Will), so HA greys the sensors out when the box
drops off. Sensors read plain numbers from the snapshot's ``summary`` (schema.SUMMARY_KEYS):
HA templates cannot do sketch maths.
"""

from __future__ import annotations

import json
import re
from typing import Any

from nic_edge.comms import schema

# (object id, name, source kind, value template, unit, device_class, state_class)
_SENSORS: tuple[tuple[str, str, str, str, str | None, str | None, str | None], ...] = (
    ("latency_p95", "Answer latency p95", schema.METRICS,
     "{{ value_json.get('summary', {}).get('latency_p95_ms') }}", "ms", "duration", "measurement"),
    ("cache_hit_rate", "Cache hit rate", schema.METRICS,
     "{% set r = value_json.get('summary', {}).get('cache_hit_rate') %}"
     "{{ (r * 100) | round(1) if r is number else none }}", "%", None, "measurement"),
    ("memory", "Memory (RSS)", schema.METRICS,
     "{{ value_json.get('summary', {}).get('memory_mib') }}", "MiB", "data_size", "measurement"),
    ("cpu_temperature", "CPU temperature", schema.METRICS,
     "{{ value_json.get('summary', {}).get('cpu_temp_c') }}", "°C", "temperature", "measurement"),
    ("tier", "Hardware tier", schema.INFO, "{{ value_json.tier }}", None, None, None),
    ("alerts_active", "Active alerts", schema.METRICS,
     "{{ value_json.get('summary', {}).get('alerts_active') }}", None, None, "measurement"),
    ("last_alert", "Last alert", schema.ALERTS,
     "{{ value_json.rule }} {{ value_json.state }}", None, None, None),
)


def _ha_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def discovery_messages(prefix: str, ha_prefix: str, device: str,
                       info: dict[str, Any] | None = None) -> list[tuple[str, bytes]]:
    """(topic, retained payload) pairs for every sensor."""
    info = info or {}
    node = _ha_id(f"nic_edge_{device}")
    dev = {"identifiers": [node], "name": f"NIC edge {device}", "manufacturer": "nic_edge",
           "model": str(info.get("board") or "nic-edge appliance"),
           "sw_version": str(info.get("version") or "")}
    out = []
    for obj, name, kind, template, unit, dclass, sclass in _SENSORS:
        cfg: dict[str, Any] = {
            "name": name, "unique_id": f"{node}_{obj}", "object_id": f"{node}_{obj}",
            "state_topic": schema.topic(prefix, device, kind), "value_template": template,
            "availability_topic": schema.status_topic(prefix, device),
            "payload_available": "online", "payload_not_available": "offline",
            "device": dev,
        }
        if unit:
            cfg["unit_of_measurement"] = unit
        if dclass:
            cfg["device_class"] = dclass
        if sclass:
            cfg["state_class"] = sclass
        if kind == schema.ALERTS:
            cfg["json_attributes_topic"] = schema.topic(prefix, device, kind)
        topic = f"{ha_prefix}/sensor/{node}/{obj}/config"
        out.append((topic, json.dumps(cfg, separators=(",", ":")).encode("utf-8")))
    return out


def removal_messages(ha_prefix: str, device: str) -> list[tuple[str, bytes]]:
    """Empty retained payloads that delete the configs (HA forgets the sensors)."""
    node = _ha_id(f"nic_edge_{device}")
    return [(f"{ha_prefix}/sensor/{node}/{obj}/config", b"") for obj, *_ in _SENSORS]
