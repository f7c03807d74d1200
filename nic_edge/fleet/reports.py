"""What a fleet push prints per device once the reports are in (tier overrides, content, releases)."""

from __future__ import annotations

from typing import Any, Callable


def summarize(devices: list[str], results: dict[str, dict[str, Any]], missing: str,
              detail: Callable[[dict[str, Any]], str] = lambda rep: "", want: str = "applied",
              out: Callable[[str], Any] = print) -> int:
    """One line per device: ``missing`` when it has not reported, else its status, ``detail`` and
    reason. Exit code 0 only when every device reported ``want``."""
    ok = True
    for dev in devices:
        rep = results.get(dev)
        if rep is None:
            ok = False
            out(f"{dev}: {missing}")
            continue
        ok = ok and rep["status"] == want
        reason = f" ({rep['reason']})" if rep.get("reason") else ""
        out(f"{dev}: {rep['status']}{detail(rep)}{reason}")
    return 0 if ok else 1
