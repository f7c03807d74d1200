from __future__ import annotations

import threading

from nic_edge.core.lifecycle import Runtime, Service


class Ticker(Service):
    name = "ticker"

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log
        self.ticks = 0

    def on_start(self) -> None:
        self.log.append("start " + self.name)

    def run(self) -> None:
        while not self.wait(0.01):
            self.ticks += 1

    def on_stop(self) -> None:
        self.log.append("stop " + self.name)


def test_service_thread_named_and_stops() -> None:
    log: list[str] = []
    t = Ticker(log)
    t.start()
    assert any(th.name == "nic-ticker" for th in threading.enumerate())
    t.stop()
    t.stop()  # harmless
    assert log == ["start ticker", "stop ticker"]
    assert not any(th.name == "nic-ticker" for th in threading.enumerate())


def test_runtime_starts_in_order_stops_in_reverse() -> None:
    log: list[str] = []
    rt = Runtime()
    a, b = Ticker(log), Ticker(log)
    a.name, b.name = "a", "b"
    rt.add(a)
    rt.add(b)
    rt.start()
    rt.stop()
    assert log == ["start a", "start b", "stop b", "stop a"]
    assert rt.wait(0)


def test_failed_start_stops_the_started() -> None:
    log: list[str] = []

    class Bad(Service):
        name = "bad"
        threaded = False

        def on_start(self) -> None:
            raise RuntimeError("boom")

    rt = Runtime()
    a = Ticker(log)
    rt.add(a)
    rt.add(Bad())
    try:
        rt.start()
    except RuntimeError:
        pass
    assert log == ["start ticker", "stop ticker"]
