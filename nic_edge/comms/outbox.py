"""Durable, bounded outbox for metrics snapshots and alert events (LMDB, msgpack records).

Layout: db ``records`` maps the 8-byte big-endian ``seq`` to ``kind byte + msgpack(payload)``
(so LMDB key order is seq order and the oldest record is the first key); db ``meta`` holds the
next ``seq`` and the drop counters, written in the same transaction as the record, so a crash
can never reuse a seq or lose a drop count.

Durability choice: ``sync=True, metasync=True`` (every commit fsyncs data and meta pages). The
cache uses ``metasync=False``, which LMDB documents as "a system crash may undo the last
committed transaction" - acceptable for a cache, not for telemetry that must survive a power
cut. The cost is bounded: one commit per snapshot (one per metrics interval) or alert, and the
publisher acknowledges PUBACKs in batches (``ack_many``), so draining a backlog does not turn
into one fsync pair per message. A SIGKILL loses nothing either way (committed pages are in
the page cache).

A record that cannot be stored at all (a full disk: LMDB cannot even delete without free
pages) is counted as dropped too, carried in the next record stored, and its seq stays used.

Byte cap: the sum of key+value sizes stays under ``max_bytes``. To make room the oldest
*metrics* record goes first; alerts are dropped only when nothing but alerts is left. Drops are
counted per kind and carried in the ``drops`` field of the next metrics record stored (a dropped
record's own unreported drops are carried forward, not lost).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from nic_edge.core.storage import data_size, import_lmdb, open_env
from nic_edge.errors import StorageError

log = logging.getLogger(__name__)

MARKER = b"nic-outbox-v1"
_KIND_BYTES = {"metrics": b"M", "alerts": b"A"}
_BYTE_KINDS = {v[0]: k for k, v in _KIND_BYTES.items()}
_SEQ = struct.Struct(">Q")
_NEXT_SEQ = b"next_seq"
_DROPS = b"drops"  # msgpack [pending_metrics, pending_alerts, total_metrics, total_alerts]
# Seq of a fresh store: milliseconds since the epoch when the clock is plausible, so a wiped or
# recovered store still counts above what subscribers saw before (they de-duplicate on seq).
_PLAUSIBLE_EPOCH = 1_704_067_200  # 2024-01-01
_SLACK = 24  # bytes reserved for the drops counters written after room is made


@dataclass(frozen=True)
class Record:
    seq: int
    kind: str
    payload: dict[str, Any]
    size: int


def _first_seq(clock: float) -> int:
    return int(clock * 1000) if clock > _PLAUSIBLE_EPOCH else 1


class Outbox:
    """Thread-safe; ``enqueue`` from producers, ``peek``/``ack_many`` from the publisher thread."""

    def __init__(self, path: Path | str, max_bytes: int, *, first_seq: int | None = None,
                 clock: Any = time.time) -> None:
        import msgpack  # noqa: PLC0415 - lazy: only the device runtime needs it

        self._msgpack = msgpack
        self._lmdb = import_lmdb()
        self.max_bytes = int(max_bytes)
        self.path = Path(path)
        # Room for B-tree pages, the free list and a full cap's worth of churn; and for a store
        # written under a larger cap (mqtt.spool_max_bytes lowered since) plus the copy-on-write
        # pages of trimming it to the new cap: a map smaller than the file made every write
        # MDB_MAP_FULL until the broker drained the old backlog.
        opened = open_env(self.path, max(4 * self.max_bytes, 2 * data_size(self.path)) + (2 << 20), marker=MARKER,
                          max_dbs=2, sync=True, metasync=True)
        self.recovered = opened.recovered
        self._env = opened.env
        self._lock = threading.Lock()
        self._bytes = 0
        self._count = 0
        try:
            self._load(first_seq, clock)
        except self._lmdb.Error as exc:  # a fresh store on a disk that filled up meanwhile
            self._env.close()
            raise StorageError(f"cannot open the outbox in {self.path}: {exc}",
                               "check free space on the data dir") from exc

    def _load(self, first_seq: int | None, clock: Any) -> None:
        msgpack = self._msgpack
        self._records = self._env.open_db(b"records")
        self._meta = self._env.open_db(b"meta")
        with self._env.begin(write=True) as txn:
            for key, value in txn.cursor(db=self._records):
                self._bytes += len(key) + len(value)
                self._count += 1
            if txn.get(_NEXT_SEQ, db=self._meta) is None:
                start = first_seq if first_seq is not None else _first_seq(clock())
                txn.put(_NEXT_SEQ, _SEQ.pack(start), db=self._meta)
            self._next = _SEQ.unpack(txn.get(_NEXT_SEQ, db=self._meta))[0]
            raw = txn.get(_DROPS, db=self._meta)
            self._drops = list(msgpack.unpackb(raw)) if raw else [0, 0, 0, 0]

    # -- producer side ---------------------------------------------------------------------
    def enqueue(self, kind: str, payload: dict[str, Any]) -> int:
        """Store a record durably and return its seq (also written into ``payload['seq']``)."""
        tag = _KIND_BYTES.get(kind)
        if tag is None:
            raise ValueError(f"outbox kind must be metrics or alerts, not {kind!r}")
        body = dict(payload)
        with self._lock:
            seq = self._next
            body["seq"] = seq
            drops = list(self._drops)
            if kind == "metrics":
                body["drops"] = {"metrics": drops[0], "alerts": drops[1]}
            key = _SEQ.pack(seq)
            estimate = len(key) + 1 + len(self._msgpack.packb(body)) + _SLACK
            try:
                stored, size, freed, removed, drops = self._store(kind, tag, seq, key, body, estimate)
            except self._lmdb.Error as exc:
                # Lost, and said so: counted as a drop (committed with the next record that
                # can be stored) and its seq stays used, so subscribers see the gap.
                idx = 0 if kind == "metrics" else 1
                self._drops[idx] += 1
                self._drops[idx + 2] += 1
                self._next = seq + 1
                raise StorageError(f"outbox write failed: {exc}",
                                   "check free space on the data dir (mqtt.spool_max_bytes)") from exc
            self._next = seq + 1
            self._drops = drops
            self._bytes += size - freed
            self._count += (1 if stored else 0) - removed
        return seq

    def add_drops(self, metrics: int, alerts: int) -> None:
        """Count records lost before they reached this store (produced while it could not be
        opened) as dropped, as if each had failed to store here: carried in the next metrics
        record's ``drops``, and their seqs used up so subscribers see a gap of the same size."""
        if metrics <= 0 and alerts <= 0:
            return
        with self._lock:
            drops = list(self._drops)
            drops[0] += metrics
            drops[1] += alerts
            drops[2] += metrics
            drops[3] += alerts
            nxt = self._next + metrics + alerts
            try:
                with self._env.begin(write=True) as txn:
                    txn.put(_NEXT_SEQ, _SEQ.pack(nxt), db=self._meta)
                    txn.put(_DROPS, self._msgpack.packb(drops), db=self._meta)
            except self._lmdb.Error as exc:
                raise StorageError(f"outbox write failed: {exc}", "check free space on the data dir") from exc
            self._drops, self._next = drops, nxt

    def _store(self, kind: str, tag: bytes, seq: int, key: bytes, body: dict[str, Any],
               estimate: int) -> tuple[bool, int, int, int, list[int]]:
        """One transaction: make room under the cap, put the record, the next seq and drops."""
        drops = list(self._drops)
        with self._env.begin(write=True) as txn:
            freed, removed = self._make_room(txn, estimate, drops)
            stored = estimate <= self.max_bytes
            size = 0
            if stored:
                if kind == "metrics":
                    body["drops"] = {"metrics": drops[0], "alerts": drops[1]}
                    drops[0] = drops[1] = 0
                value = tag + self._msgpack.packb(body)
                txn.put(key, value, db=self._records)
                size = len(key) + len(value)
            else:  # larger than the whole cap: count it as dropped, keep the seq used
                log.warning("outbox: %s record seq %d (%d bytes) exceeds the cap %d; dropped",
                            kind, seq, estimate, self.max_bytes)
                idx = 0 if kind == "metrics" else 1
                drops[idx] += 1
                drops[idx + 2] += 1
            txn.put(_NEXT_SEQ, _SEQ.pack(seq + 1), db=self._meta)
            txn.put(_DROPS, self._msgpack.packb(drops), db=self._meta)
        return stored, size, freed, removed, drops

    def _make_room(self, txn: Any, need: int, drops: list[int]) -> tuple[int, int]:
        """Delete oldest metrics (then oldest alerts) until ``need`` more bytes fit."""
        freed = removed = 0
        while self._bytes - freed + need > self.max_bytes and self._count - removed > 0:
            victim = None
            cur = txn.cursor(db=self._records)
            for key, value in cur:
                if value[:1] == b"M":
                    victim = (bytes(key), bytes(value))
                    break
            if victim is None:  # only alerts left: the oldest alert has to go
                cur.first()
                victim = (bytes(cur.key()), bytes(cur.value()))
            key, value = victim
            txn.delete(key, db=self._records)
            freed += len(key) + len(value)
            removed += 1
            if value[:1] == b"M":
                drops[0] += 1
                drops[2] += 1
                # The dropped snapshot may itself have been the one reporting earlier drops.
                carried = self._msgpack.unpackb(value[1:]).get("drops") or {}
                drops[0] += int(carried.get("metrics", 0))
                drops[1] += int(carried.get("alerts", 0))
            else:
                drops[1] += 1
                drops[3] += 1
                log.warning("outbox full of alerts: dropped alert seq %d", _SEQ.unpack(key)[0])
        return freed, removed

    # -- publisher side --------------------------------------------------------------------
    def peek(self, n: int, after: int = -1) -> list[Record]:
        """Up to ``n`` oldest records with seq > ``after``."""
        out: list[Record] = []
        with self._env.begin() as txn:
            cur = txn.cursor(db=self._records)
            if not cur.set_range(_SEQ.pack(max(after + 1, 0))):
                return out
            for key, value in cur:
                if len(out) >= n:
                    break
                kind = _BYTE_KINDS.get(value[0], "metrics")
                out.append(Record(_SEQ.unpack(key)[0], kind, self._msgpack.unpackb(value[1:]),
                                  len(key) + len(value)))
        return out

    def ack(self, seq: int) -> bool:
        return self.ack_many([seq]) == 1

    def ack_many(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged records in one transaction; returns how many were present."""
        with self._lock:
            freed = removed = 0
            try:
                with self._env.begin(write=True) as txn:
                    for seq in seqs:
                        key = _SEQ.pack(seq)
                        value = txn.pop(key, db=self._records)
                        if value is not None:
                            freed += len(key) + len(value)
                            removed += 1
            except self._lmdb.Error as exc:
                raise StorageError(f"outbox delete failed: {exc}", "check the data dir") from exc
            self._bytes -= freed
            self._count -= removed
        return removed

    # -- introspection ---------------------------------------------------------------------
    @property
    def last_seq(self) -> int:
        """The seq of the newest record ever enqueued (next seq - 1)."""
        return self._next - 1

    def __len__(self) -> int:
        return self._count

    def stats(self) -> dict[str, Any]:
        d = self._drops
        return {"backlog": self._count, "bytes": self._bytes, "max_bytes": self.max_bytes,
                "seq": self._next - 1,
                "dropped": {"metrics": d[2], "alerts": d[3]},
                "drops_unreported": {"metrics": d[0], "alerts": d[1]}}

    def close(self) -> None:
        with self._lock:
            self._env.close()


def open_outbox(data_dir: Path, max_bytes: int) -> Outbox:
    """The device's outbox in ``<data dir>/outbox``."""
    return Outbox(Path(data_dir) / "outbox", max_bytes)
