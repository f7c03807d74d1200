"""TEST ONLY: qemu's ``guestfwd=...-cmd:`` helper, one process per guest connection: relays its
stdin/stdout (the guest's TCP stream) to HOST:PORT on the host's loopback.

A ``guestfwd`` to a ``tcp:`` chardev would be ONE host connection shared by every guest
connection (an MQTT reconnect then arrives as a second CONNECT on the same broker socket)."""

from __future__ import annotations

import os
import socket
import sys
import threading


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise SystemExit("relay: loopback only")
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)

    def guest_to_host() -> None:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            sock.sendall(data)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=guest_to_host, name="relay-up", daemon=True).start()
    while True:
        data = sock.recv(65536)
        if not data:
            break
        os.write(1, data)


if __name__ == "__main__":
    main()
