"""Where a technician can reach the box: the URLs named in the systemd status and the log.

``HttpService.url`` is the address *this host* connects to (127.0.0.1 for a wildcard bind);
a person reading ``systemctl status nic-edge`` on a LAN box needs the box's own LAN address
instead, so a wildcard bind is spelled out with the interface addresses.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from pathlib import Path
from typing import Iterable, Mapping

log = logging.getLogger(__name__)

# bind value -> address families it listens on
_WILDCARDS = {"0.0.0.0": (socket.AF_INET,), "": (socket.AF_INET,), "::": (socket.AF_INET6, socket.AF_INET)}

Interfaces = Mapping[str, Iterable[tuple[int, str]]]


def interface_addresses(proc: Path = Path("/proc/net")) -> dict[str, list[tuple[int, str]]]:
    """``{interface: [(family, address), ...]}`` of this host.

    psutil (imported lazily) asks the kernel over netlink, which the hardened unit forbids
    (``RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6``); there the addresses come from
    /proc/net instead (IPv4 local addresses from ``fib_trie``, IPv6 from ``if_inet6``).
    """
    try:
        import psutil

        return {name: [(a.family, a.address) for a in addrs] for name, addrs in psutil.net_if_addrs().items()}
    except OSError:
        return proc_addresses(proc)


def proc_addresses(proc: Path = Path("/proc/net")) -> dict[str, list[tuple[int, str]]]:
    """The same from /proc/net files (no interface names for IPv4: listed under ``"inet"``)."""
    out: dict[str, list[tuple[int, str]]] = {}
    last = ""
    for line in (proc / "fib_trie").read_text().splitlines():
        text = line.strip()
        if text.startswith("|-- "):
            last = text[4:]
        elif text.startswith("/32 host LOCAL") and last:
            if (socket.AF_INET, last) not in out.setdefault("inet", []):
                out["inet"].append((socket.AF_INET, last))
    try:
        lines = (proc / "if_inet6").read_text().splitlines()
    except FileNotFoundError:  # IPv6 disabled
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) == 6:
            raw = fields[0]
            address = str(ipaddress.IPv6Address(":".join(raw[i:i + 4] for i in range(0, 32, 4))))
            out.setdefault(fields[5], []).append((socket.AF_INET6, address))
    return out


def _reachable(family: int, address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def reachable_urls(bind: str, port: int | None, interfaces: Interfaces | None = None) -> list[str]:
    """URLs other machines can use: the bind address itself, or for a wildcard bind every
    non-loopback, non-link-local address of this host (IPv4 first). Empty when the box has no
    such address yet (no DHCP lease)."""
    families = _WILDCARDS.get(bind)
    if families is None:
        host = bind
        return [f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"]
    if interfaces is None:
        try:
            interfaces = interface_addresses()
        except OSError as exc:  # neither netlink nor /proc/net: name the port alone
            log.debug("cannot list interface addresses: %s", exc)
            return []
    urls: list[str] = []
    for family in sorted(families, key=lambda f: f != socket.AF_INET):
        for name in sorted(interfaces):
            for fam, address in interfaces[name]:
                if fam == family and _reachable(fam, address):
                    url = f"http://[{address}]:{port}" if fam == socket.AF_INET6 else f"http://{address}:{port}"
                    if url not in urls:
                        urls.append(url)
    return urls


def serving_text(bind: str, port: int | None, interfaces: Interfaces | None = None) -> str:
    """One line for systemd's STATUS= and the log, e.g. ``http://10.0.2.15:8080 (bind 0.0.0.0)``."""
    urls = reachable_urls(bind, port, interfaces)
    if bind not in _WILDCARDS:
        return urls[0]
    shown = ", ".join(urls[:3]) + (f" and {len(urls) - 3} more" if len(urls) > 3 else "")
    if not shown:
        return f"port {port} on all interfaces (bind {bind or '0.0.0.0'}; no LAN address yet)"
    return f"{shown} (bind {bind or '0.0.0.0'}, port {port} on all interfaces)"
