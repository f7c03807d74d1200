"""HEALTHCHECK of the broker image: a TCP connect to $NIC_HEALTH_ADDR (host:port) succeeds."""
import os
import socket
import sys

host, _, port = os.environ.get("NIC_HEALTH_ADDR", "127.0.0.1:1883").rpartition(":")
try:
    socket.create_connection((host, int(port)), timeout=3).close()
except OSError as exc:
    print(f"unhealthy: {host}:{port}: {exc}", file=sys.stderr)
    sys.exit(1)
