"""System tests run only when asked (`bash tools/test.sh --system` sets NIC_SYSTEM_TEST=amd64):
they build a disk image and boot it under qemu, which takes minutes."""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

from tests.system.vm import SUMMARY


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("NIC_SYSTEM_TEST"):
        return
    skip = pytest.mark.skip(reason="system test: run `bash tools/test.sh --system` (builds and boots an image)")
    for item in items:
        if "tests/system/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    box = getattr(item, "funcargs", {}).get("box")
    if report.failed and box is not None and getattr(box, "vm", None) is not None:
        report.sections.append(("guest console (tail)", box.vm.console_tail(120)))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The build log lines and the figures of the run (timings), shown even with -q."""
    lines = config.stash.get(SUMMARY, [])
    if lines:
        terminalreporter.section("system test")
        for line in lines:
            terminalreporter.write_line(line)
