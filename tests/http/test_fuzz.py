"""Fuzz the HTTP API: 10,000 random requests -> no 5xx, server alive, no traceback in the log."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from tests.http.client import request

_SPEC = importlib.util.spec_from_file_location(
    "fuzz_http", Path(__file__).resolve().parents[2] / "tools" / "fuzz_http.py")
fuzz_http = importlib.util.module_from_spec(_SPEC)  # type: ignore[arg-type]
_SPEC.loader.exec_module(fuzz_http)  # type: ignore[union-attr]


def test_fuzz_10000_requests(make_server, caplog, capfd) -> None:
    svc = make_server(workers=4, request_timeout_s=5.0)
    with caplog.at_level(logging.DEBUG, logger="nic_edge"):
        counts = fuzz_http.run("127.0.0.1", svc.port, 10_000, threads=8, seed=6)
    assert sum(counts.values()) == 10_000
    fives = {code: n for code, n in counts.items() if code is not None and code >= 500}
    assert not fives, counts
    assert counts[200] > 100 and counts[400] > 100 and counts[404] > 100, counts  # it reached the app
    assert request(svc.port, "GET", "/healthz").status == 200
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, tracebacks[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
