"""The aggregator's MQTT receive path: paho-mqtt for the session, a lean path for PUBLISH.

Measured on the 2-core development VM (docs/benchmarks/aggregator.md), paho spends ~100 us of
CPU per received QoS 1 message that a callback ignores (~185 us with MQTT 5): three or four
``recv`` calls per packet, a ``select`` per packet, a message object with its own lock and
condition, topic-filter matching, and a queued PUBACK with a wake-up write and its own ``send``.
At the fleet's target of 5,000 messages/s on one core that is the whole budget.

``BufferedClient`` keeps paho for everything that makes up a session (connect, TLS, auth,
subscribe, keepalive, reconnect, QoS 2, MQTT 5 properties) and changes two things, on plain
TCP sockets only (TLS, websockets and Unix sockets keep paho's own path):

* ``BufferedSocket`` wraps the socket: ``recv`` serves from one large read and ``pending()``
  reports buffered bytes, which paho already asks of socket-like objects (SSL sockets have it)
  so that it does not wait in ``select`` while data is buffered;
* when ``fast_publish(topic, payload, retain)`` is set, complete QoS 0/1 PUBLISH packets in the
  buffer (without MQTT 5 properties) are parsed here and handed to it, and their 4-byte PUBACKs
  are sent together: every ACK_BATCH, as soon as the buffer is drained (before paho can block in
  ``select``), or on close. Anything else (CONNACK, SUBACK, PINGRESP, QoS 2, properties, a packet
  not yet complete) goes through paho's own ``_packet_read``, reading the same buffer.

A PUBACK leaves only after the callback returned, as with paho; holding it a few hundred
microseconds longer is safe: a broker re-sends an unacknowledged message only on a new
connection, and the aggregator de-duplicates on (device, seq). paho internals used here (pinned
to 2.x): ``_create_socket``, ``_packet_read``, ``_in_packet``, ``_protocol``, ``_msgtime_mutex``,
``_last_bytes_received``; without them the plain paho client is used.
"""

from __future__ import annotations

import select
import socket
from typing import Any, Callable

READ_SIZE = 256 * 1024
ACK_BATCH = 8       # well under a broker's in-flight window (mosquitto's default: 20)
_PUBACK = 0x40
FastPublish = Callable[[str | None, bytes, bool], None]


class BufferedSocket:
    """A socket-like object for paho: buffered reads, batched PUBACK writes."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0
        self._acks = bytearray()

    def _fill(self) -> bytes:
        self._flush_acks()  # about to need the network: let the broker send more first
        buf = self._sock.recv(READ_SIZE)  # BlockingIOError when there is nothing: paho handles it
        self._buf, self._pos = buf, 0
        return buf

    def recv(self, n: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf, pos = self._fill(), 0
        end = min(pos + n, len(buf))
        self._pos = end
        return buf[pos:end]

    def pending(self) -> int:
        left = len(self._buf) - self._pos
        if not left:
            self._flush_acks()
        return left

    def send(self, data: bytes | bytearray | memoryview) -> int:
        if len(data) == 4 and data[0] == _PUBACK:
            self._ack(bytes(data))
            return 4
        self._flush_acks()  # order on the wire stays paho's order
        return self._sock.send(data)

    def _ack(self, puback: bytes) -> None:
        self._acks += puback
        if len(self._acks) >= 4 * ACK_BATCH:
            self._flush_acks()

    def _flush_acks(self) -> None:
        if not self._acks:
            return
        view = memoryview(self._acks)
        sent = 0
        try:
            while sent < len(view):
                try:
                    sent += self._sock.send(view[sent:])
                except BlockingIOError:  # send buffer full (rare: acks are tiny): wait for room
                    select.select([], [self._sock], [], 1.0)
        finally:
            view.release()
            del self._acks[:sent]

    def take_publishes(self, deliver: FastPublish, v5: bool) -> int:
        """Hand every complete QoS 0/1 PUBLISH at the head of the buffer to ``deliver`` (topic
        None when it is not UTF-8) and queue its PUBACK; stop at anything else. Returns how many;
        BlockingIOError when nothing is buffered or readable; 0 at end of stream (paho's own
        read then sees it)."""
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf, pos = self._fill(), 0
        end, n = len(buf), 0
        while pos < end:
            head = buf[pos]
            if head & 0xF0 != 0x30 or head & 0x06 > 0x02:  # not PUBLISH, or QoS 2 / invalid
                break
            rl, i, shift = 0, pos + 1, 0
            while i < end and shift < 28:
                b = buf[i]
                rl |= (b & 0x7F) << shift
                i += 1
                if b < 0x80:
                    break
                shift += 7
            else:
                break  # length not complete yet (or malformed: paho decides)
            stop = i + rl
            if stop > end or rl < 2:
                break
            t_end = i + 2 + (buf[i] << 8 | buf[i + 1])
            p = t_end + 2 if head & 0x06 else t_end
            if v5:
                if p >= stop or buf[p] != 0:  # properties present: paho parses them
                    break
                p += 1
            if p > stop or (t_end == i + 2 and not v5):
                break  # malformed or empty topic: paho's error handling
            try:
                topic: str | None = buf[i + 2:t_end].decode("utf-8")
            except UnicodeDecodeError:
                topic = None
            self._pos = pos = stop  # consumed before the callback: never delivered twice
            try:
                deliver(topic, buf[p:stop], bool(head & 0x01))
            finally:  # acknowledged even if the callback failed: it is never re-delivered anyway
                if head & 0x06:
                    self._ack(b"\x40\x02" + buf[t_end:t_end + 2])
            n += 1
        return n

    def close(self) -> None:
        try:
            self._flush_acks()
        except OSError:
            pass  # the connection is going away; the broker re-sends unacknowledged messages
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:  # settimeout, getpeername, shutdown, ...
        return getattr(self._sock, name)


def buffered_client_class() -> type:
    """paho's ``Client`` with the lean receive path above (paho imported lazily)."""
    from nic_edge.core.mqtt_client import import_paho  # noqa: PLC0415

    mqtt = import_paho()
    needed = ("_create_socket", "_packet_read", "_sock_recv")
    if not all(hasattr(mqtt.Client, a) for a in needed) or not hasattr(mqtt, "time_func"):
        return mqtt.Client  # type: ignore[no-any-return]  # another paho: its own path
    err = mqtt.MQTTErrorCode
    v5_proto = mqtt.MQTTv5

    class BufferedClient(mqtt.Client):  # type: ignore[misc, name-defined]
        fast_publish: FastPublish | None = None

        def _create_socket(self) -> Any:
            sock = super()._create_socket()
            return BufferedSocket(sock) if type(sock) is socket.socket else sock

        def _packet_read(self) -> Any:
            sock, deliver = self._sock, self.fast_publish
            if deliver is not None and type(sock) is BufferedSocket and self._in_packet["command"] == 0:
                try:
                    n = sock.take_publishes(deliver, self._protocol == v5_proto)
                except BlockingIOError:
                    return err.MQTT_ERR_AGAIN
                except OSError:
                    return err.MQTT_ERR_CONN_LOST
                if n:
                    with self._msgtime_mutex:
                        self._last_bytes_received = mqtt.time_func()
                    return err.MQTT_ERR_SUCCESS
            return super()._packet_read()

    return BufferedClient
