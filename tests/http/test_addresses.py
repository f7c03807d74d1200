"""The address named in systemd's status text must be one a technician can reach."""

from __future__ import annotations

import socket
from pathlib import Path

from nic_edge.app.serve import Device
from nic_edge.core.config import parse_config
from nic_edge.http.addresses import proc_addresses, reachable_urls, serving_text

LAN = {
    "lo": [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")],
    "eth0": [(socket.AF_INET, "192.0.2.15"), (socket.AF_INET6, "fe80::1%eth0"), (socket.AF_INET6, "2001:db8::15")],
}


def test_wildcard_bind_names_the_lan_address_not_loopback() -> None:
    text = serving_text("0.0.0.0", 8080, LAN)
    assert text.startswith("http://192.0.2.15:8080 ")
    assert "127.0.0.1" not in text and "2001:db8" not in text  # 0.0.0.0 is IPv4 only
    assert reachable_urls("::", 8080, LAN) == ["http://192.0.2.15:8080", "http://[2001:db8::15]:8080"]


def test_explicit_bind_is_named_as_is() -> None:
    assert serving_text("127.0.0.1", 8080, LAN) == "http://127.0.0.1:8080"
    assert serving_text("192.0.2.15", 81, {}) == "http://192.0.2.15:81"


def test_no_lan_address_yet_says_so() -> None:
    text = serving_text("0.0.0.0", 8080, {"lo": LAN["lo"]})
    assert "127.0.0.1" not in text and "no LAN address yet" in text and "8080" in text


def test_device_status_text_with_wildcard_bind_is_not_loopback(tmp_path: Path) -> None:
    # Not started (binding 0.0.0.0 in a test would listen beyond loopback): the port is set
    # as HttpService sets it once bound. The real host's interfaces are used.
    cfg = parse_config({"device": {"id": "box-1", "tier": "ultra_lite"}, "http": {"bind": "0.0.0.0", "port": 8080}})
    device = Device(cfg, tmp_path / "data")
    try:
        device.http.port = 8080
        where = device.where()
        assert "127.0.0.1" not in where and "8080" in where
    finally:
        device.app.close()


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.2.0/24 2 0 2
        +-- 10.0.2.0/28 2 0 2
           |-- 10.0.2.0
              /24 link UNICAST
           |-- 10.0.2.15
              /32 host LOCAL
        |-- 10.0.2.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
           |-- 10.0.2.15
              /32 host LOCAL
"""
IF_INET6 = """fec00000000000005054fffe123456 02 40 00 00     eth0
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
"""


def test_addresses_from_proc_when_netlink_is_forbidden(tmp_path: Path) -> None:
    """The hardened unit forbids AF_NETLINK (psutil's way): /proc/net gives the addresses."""
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    (tmp_path / "if_inet6").write_text(IF_INET6.replace("fec00000000000005054fffe123456", "20010db8000000000000000000000015"))
    found = proc_addresses(tmp_path)
    assert found["inet"] == [(socket.AF_INET, "10.0.2.15"), (socket.AF_INET, "127.0.0.1")]
    assert (socket.AF_INET6, "2001:db8::15") in found["eth0"]
    assert serving_text("0.0.0.0", 8080, found).startswith("http://10.0.2.15:8080 ")
