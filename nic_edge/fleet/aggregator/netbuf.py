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

A PUBACK leaves only after the callback returned, as with paho; holding it longer is safe: a
broker re-sends an unacknowledged message only on a new connection, and the aggregator
de-duplicates on (device, seq). With ``hold_acks`` (the aggregator's ``ack_after_commit``),
PUBACKs wait until the data they acknowledge is committed: ``ack_mark()`` (taken under the
store's lock before a flush's snapshot) names every PUBACK queued so far, and ``release(mark)``
(after the commit, from the flushing thread) lets them go; the network thread sends them at its
next pass (at most ~1 s later in a quiet fleet: paho's loop wakes every second). A broker sends
at most its in-flight window of unacknowledged messages, so this needs a large one: MQTT 5's
Receive Maximum, which the aggregator sets to 65,535. paho internals used here (pinned
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

    def __init__(self, sock: socket.socket, hold_acks: bool = False) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0
        self._acks = bytearray()
        self.hold_acks = hold_acks
        # held PUBACK bytes: appended and sent by the network thread only; ``_released`` (the
        # running byte count that may go) is written by the flushing thread only
        self._held = bytearray()
        self._held_total = 0   # bytes ever appended to _held
        self._moved = 0        # bytes ever moved from _held to _acks
        self._released = 0

    def ack_mark(self) -> int:
        """A mark covering every PUBACK queued so far (for ``release``)."""
        return self._held_total

    def release(self, mark: int) -> None:
        """PUBACKs up to ``mark`` may go (their data is committed); any thread."""
        if mark > self._released:
            self._released = mark

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
        n = len(data)
        if 4 <= n <= 5 and data[0] == _PUBACK and data[1] == n - 2:  # a PUBACK (MQTT 5: maybe a reason code)
            self._ack(bytes(data))
            return n
        self._flush_acks()  # order on the wire stays paho's order
        return self._sock.send(data)

    def _ack(self, puback: bytes) -> None:
        if self.hold_acks:
            self._held += puback
            self._held_total += len(puback)
            return
        self._acks += puback
        if len(self._acks) >= 4 * ACK_BATCH:
            self._flush_acks()

    def _flush_acks(self) -> None:
        if self._held:
            k = self._released - self._moved
            if k > 0:
                self._acks += self._held[:k]
                del self._held[:k]
                self._moved += k
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
        hold_acks = False  # PUBACKs wait for release() (see the module docstring)

        def _create_socket(self) -> Any:
            sock = super()._create_socket()
            return BufferedSocket(sock, self.hold_acks) if type(sock) is socket.socket else sock

        def can_hold_acks(self) -> bool:
            """False on a connection paho handles itself (TLS, websockets; MqttIngest then holds
            the PUBACKs with paho's manual acks)."""
            return type(self._sock) is BufferedSocket and self._sock.hold_acks

        def ack_mark(self) -> tuple[Any, int]:
            sock = self._sock
            return (sock, sock.ack_mark()) if type(sock) is BufferedSocket else (None, 0)

        def release_acks(self, token: tuple[Any, int]) -> None:
            sock, mark = token
            if sock is not None and sock is self._sock:  # after a reconnect the broker re-sends instead
                sock.release(mark)

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
