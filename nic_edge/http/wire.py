"""Request framing done by the server's service thread before a worker sees a connection.

The service thread collects a request's head (and a small Content-Length body) without blocking,
so a worker only ever gets a request that has fully arrived; these helpers decide when that is.
"""

from __future__ import annotations

import io
import re
import socket

MAX_LINE = 65536                 # the handler answers 414 beyond this request-line length
MAX_HEAD = MAX_LINE + 16 * 1024  # a head still incomplete beyond this gets 431 from the service thread
_LENGTH = re.compile(rb"\ncontent-length[ \t]*:[ \t]*([0-9]{1,12})[ \t]*\r?\n", re.I)
_EXPECT = re.compile(rb"\nexpect[ \t]*:", re.I)
_CHUNKED = re.compile(rb"\ntransfer-encoding[ \t]*:", re.I)
_EXPECT_LINE = re.compile(rb"\nexpect[ \t]*:[^\n]*\n", re.I)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def head_end(buf: bytes | bytearray) -> tuple[int, bool] | None:
    """``(end, headerless)`` once the head is complete, else None. ``end`` is the offset after
    the blank line; ``headerless`` is True for a request line that no headers may follow (an
    HTTP/0.9 ``GET /``, or a malformed line): the handler gets a blank line appended so the
    stdlib parser does not wait 10 s for headers that never come."""
    ends = [i + n for i, n in ((buf.find(b"\r\n\r\n"), 4), (buf.find(b"\n\n"), 2)) if i >= 0]
    nl = buf.find(b"\n")
    if nl < 0:
        return (len(buf), True) if len(buf) > MAX_LINE else None  # the handler answers 414
    if nl > MAX_LINE or len(bytes(buf[:nl]).split()) not in (0, 3):
        return nl + 1, True
    return (min(ends), False) if ends else None


def body_wanted(head: bytes | bytearray, limit: int) -> tuple[int, bool]:
    """``(bytes, expect)``: the body the service thread should collect before handing over (the
    Content-Length when it is plain and within ``limit``; 0 when the handler must decide: none,
    too large, chunked, ambiguous), and whether the client waits for ``100 Continue``."""
    expect = bool(_EXPECT.search(head))
    m = _LENGTH.search(head)
    if _CHUNKED.search(head) or m is None or len(_LENGTH.findall(head)) != 1:
        return 0, expect
    n = int(m.group(1))
    return (n if n <= limit else 0), expect


def drop_expect(buf: bytearray, head_len: int) -> tuple[bytearray, int]:
    """The request without its ``Expect`` line (the service thread already sent 100 Continue)."""
    head = _EXPECT_LINE.sub(b"\n", bytes(buf[:head_len]))
    return bytearray(head) + buf[head_len:], len(head)


class Prefixed(io.RawIOBase):
    """What the service thread already read, then the socket (blocking, with its timeout)."""

    def __init__(self, data: bytes, sock: socket.socket) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._pos = 0
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        left = len(self._data) - self._pos
        if left > 0:
            n = min(len(b), left)
            b[:n] = self._data[self._pos:self._pos + n]
            self._pos += n
            return n
        return self._sock.recv_into(b)
