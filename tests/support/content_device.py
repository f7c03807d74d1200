"""An in-process simulated device for content-update tests and the push benchmark.

Real parts: MQTT publisher (paho, against a real mosquitto), the content updater, downloader,
bundle verification, index store and engine. Fakes: the embedding model (``HashEmbedder``: a
fixed sha256 and hashed bag-of-words vectors) and the document loader (``fake_load``), so a
device costs a few MiB and no model load. No pytest dependency (tools/ reuse it).
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Callable

from nic_edge.app.content import make_updater
from nic_edge.comms.outbox import open_outbox
from nic_edge.comms.overrides import Applied, OverrideManager
from nic_edge.comms.publisher import MqttPublisher
from nic_edge.core.config import EngineConfig, parse_config
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from nic_edge.engine.store import IndexStore
from tests.engine.test_engine_support import HashEmbedder, fake_load

FAKE_MODEL = "fake-model-1"


def device_config(device_id: str, broker: dict[str, Any], pub: Path | None,
                  content: dict[str, Any] | None = None) -> Any:
    data = {"device": {"id": device_id},
            "mqtt": {**broker, "reconnect_max_s": 1.0, "metrics_interval_s": 3600.0},
            "fleet": {"signing_pub_file": str(pub)} if pub else {},
            "content": {"retry_min_s": 0.05, "retry_max_s": 0.2, "max_attempts": 3, "timeout_s": 5.0,
                        **(content or {})}}
    return parse_config(data, check_files=False)


class SimDevice:
    def __init__(self, device_id: str, data_dir: Path, broker: dict[str, Any], pub: Path | None, *,
                 model_sha: str = FAKE_MODEL, content: dict[str, Any] | None = None,
                 fault: Callable[[str], None] | None = None,
                 store_fault: Callable[[str], None] | None = None,
                 device_key: bytes | None = None) -> None:
        self.id = device_id
        self.data = Path(data_dir)
        self.cfg = device_config(device_id, broker, pub, content)
        self.embedder = HashEmbedder(model_sha)
        store = IndexStore(self.data / "index", fault_hook=store_fault)
        self.engine = Engine(self.data, load_profiles()["lite"], EngineConfig(), self.embedder,
                             loader=fake_load, store=store)
        self.app = types.SimpleNamespace(engine=self.engine, embedder=self.embedder, device_id=device_id,
                                         content_status=None)
        self.overrides = None
        on_desired = None
        if device_key is not None:  # tier overrides too, wired as serve.py does
            self.tier: str | None = None
            self.overrides = OverrideManager(
                device_id, device_key, self.data, apply=self._apply_tier,
                current=lambda: Applied(self.tier or "lite", "fleet" if self.tier else "auto"),
                max_age_s=3600.0, max_future_s=300.0)
            on_desired = self._on_desired
        self.publisher = MqttPublisher(self.cfg, open_outbox(self.data, self.cfg.mqtt.spool_max_bytes),
                                       on_desired=on_desired)
        self.updater = make_updater(self.cfg, self.app, self.data, self.publisher, fault=fault,
                                    on_device_keys=self.overrides.adopt_wrapped if self.overrides else None)

    def _apply_tier(self, tier: str | None) -> Applied:
        self.tier = tier
        return Applied(tier or "lite", "fleet")

    def _on_desired(self, payload: bytes) -> None:
        assert self.overrides is not None
        self.publisher.set_reported(self.overrides.handle(payload))

    def start(self) -> "SimDevice":
        self.publisher.start()
        self.updater.start()
        return self

    def stop(self) -> None:
        self.updater.stop()
        self.publisher.stop()
        if self.publisher.outbox is not None:
            self.publisher.outbox.close()

    def ask(self, question: str) -> dict[str, Any]:
        return self.engine.ask(question, qid="q")

    def sources(self) -> list[str]:
        return [m["source"] for m in self.engine.manuals()]
