"""DeviceApp: the device as the surfaces (CLI, HTTP, MQTT) see it.

It owns the ask path (cache -> engine -> metrics -> audit), the live tier (profile switches
without a restart), budget enforcement callbacks and the status document. Services that run on
threads (HTTP, profiler, alerts, MQTT) are composed around it in ``serve.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

from nic_edge import __version__
from nic_edge.cache.tiered import TieredCache, serve_cached
from nic_edge.core import override_state
from nic_edge.core.config import TIER_NAMES, Config, file_in_config, read_secret
from nic_edge.core.config_files import MIN_TOKEN_CHARS
from nic_edge.core.threads import ThreadCounts, load_measured, thread_counts
from nic_edge.core.tiers import Hardware, TierDecision, TierProfile, load_profiles, read_hardware, resolve
from nic_edge.engine.engine import Engine
from nic_edge.engine.validate import MAX_K, MAX_TOP_K, validate_question
from nic_edge.errors import ConfigError, IndexStoreError, InvalidInputError
from nic_edge.telemetry.alerts import AlertEvaluator, load_rules
from nic_edge.telemetry.audit import AuditLog
from nic_edge.telemetry.write_guard import WriteGuard
from nic_edge.telemetry.device_metrics import DeviceMetrics
from nic_edge.telemetry.profiler import BudgetActions, BudgetEnforcer

log = logging.getLogger(__name__)

# While memory is over budget, L1 shrinks to this many answers (DESIGN: at least 64 on every tier)
# and to this many bytes: room for 64 answers of up to 4 KiB (a typical one is ~1.5 KiB); a
# 64 KiB cap held only ~42.
SHRUNK_L1_ITEMS = 64
SHRUNK_L1_BYTES = SHRUNK_L1_ITEMS * 4096


class DeviceApp:
    """One device: tier, engine, cache, metrics, audit, alerts. Thread-safe for the HTTP server."""

    def __init__(self, cfg: Config, data_dir: Path, hardware: Hardware | None = None,
                 env: dict[str, str] | None = None, use_embedder: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.device_id = cfg.device_id
        self._clock = clock
        self._env = env
        self._hardware = hardware or read_hardware()
        self.profiles = load_profiles()
        self._tier_lock = threading.RLock()
        self.decision = self._resolve()
        self.profile: TierProfile = self.decision.profile  # type: ignore[assignment]
        self.started = False
        self.start_error: str | None = None
        self.started_at = clock()
        self.metrics = DeviceMetrics()
        self.writes = WriteGuard(self.metrics.record_write_failure, clock)  # full disk: answers go on
        self.writes.watch("data_dir", self.data_dir)
        self.events: list[dict[str, Any]] = []  # alert-worthy events (cache corruption, ...)
        self._measured_threads = load_measured(self.data_dir, self._hardware.cpus)
        self.threads: ThreadCounts = self._thread_counts(self.profile)
        self.embedder = self._make_embedder() if use_embedder else None
        self.engine = Engine(self.data_dir, self.profile, cfg.engine, self.embedder,
                             on_timing=self.metrics.observe_stage, threads=self.threads,
                             words_file=file_in_config(cfg, cfg.engine.words_file) if cfg.engine.words_file else None)
        # The audit log before the cache: opening the cache may recover a damaged store, and
        # that event is audited (_event) while this constructor still runs.
        self.audit = AuditLog(self.data_dir, cfg.audit.max_bytes, cfg.audit.backups,
                              cfg.audit.log_question_text) if cfg.audit.enabled else None
        self.cache = self._make_cache()
        rules_path = file_in_config(cfg, cfg.alerts.rules_file) if cfg.alerts.rules_file else None
        self.alert_evaluator = AlertEvaluator(load_rules(rules_path, self.decision.name), clock=clock,
                                              tier=self.decision.name)
        self.budget = BudgetEnforcer(self.profile.memory_budget_bytes, BudgetActions(
            shrink_l1=self._shrink_l1, restore_l1=self._restore_l1,
            enter_lexical=lambda: self._set_lexical(True), leave_lexical=lambda: self._set_lexical(False)))
        self.metrics.set_budget(self.budget.state())
        self.mqtt_status: Callable[[], dict[str, Any]] = lambda: {"state": "disabled"}
        self.outbox_error: Callable[[], str | None] = lambda: None  # set by the runtime with MQTT on
        self.content_status: Callable[[], dict[str, Any]] = lambda: {"state": "disabled"}
        self.on_tier_change: list[Callable[[TierDecision], None]] = []
        self._token = self._read_token()

    # -- construction helpers -------------------------------------------------------------
    def _resolve(self, override: str | None = None, use_state: bool = True, by: str = "fleet") -> TierDecision:
        if use_state:
            override, by = override_state.override_of(self.data_dir)
        return resolve(self.cfg.device.tier, override=override, env=self._env,
                       hardware=self._hardware, profiles=self.profiles, override_by=by)

    def _thread_counts(self, profile: TierProfile) -> ThreadCounts:
        # One function for start-up and live switches, so both give the same counts.
        return thread_counts(profile, self._hardware.cpus, self._measured_threads)

    def _make_embedder(self) -> Any:
        if not self.profile.embeddings:
            return None
        from nic_edge.engine.embedder import Embedder
        # No on_timing here: the engine times a question's stages itself (tokenize, embed, ...),
        # and the embedder's own timings would count each question twice and add every chunk
        # embedded while indexing and calibrating to the answer stages.
        return Embedder(threads=self.threads.question, batch_size=self.profile.batch_size)

    def _cache_sizes(self, p: TierProfile) -> tuple[int, int, int, float]:
        c = self.cfg.cache
        return (max(64, c.l1_items or p.l1_items), c.l1_bytes or p.l1_bytes,
                (c.l2_max_bytes or p.l2_max_bytes) if c.l2_enabled else 0, c.l2_ttl_s or p.l2_ttl_s)

    def _make_cache(self) -> TieredCache | None:
        if not self.cfg.cache.enabled:
            return None
        items, nbytes, l2, ttl = self._cache_sizes(self.profile)
        return TieredCache(self.data_dir, items, nbytes, l2, ttl, self.cfg.cache.compress_min_bytes,
                           on_event=self._event, write_behind_s=self.cfg.cache.write_behind_s)

    def _read_token(self) -> str | None:
        if not self.cfg.http.token_file:
            return None
        token = read_secret(self.cfg, "http.token_file")
        if len(token) < MIN_TOKEN_CHARS:  # config_files checks the same at load; a file may change since
            raise ConfigError([("http.token_file", f"token must be at least {MIN_TOKEN_CHARS} characters")],
                              self.cfg.source)
        return token

    def audit_action(self, action: str, actor: str, details: dict[str, Any], ok: bool = True) -> None:
        """Audit an action; a failed write (full disk) is counted by the WriteGuard, never raised,
        so what comes after it (an alert's publication, a fleet report) still happens."""
        if self.audit is not None:
            self.writes.run("audit", self.audit.action, action, actor, details, ok=ok)

    def _event(self, name: str, detail: dict[str, Any]) -> None:
        log.warning("event %s: %s", name, detail)
        self.events.append({"event": name, "detail": detail, "ts": self._clock()})
        del self.events[:-50]
        self.audit_action(name, "system", detail, ok=False)

    # -- ask path -------------------------------------------------------------------------
    def _fingerprint(self, top_k: int | None) -> str:
        # The engine's fingerprint covers index, model, default top_k, threshold and mode; a tier
        # switch that changes none of them keeps the cache warm.
        return self.engine.fingerprint if top_k is None else f"{self.engine.fingerprint}|k={top_k}"

    def ask(self, question: object, top_k: object = None, qid: str | None = None,
            surface: str = "http", use_cache: bool = True) -> dict[str, Any]:
        """Answer one question: cache, else engine; metrics and audit either way."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)
                                  or not 1 <= top_k <= MAX_TOP_K):
            raise InvalidInputError(f"top_k must be an integer from 1 to {MAX_TOP_K}")
        t0 = time.perf_counter()
        # The cache is keyed by the normalised question, so an invalid one ("fuel filter\x01", 5,000
        # characters, only a zero-width space) would hit the answer cached for its valid twin:
        # it goes straight to the engine, which answers it "invalid_input" (never cached).
        try:
            validate_question(question, self.engine.max_chars)
            cached = use_cache and self.cache is not None
        except InvalidInputError:
            cached = False
        try:
            fp = self._fingerprint(top_k)  # type: ignore[arg-type]
            answer = serve_cached(self.cache if cached else None, question, fp,
                                  lambda: self.engine.ask(question, top_k, qid), qid)  # type: ignore[arg-type]
        except Exception:  # counted as an error outcome, then handled by the surface
            self.metrics.record_error(time.perf_counter() - t0)
            raise
        if answer.get("cached"):
            self.metrics.observe_stage("cache", answer["latency_ms"] / 1000.0)
        answer["tier"] = self.decision.name
        self.metrics.record_answer(answer, cache_consulted=cached)
        self._publish_mode()
        if self.audit is not None:
            self.writes.run("audit", self.audit.question, answer, question if isinstance(question, str) else None,
                            surface)
        return answer

    def retrieve(self, query: object, k: object = None) -> dict[str, Any]:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("query must be a non-empty string")
        if k is None:
            k = 10
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidInputError(f"k must be an integer from 1 to {MAX_K}")
        if len(query) > self.engine.max_chars:
            raise InvalidInputError(f"query longer than {self.engine.max_chars} characters")
        return {"id": None, "hits": self.engine.retrieve(query, k)}

    # -- tier -----------------------------------------------------------------------------
    def apply_tier(self, override: str | None, source: str = "fleet") -> TierDecision:
        """Switch tier live (None = back to config/env/detection). In-flight questions finish."""
        if override is not None and override not in TIER_NAMES:
            raise ConfigError([("tier", f"unknown tier {override!r}; use one of {', '.join(TIER_NAMES)}")])
        with self._tier_lock:
            decision = self._resolve(override, use_state=False, by=source)
            old = self.profile
            p: TierProfile = decision.profile  # type: ignore[assignment]
            self.decision, self.profile = decision, p
            if self.cache is not None:
                items, nbytes, l2, ttl = self._cache_sizes(p)
                if self.budget.level >= 1:  # the same shrunk L1 as _shrink_l1
                    items, nbytes = min(items, SHRUNK_L1_ITEMS), min(nbytes, SHRUNK_L1_BYTES)
                self.cache.resize(items, nbytes, l2, ttl)
            self.threads = self._thread_counts(p)
            self.engine.apply_profile(p, self.threads)
            if self.embedder is not None:
                self.embedder.batch_size = p.batch_size
            if p.embeddings and self.budget.level < 2:
                self.engine.set_lexical_only(False)
            self.budget.set_budget(p.memory_budget_bytes)
            self.metrics.set_budget(self.budget.state())
            self.alert_evaluator.set_tier(decision.name)
            log.info("tier %s -> %s (%s)", old.name, decision.name, decision.source)
        for cb in list(self.on_tier_change):
            cb(decision)
        return decision

    def set_local_tier(self, tier: str | None, actor: str) -> dict[str, Any]:
        """Admin route POST /api/tier: a local override, persisted like a fleet one."""
        if tier is not None and tier not in TIER_NAMES:
            raise ConfigError([("tier", f"unknown tier {tier!r}; use one of {', '.join(TIER_NAMES)} or null")])
        state = override_state.read_state(self.data_dir)
        state.update(tier=tier, source="local", applied_at=self._clock())
        override_state.write_state(self.data_dir, state)
        decision = self.apply_tier(tier, "local")
        if self.audit is not None:
            self.writes.run("audit", self.audit.action, "tier_local", actor, {"tier": tier}, ok=True)
        return {"tier": decision.as_dict()}

    # -- budget actions -------------------------------------------------------------------
    def _shrink_l1(self) -> None:
        if self.cache is not None:
            _, nbytes, l2, ttl = self._cache_sizes(self.profile)
            self.cache.resize(SHRUNK_L1_ITEMS, min(nbytes, SHRUNK_L1_BYTES), l2, ttl)

    def _restore_l1(self) -> None:
        if self.cache is not None:
            self.cache.resize(*self._cache_sizes(self.profile))

    def _publish_mode(self) -> None:
        # The lexical-mode gauge (and its critical alert) means the model is lost: before the
        # first index exists (a new box indexing its sample manual) nothing is answered in any
        # mode, and that is not a degradation.
        mode = self.engine.mode
        try:
            no_index = mode == "lexical" and self.engine.snapshot() is None
        except IndexStoreError:  # damaged: no usable index either (status and /healthz say why)
            no_index = True
        self.metrics.set_mode("no_index" if no_index else mode)

    def _set_lexical(self, on: bool) -> None:
        self.engine.set_lexical_only(on or not self.profile.embeddings)
        self._publish_mode()
        if on:
            import gc
            gc.collect()

    def on_resources(self, sample: dict[str, Any]) -> None:
        """ResourceSampler callback: metrics, then budget enforcement."""
        self.metrics.set_resources(sample)
        self.budget.feed(sample.get("rss_bytes"))
        self.metrics.set_budget(self.budget.state())
        self._publish_mode()
        self.writes.poll(self.cache, self.outbox_error)

    # -- admin ----------------------------------------------------------------------------
    def admin_token(self) -> str | None:
        return self._token

    def clear_cache(self, actor: str) -> dict[str, Any]:
        result = self.cache.clear() if self.cache is not None else {"cleared": 0, "enabled": False}
        if self.audit is not None:
            self.writes.run("audit", self.audit.action, "cache_clear", actor, result, ok=True)
        return result

    # -- status ---------------------------------------------------------------------------
    def health(self) -> tuple[str, dict[str, Any]]:
        if not self.started:
            return "starting", {"reason": self.start_error or "indexing or starting up"}
        mode = self.engine.mode
        degraded = self.budget.level > 0 or (mode == "lexical" and self.profile.embeddings and self.embedder is not None)
        details = {"mode": mode, "tier": self.decision.name, "memory": self.budget.state()["state"]}
        failing = self.writes.problems()
        if failing:  # answers go on, but the audit trail, cache or telemetry are being lost
            details["storage"] = failing
        try:
            self.engine.snapshot()
        except IndexStoreError as exc:  # nothing can be answered until `nic-edge index` rebuilds it
            details["index"] = str(exc)
            degraded = True
        if self.start_error:  # start-up indexing failed; answers come from the index there was
            details["start_error"] = self.start_error
        return ("degraded" if degraded or failing or self.start_error else "ok"), details

    def alerts(self) -> dict[str, Any]:
        return {"active": self.alert_evaluator.active(), "recent": self.alert_evaluator.recent(50)}

    def metrics_text(self) -> str:
        return self.metrics.prometheus_text()

    def _latency_ms(self) -> dict[str, Any]:
        """Cumulative percentiles in milliseconds (the status page and humans read ms)."""
        def ms(e: dict[str, Any]) -> dict[str, Any]:
            conv = {f"{k}_ms": (None if e.get(k) is None else round(e[k] * 1000.0, 3)) for k in ("p50", "p95", "p99")}
            return {**conv, "count": e.get("count", 0)}
        summary = self.metrics.latency_summary()
        return {"answer": ms(summary["answer"]), "stages": {k: ms(v) for k, v in summary["stages"].items()}}

    def _engine_view(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The engine's status and manuals. A damaged index (a file cut short) must not take
        the status page and /api/status down with it: they are how a technician learns of it,
        so it becomes ``index.problem`` (``index.damaged``) instead of a 503."""
        try:
            return self.engine.status(), self.engine.manuals()
        except IndexStoreError as exc:
            emb = self.embedder
            model = {"available": emb is not None, "loaded": bool(getattr(emb, "loaded", False)),
                     "sha256": getattr(emb, "model_sha256", None) if emb is not None else None}
            return {"model": model, "index": {"generation": None, "chunks": 0, "sources": 0, "vectors": False,
                                              "problem": str(exc), "damaged": True}}, []

    def status(self) -> dict[str, Any]:
        engine, manuals = self._engine_view()
        state, details = self.health()
        hw = self._hardware
        cache = self.cache.stats() if self.cache is not None else {"enabled": False}
        if self.cache is not None:
            cache["hit_rate"] = cache.get("hit_ratio")
        res = self.metrics.resources()
        budget = self.budget.state()
        rss = res.get("rss_bytes")
        return {
            "device_id": self.device_id, "version": __version__, "uptime_s": round(self._clock() - self.started_at, 1),
            "tier": {"name": self.decision.name, "source": self.decision.source,
                     "reasons": list(self.decision.reasons),
                     "memory_budget_mib": self.profile.memory_budget_mib},
            "hardware": hw.as_dict(),
            "threads": self.threads.as_dict(),
            "mode": self.engine.mode,
            "model": engine.get("model", {}), "index": engine.get("index", {}),
            "manuals": manuals,  # by name on the status page; abstentions name them
            "health": {**details, "status": state},  # as /healthz: "starting" while indexing at start
            "cache": cache,
            "latency": self._latency_ms(),
            "resources": {**res, "rss_mib": None if rss is None else round(rss / 1048576.0, 1),
                          "budget_mib": self.profile.memory_budget_mib, "budget": budget},
            "mqtt": self.mqtt_status(),
            "content": self.content_status(),
            "alerts": {"active": self.alert_evaluator.active()},
            "events": self.events[-10:],
        }

    def info(self) -> dict[str, Any]:
        """The retained MQTT ``info`` body."""
        idx = self._engine_view()[0].get("index", {})
        ram = self._hardware.ram_mib
        return {"device": self.device_id, "version": __version__, "ts": self._clock(),
                "board": self._hardware.board, "ram_bytes": None if ram is None else ram * 1048576,
                "tier": self.decision.name, "index": idx}

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        if self.audit is not None:
            self.writes.run("audit", self.audit.close)
