"""Shared fixtures. Helpers for a real mosquitto broker live in tests/support/broker.py."""

from __future__ import annotations

pytest_plugins = ["tests.support.broker"]
