"""The audit log after a full disk: a close that fails must not leave a dead handle.

A line that ENOSPC refused stays in the file object's buffer, so closing it (at rotation, or
when another process on the data dir rotated the file) raises ENOSPC again. The log kept the
closed handle, and every later write failed with ``ValueError: I/O operation on closed file``
- for good, even after space came back, and past the WriteGuard (which takes OSError), so
each question then failed. ``/dev/full`` gives the kernel's real ENOSPC.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.telemetry.audit import AuditLog, read_records
from tests.support.tmpfs import audit_on_dev_full


def test_writes_resume_after_a_failed_close(tmp_path: Path) -> None:
    audit = AuditLog(audit_on_dev_full(tmp_path), max_bytes=4096, backups=1)
    with pytest.raises(OSError):
        audit.write({"n": 1})  # ENOSPC; the line stays buffered
    # space is back and another process (`nic-edge ask`) rotated the file away
    (tmp_path / "audit.jsonl").unlink()
    with pytest.raises(OSError):  # the buffered line is lost (and counted by the caller) ...
        audit.write({"n": 2})
    audit.write({"n": 3})  # ... but the log goes on with a new file
    audit.write({"n": 4})
    audit.close()
    assert [r["n"] for r in read_records(audit.files())] == [3, 4]


def test_close_after_a_failed_write_forgets_the_handle(tmp_path: Path) -> None:
    audit = AuditLog(audit_on_dev_full(tmp_path), max_bytes=4096, backups=1)
    with pytest.raises(OSError):
        audit.write({"n": 1})
    with pytest.raises(OSError):
        audit.close()
    audit.close()  # twice is harmless, as for every stop()
    (tmp_path / "audit.jsonl").unlink()
    audit.write({"n": 2})  # a log reopened after a failed close works
    audit.close()
    assert [r["n"] for r in read_records(audit.files())] == [2]
