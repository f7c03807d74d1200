"""Fixtures: a real HttpService on 127.0.0.1 (free port) in front of a FakeApp."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from nic_edge.core.config import HttpConfig
from nic_edge.http.server import HttpService
from tests.http.fakes import FakeApp


@pytest.fixture
def app() -> FakeApp:
    return FakeApp()


@pytest.fixture
def make_server() -> Iterator[Callable[..., HttpService]]:
    started: list[HttpService] = []

    def make(app: FakeApp | None = None, **cfg: object) -> HttpService:
        settings = {"bind": "127.0.0.1", "port": 0, "request_timeout_s": 2.0, **cfg}
        svc = HttpService(app or FakeApp(), HttpConfig(**settings))  # type: ignore[arg-type]
        svc.start()
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.stop()


@pytest.fixture
def server(make_server: Callable[..., HttpService], app: FakeApp) -> HttpService:
    return make_server(app)


@pytest.fixture
def port(server: HttpService) -> int:
    assert server.port
    return server.port
