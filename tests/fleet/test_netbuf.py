"""The aggregator's lean PUBLISH path (netbuf.BufferedSocket) on crafted MQTT packets over a
real socket pair: what it takes, what it leaves to paho, and the PUBACKs it sends."""

from __future__ import annotations

import socket
import struct

import pytest

from nic_edge.fleet.aggregator.netbuf import ACK_BATCH, BufferedSocket


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: bytes, payload: bytes, qos: int = 1, mid: int = 1, retain: bool = False,
            props: bytes | None = None) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    if props is not None:  # MQTT 5: property length + properties
        body += _varint(len(props)) + props
    body += payload
    return bytes([0x30 | qos << 1 | int(retain)]) + _varint(len(body)) + body


@pytest.fixture()
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    yield BufferedSocket(a), b
    a.close()
    b.close()


def _take(sock: BufferedSocket, v5: bool = False) -> list[tuple]:
    got: list[tuple] = []
    sock.take_publishes(lambda t, p, r: got.append((t, p, r)), v5)
    return got


def test_takes_qos0_and_qos1_and_acks_qos1(pair) -> None:
    sock, peer = pair
    big = b"x" * 300  # two-byte remaining length
    peer.sendall(publish(b"nic/a/metrics", big, qos=1, mid=7) + publish(b"nic/a/status", b"online", qos=0, retain=True))
    got = _take(sock)
    assert got == [("nic/a/metrics", big, False), ("nic/a/status", b"online", True)]
    assert sock.pending() == 0  # drained: queued acks go out now
    assert peer.recv(100) == b"\x40\x02\x00\x07"


def test_packet_split_across_reads_is_left_for_the_next_read(pair) -> None:
    sock, peer = pair
    pkt = publish(b"nic/b/metrics", b"{}" * 50, mid=9)
    peer.sendall(pkt[:10])
    assert _take(sock) == []
    # paho's own read would now consume the partial bytes; here the buffer keeps them, so
    # reading through recv() returns exactly the bytes sent so far
    assert sock.recv(100) == pkt[:10]


def test_qos2_and_other_packets_stop_the_lean_path(pair) -> None:
    sock, peer = pair
    peer.sendall(publish(b"t/1", b"a", qos=1, mid=1) + publish(b"t/2", b"b", qos=2, mid=2) + publish(b"t/3", b"c", qos=1, mid=3))
    assert _take(sock) == [("t/1", b"a", False)]
    rest = sock.recv(4096)  # what paho would read itself, starting at the QoS 2 packet
    assert rest.startswith(publish(b"t/2", b"b", qos=2, mid=2))
    peer.sendall(b"\x20\x02\x00\x00")  # CONNACK-like: not a PUBLISH
    assert _take(sock) == []


def test_mqtt5_without_properties_is_taken_with_properties_is_not(pair) -> None:
    sock, peer = pair
    peer.sendall(publish(b"nic/c/alerts", b"{}", mid=4, props=b""))
    assert _take(sock, v5=True) == [("nic/c/alerts", b"{}", False)]
    with_props = publish(b"nic/c/alerts", b"{}", mid=5, props=b"\x01\x01")  # payload format indicator
    peer.sendall(with_props)
    assert _take(sock, v5=True) == []
    assert sock.recv(4096) == with_props


def test_non_utf8_topic_is_delivered_as_none_and_still_acked(pair) -> None:
    sock, peer = pair
    peer.sendall(publish(b"nic/\xff/metrics", b"{}", mid=11))
    assert _take(sock) == [(None, b"{}", False)]
    sock.pending()
    assert peer.recv(100) == b"\x40\x02\x00\x0b"


def test_acks_flush_in_batches_and_survive_a_failing_callback(pair) -> None:
    sock, peer = pair
    n = ACK_BATCH * 2 + 1
    peer.sendall(b"".join(publish(b"t", b"p", mid=i + 1) for i in range(n)))

    def boom(topic, payload, retain):
        raise RuntimeError("callback failed")

    taken = 0
    while taken < n:
        with pytest.raises(RuntimeError):
            sock.take_publishes(boom, False)
        taken += 1
    sock.close()  # flushes what is still queued
    acks = b""
    while len(acks) < 4 * n:
        chunk = peer.recv(4096)
        if not chunk:
            break
        acks += chunk
    assert acks == b"".join(b"\x40\x02" + struct.pack("!H", i + 1) for i in range(n))


def test_empty_socket_raises_blocking_and_eof_returns_zero(pair) -> None:
    sock, peer = pair
    with pytest.raises(BlockingIOError):
        _take(sock)
    peer.shutdown(socket.SHUT_WR)
    assert sock.take_publishes(lambda *a: None, False) == 0


def test_held_acks_leave_only_when_released(pair) -> None:
    sock, peer = pair
    sock.hold_acks = True
    peer.settimeout(0.2)
    peer.sendall(b"".join(publish(b"nic/h/metrics", b"{}", mid=m) for m in (1, 2)))
    assert len(_take(sock)) == 2
    mark = sock.ack_mark()  # both applied: a flush's snapshot covers them
    peer.sendall(publish(b"nic/h/metrics", b"{}", mid=3))
    assert len(_take(sock)) == 1
    assert sock.pending() == 0  # drained, yet nothing is committed: nothing may go
    with pytest.raises(socket.timeout):
        peer.recv(100)
    sock.release(mark)  # committed (from the flushing thread)
    sock.pending()      # the network thread's next pass
    assert peer.recv(100) == b"\x40\x02\x00\x01\x40\x02\x00\x02"
    sock.send(b"\xc0\x00")  # PINGREQ: released acks go first, held ones stay held
    assert peer.recv(100) == b"\xc0\x00"
    sock.release(sock.ack_mark())
    sock.close()  # released acks still leave on close
    assert peer.recv(100) == b"\x40\x02\x00\x03"


def test_paho_pubacks_are_held_too(pair) -> None:
    sock, peer = pair
    sock.hold_acks = True
    peer.settimeout(0.2)
    assert sock.send(b"\x40\x02\x00\x09") == 4       # paho's own PUBACK (a packet it parsed itself)
    assert sock.send(b"\x40\x03\x00\x0a\x00") == 5   # MQTT 5 form with a reason code
    sock.pending()
    with pytest.raises(socket.timeout):
        peer.recv(100)
    sock.release(sock.ack_mark())
    sock.pending()
    assert peer.recv(100) == b"\x40\x02\x00\x09\x40\x03\x00\x0a\x00"
