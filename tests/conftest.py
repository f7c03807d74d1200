"""Shared fixtures: a real mosquitto broker (tests/support/broker.py), a real headless Chromium
(tests/support/chromium.py)."""

from __future__ import annotations

pytest_plugins = ["tests.support.broker", "tests.support.chromium", "tests.support.prometheus"]

# The container tests (tests/containers: images, compose stack) need root podman and minutes of
# build time: only `bash tools/test.sh --containers` runs them (it sets NIC_EDGE_CONTAINER_TESTS).
if not __import__("os").environ.get("NIC_EDGE_CONTAINER_TESTS"):
    collect_ignore = ["containers"]
