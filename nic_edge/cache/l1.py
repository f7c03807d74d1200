"""L1: an in-process LRU bounded by item count AND bytes; O(1) get/put; thread-safe.

Sizes are supplied by the caller (the cache uses the msgpack-encoded size of the answer, a
stable proxy; Python objects take a few times more RAM, which the tier's l1_bytes allows for).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

V = TypeVar("V")


class LRUCache(Generic[V]):
    def __init__(self, max_items: int, max_bytes: int) -> None:
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_items = max(0, int(max_items))
        self._max_bytes = max(0, int(max_bytes))
        self._bytes = 0
        self.evictions = 0
        self.rejected = 0  # single values larger than the whole byte budget

    def __len__(self) -> int:
        return len(self._data)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def max_items(self) -> int:
        return self._max_items

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            self._data.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: V, size: int) -> bool:
        """Insert or replace as most recent; False when it cannot fit at all."""
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if self._max_items == 0 or size > self._max_bytes:
                self.rejected += 1
                return False
            self._data[key] = (value, size)
            self._bytes += size
            self._shrink()
            return True

    def pop(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._data.pop(key, None)
            if item is None:
                return None
            self._bytes -= item[1]
            return item[0]

    def remove_if(self, predicate: Callable[[V], bool]) -> int:
        """Drop every value for which ``predicate`` is true; O(n), for purges only."""
        with self._lock:
            doomed = [k for k, (v, _) in self._data.items() if predicate(v)]
            for k in doomed:
                self._bytes -= self._data.pop(k)[1]
            return len(doomed)

    def resize(self, max_items: int, max_bytes: int) -> int:
        """New bounds, evicting least recent entries; returns how many were evicted."""
        with self._lock:
            self._max_items = max(0, int(max_items))
            self._max_bytes = max(0, int(max_bytes))
            before = self.evictions
            self._shrink()
            return self.evictions - before

    def clear(self) -> int:
        with self._lock:
            n = len(self._data)
            self._data.clear()
            self._bytes = 0
            return n

    def keys_lru_first(self) -> list[Hashable]:
        """Keys from least to most recently used (for tests and debugging)."""
        with self._lock:
            return list(self._data)

    def _shrink(self) -> None:
        # Caller holds the lock.
        while self._data and (len(self._data) > self._max_items or self._bytes > self._max_bytes):
            _, (_, size) = self._data.popitem(last=False)
            self._bytes -= size
            self.evictions += 1
