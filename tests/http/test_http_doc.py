"""docs/HTTP.md, the integrator's reference, names every route and every error reason the
handler can give (a route or reason added later must be documented)."""

from __future__ import annotations

import re
from pathlib import Path

from nic_edge.http import conn, handler

DOC = (Path(__file__).resolve().parents[2] / "docs" / "HTTP.md").read_text(encoding="utf-8")


def test_every_route_is_documented() -> None:
    for path, methods in handler.ROUTES.items():
        for method in methods:
            assert re.search(rf"`{method} {re.escape(path)}[`?]", DOC), f"{method} {path}"


def test_every_error_reason_is_documented() -> None:
    source = Path(handler.__file__).read_text() + Path(conn.__file__).read_text()
    reasons = set(re.findall(r'"reason": "([a-z_]+)"', source))
    reasons |= set(re.findall(r'ClientError\(\d{3}, [^)]*?"([a-z_]+)"', source, re.S))
    reasons |= set(re.findall(r'self\._error\(\d{3}, [^\n]*?"([a-z_]+)"[,)]', source))
    assert {"too_large", "not_found", "busy", "internal", "unavailable"} <= reasons  # the search works
    reasons |= {handler.INVALID, "method_not_allowed"}
    for reason in sorted(reasons):
        assert f"`{reason}`" in DOC, reason
