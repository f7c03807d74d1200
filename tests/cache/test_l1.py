import threading

from nic_edge.cache.l1 import LRUCache


def test_lru_order_get_refreshes() -> None:
    c: LRUCache[str] = LRUCache(3, 10_000)
    for k in "abc":
        c.put(k, k.upper(), 10)
    assert c.get("a") == "A"  # a becomes most recent
    c.put("d", "D", 10)       # evicts b, the least recent
    assert c.get("b") is None
    assert c.keys_lru_first() == ["c", "a", "d"]
    assert c.evictions == 1


def test_byte_bound_evicts_until_under() -> None:
    c: LRUCache[int] = LRUCache(100, 100)
    for i in range(5):
        c.put(i, i, 30)
    assert c.bytes <= 100 and len(c) == 3
    assert c.keys_lru_first() == [2, 3, 4]
    assert c.put("huge", 0, 101) is False and c.rejected == 1
    c.put(2, 2, 60)  # replacing updates the size
    assert c.bytes <= 100 and c.get(2) == 2


def test_resize_and_remove_if_and_clear() -> None:
    c: LRUCache[int] = LRUCache(10, 1000)
    for i in range(10):
        c.put(i, i, 10)
    assert c.resize(4, 1000) == 6
    assert c.keys_lru_first() == [6, 7, 8, 9]
    assert c.remove_if(lambda v: v % 2 == 0) == 2
    assert c.bytes == 20
    assert c.clear() == 2 and c.bytes == 0


def test_threads_smoke() -> None:
    c: LRUCache[int] = LRUCache(64, 64 * 8)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(2000):
                k = (seed * 7 + i) % 100
                c.put(k, k, 8)
                v = c.get((k + 3) % 100)
                assert v is None or v == (k + 3) % 100
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(c) <= 64 and c.bytes == 8 * len(c)
