"""What the HTTP surface needs from the device application (composed by the lead).

The HTTP layer depends on this protocol only, never on the engine, cache or telemetry modules,
so the surface can be tested against a fake and the device parts stay free of HTTP.
"""

from __future__ import annotations

from typing import Protocol


class AppProtocol(Protocol):
    """The device application as seen from HTTP. Implementations must be thread-safe:
    up to ``http.workers`` requests call into it at once."""

    device_id: str

    def ask(self, question: object, top_k: object = None) -> dict:
        """Answer dict (DESIGN.md); reason "invalid_input" for bad questions (never raises for them)."""
        ...

    def retrieve(self, query: object, k: object = None) -> dict:
        """``{"id": None, "hits": [...]}``; raises InvalidInputError for a bad query."""
        ...

    def status(self) -> dict:
        """The /api/status body (device_id, version, tier, model, index, cache, latency, ...)."""
        ...

    def health(self) -> tuple[str, dict]:
        """("starting" | "ok" | "degraded", details)."""
        ...

    def alerts(self) -> dict:
        """``{"active": [...], "recent": [...]}``."""
        ...

    def metrics_text(self) -> str:
        """Prometheus text exposition (format 0.0.4)."""
        ...

    def clear_cache(self, actor: str) -> dict:
        """Clear the answer caches; the result is returned to the admin client as JSON."""
        ...

    def set_local_tier(self, tier: str | None, actor: str) -> dict:
        """Set (or clear with None) the local tier override; raises ConfigError for an unknown tier."""
        ...

    def admin_token(self) -> str | None:
        """The admin bearer token; None disables the admin routes (403 with a hint)."""
        ...
