"""Shared fixtures: a real mosquitto broker (tests/support/broker.py), a real headless Chromium
(tests/support/chromium.py)."""

from __future__ import annotations

pytest_plugins = ["tests.support.broker", "tests.support.chromium", "tests.support.prometheus"]
