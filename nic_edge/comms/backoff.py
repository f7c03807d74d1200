"""Reconnect pacing and connect-failure wording for the MQTT publisher."""

from __future__ import annotations

import random
import socket
import ssl
from typing import Callable


def backoff_delay(attempt: int, cap: float, rnd: Callable[[], float] = random.random) -> float:
    """Delay before reconnect ``attempt`` (0-based): min(cap, 2**attempt) with equal jitter."""
    base = min(float(cap), 2.0 ** min(attempt, 30))
    return base * (0.5 + 0.5 * rnd())


def describe_connect_error(exc: BaseException, host: str, port: int) -> str:
    """One line saying why a connection attempt failed, naming the setting to check."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve broker host {host!r} ({exc.strerror}); check mqtt.host"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate check failed: {exc.verify_message}; check mqtt.ca_file and mqtt.host"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc}); check mqtt.tls, mqtt.port and certificates"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {host}:{port}; broker down or wrong mqtt.port"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"timed out connecting to {host}:{port}; check mqtt.host/mqtt.port and the network"
    return f"cannot connect to {host}:{port}: {exc}"
