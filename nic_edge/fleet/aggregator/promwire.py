"""Prometheus remote-write wire format in pure Python: protobuf ``WriteRequest`` + snappy block.

The remote-write 1.0 body is a ``prometheus.WriteRequest`` protobuf compressed with snappy's
*block* format (not the framing format)::

    message WriteRequest { repeated TimeSeries timeseries = 1; }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }   // ms since the epoch

Only these four messages are needed, so they are encoded by hand (no protobuf dependency).
Labels are sorted by name with ``__name__`` first, as the receiver requires.

Snappy: a general compressor in pure Python costs ~1 us per input byte, more CPU than the rest
of the aggregator for a large fleet. But the encoder knows the structure: most of a batch is
labels repeated from series to series, so ``compressed_write_request`` emits a repeated label
as a snappy copy of its previous occurrence and the rest as literals (valid snappy; Go's decoder
in Prometheus reads it). ``snappy_block`` writes literal-only blocks (also valid snappy, ratio
1.0). ``snappy_decode`` (the full format) exists for the tests and for reading other writers.
"""

from __future__ import annotations

import struct
from typing import Iterable, Mapping

Series = tuple[Mapping[str, str], Iterable[tuple[float, int]]]  # labels, [(value, timestamp ms)]

_MAX_LITERAL = 1 << 16  # one literal element per 64 KiB (any size up to 2**32 is allowed)


def varint(n: int) -> bytes:
    if n < 0:
        n &= (1 << 64) - 1  # int64 as protobuf encodes it: two's complement, 10 bytes
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(num: int, data: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return varint(num << 3 | 2) + varint(len(data)) + data


def _sample(value: float, ts: bytes) -> bytes:
    # field 1: double (wire type 1, fixed64 little-endian); field 2: int64 varint (wire type 0)
    body = b"\x09" + struct.pack("<d", value) + b"\x10" + ts
    return b"\x12" + varint(len(body)) + body


def _chunks(series: Iterable[Series]) -> list[tuple[bytes, bool]]:
    """The WriteRequest as (bytes, repeated) pieces; ``repeated`` pieces are label encodings,
    one bytes object per distinct label (cached), which the compressor may refer back to."""
    labels_cache: dict[tuple[str, str], bytes] = {}
    order_cache: dict[tuple[str, ...], list[str]] = {}
    ts_cache: dict[int, bytes] = {}
    out: list[tuple[bytes, bool]] = []
    append = out.append
    for labels, samples in series:
        names = tuple(labels)
        order = order_cache.get(names)
        if order is None:
            order = order_cache[names] = sorted(names, key=lambda k: (k != "__name__", k))
        parts: list[tuple[bytes, bool]] = []
        size = 0
        for k in order:
            v = labels[k]
            enc = labels_cache.get((k, v))
            if enc is None:
                enc = labels_cache[(k, v)] = _field(1, _field(1, k.encode()) + _field(2, v.encode()))
            parts.append((enc, True))
            size += len(enc)
        for v, t in samples:
            tb = ts_cache.get(t)
            if tb is None:
                tb = ts_cache[t] = varint(t)
            enc = _sample(v, tb)
            parts.append((enc, False))
            size += len(enc)
        append((b"\x0a" + varint(size), False))
        out += parts
    return out


def write_request(series: Iterable[Series]) -> bytes:
    """The protobuf bytes of one WriteRequest."""
    return b"".join(b for b, _ in _chunks(series))


def compressed_write_request(series: Iterable[Series]) -> bytes:
    """The WriteRequest as a snappy block, the body of a remote-write POST.

    A tiny structural snappy encoder: a label seen within the last 64 KiB becomes a copy of
    its earlier bytes (2-byte-offset copy elements), everything else a literal. Labels
    (metric names, device ids, the aggregator label) are most of a batch, so this gets most of
    what a general compressor would, at one dict lookup per label."""
    chunks = _chunks(series)
    out = bytearray(varint(sum(len(b) for b, _ in chunks)))
    seen: dict[bytes, int] = {}
    lit = bytearray()
    pos = 0
    for b, repeated in chunks:
        n = len(b)
        if repeated:
            prev = seen.get(b)
            seen[b] = pos
            if prev is not None and pos - prev <= 0xFFFF and n >= 4:
                if lit:
                    _literal(out, lit)
                    lit = bytearray()
                off = (pos - prev).to_bytes(2, "little")
                if n <= 64:
                    out.append(((n - 1) << 2) | 2)
                    out += off
                else:
                    for i in range(0, n, 64):  # one copy element holds at most 64 bytes
                        out.append(((min(64, n - i) - 1) << 2) | 2)
                        out += off
                pos += n
                continue
        lit += b
        pos += n
    if lit:
        _literal(out, lit)
    return bytes(out)


def _literal(out: bytearray, data: bytes | bytearray) -> None:
    view = memoryview(data)
    for i in range(0, len(data), _MAX_LITERAL):
        chunk = view[i:i + _MAX_LITERAL]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 1 << 8:
            out += bytes((60 << 2, n))
        elif n < 1 << 16:
            out.append(61 << 2)
            out += n.to_bytes(2, "little")
        else:
            out.append(62 << 2)
            out += n.to_bytes(3, "little")
        out += chunk


def snappy_block(data: bytes) -> bytes:
    """``data`` as a snappy block of literals (valid snappy, no compression)."""
    out = bytearray(varint(len(data)))
    _literal(out, data)
    return bytes(out)


def snappy_decode(block: bytes) -> bytes:
    """Decode a snappy block (literals and all three copy forms); ValueError if malformed."""
    size, pos = _read_varint(block, 0)
    out = bytearray()
    while pos < len(block):
        tag = block[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n >= 60:
                k = n - 59
                n = int.from_bytes(block[pos:pos + k], "little")
                pos += k
            n += 1
            if pos + n > len(block):
                raise ValueError("snappy: literal runs past the end")
            out += block[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            length, offset = 4 + ((tag >> 2) & 7), (tag >> 5) << 8 | block[pos]
            pos += 1
        else:
            k = 2 if kind == 2 else 4
            length, offset = (tag >> 2) + 1, int.from_bytes(block[pos:pos + k], "little")
            pos += k
        if offset == 0 or offset > len(out):
            raise ValueError("snappy: copy offset out of range")
        for _ in range(length):  # byte by byte: a copy may overlap its own output
            out.append(out[-offset])
    if len(out) != size:
        raise ValueError(f"snappy: decoded {len(out)} bytes, header says {size}")
    return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, pos
        shift += 7


def parse_write_request(body: bytes) -> list[tuple[dict[str, str], list[tuple[float, int]]]]:
    """The inverse of ``write_request`` (for tests and debugging; only the fields used here)."""
    out = []
    for _, ts in _fields(body):
        labels: dict[str, str] = {}
        samples: list[tuple[float, int]] = []
        for num, val in _fields(ts):
            if num == 1:
                kv = dict(_fields(val))
                labels[kv[1].decode()] = kv[2].decode()
            elif num == 2:
                v = struct.unpack("<d", val[1:9])[0]
                t, _ = _read_varint(val, 10)
                samples.append((v, t - (1 << 64) if t >= 1 << 63 else t))
        out.append((labels, samples))
    return out


def _fields(buf: bytes) -> list[tuple[int, bytes]]:
    pos, out = 0, []
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        if key & 7 != 2:
            raise ValueError(f"unexpected wire type {key & 7}")
        n, pos = _read_varint(buf, pos)
        out.append((key >> 3, buf[pos:pos + n]))
        pos += n
    return out
