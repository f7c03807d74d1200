"""Container tests run only through `bash tools/test.sh --containers` (root podman, image builds);
tests/conftest.py leaves this folder out of the everyday run, and named explicitly without the
switch its tests are skipped."""

from __future__ import annotations

import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("NIC_EDGE_CONTAINER_TESTS"):
        return
    skip = pytest.mark.skip(reason="container tests: run `bash tools/test.sh --containers`")
    for item in items:
        if str(item.path).startswith(HERE):
            item.add_marker(skip)
