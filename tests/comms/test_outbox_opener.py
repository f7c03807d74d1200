"""OutboxOpener: retries a failed open with a bounded backoff, hands over the outbox once it
opens, and stops promptly while waiting. The first two opens fail as a full disk would (a
StorageError from a stand-in for the constructor); the third opens a real LMDB outbox."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from nic_edge.comms.outbox import Outbox
from nic_edge.comms.outbox_opener import RETRY_FIRST_S, RETRY_MAX_S, OutboxOpener
from nic_edge.errors import StorageError


def test_backoff_starts_at_30_s_and_stays_at_60_s() -> None:
    opener = OutboxOpener(lambda: None)  # type: ignore[arg-type,return-value]
    assert [opener.delay(a) for a in range(4)] == [30.0, 60.0, 60.0, 60.0]
    assert (RETRY_FIRST_S, RETRY_MAX_S) == (30.0, 60.0)


def test_retries_until_the_outbox_opens(tmp_path: Path) -> None:
    failures = ["No space left on device", "No space left on device"]

    def open_fn() -> Outbox:
        if failures:
            raise StorageError(f"cannot open LMDB store: {failures.pop()}", "check free space")
        return Outbox(tmp_path / "outbox", 1 << 20)

    opener = OutboxOpener(open_fn, first_s=0.05, max_s=0.1)
    assert opener.try_open() is None
    assert "retrying every 0.05 s" in (opener.problem or "") and "No space left" in opener.problem
    problems: list[str] = []
    opened = threading.Event()
    got: list[Outbox] = []
    opener.on_fail = problems.append
    opener.on_open = lambda ob: (got.append(ob), opened.set())
    opener.start()
    try:
        assert opened.wait(5)
    finally:
        opener.stop()
    assert opener.attempts == 3 and opener.problem is None and got == [opener.outbox]
    assert problems and "retrying every 0.1 s" in problems[-1]
    got[0].close()


def test_stop_while_waiting_returns_at_once() -> None:
    def never() -> Outbox:
        raise StorageError("cannot open LMDB store: read-only file system", "check the disk")

    opener = OutboxOpener(never)  # the real 30 s delay
    opener.try_open()
    opener.start()
    t0 = time.monotonic()
    opener.stop()
    assert time.monotonic() - t0 < 2 and opener.outbox is None
