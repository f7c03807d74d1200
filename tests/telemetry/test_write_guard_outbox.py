"""The outbox note of /healthz and the outbox that opens while a health poll runs."""

from __future__ import annotations

from nic_edge.telemetry.write_guard import WriteGuard


def test_a_poll_that_read_the_old_error_does_not_outlive_the_outbox_opening() -> None:
    """The poll reads "no outbox" just before the opener attaches it and clears the note; the
    note the poll then makes must not keep /healthz degraded for the whole window."""
    guard = WriteGuard(lambda store: None, clock=lambda: 100.0)
    state = {"problem": "MQTT telemetry spool off: No space left on device"}

    def outbox_error() -> str | None:
        problem = state["problem"]
        # the opener attaches and clears right after this read, before the poll's note
        state["problem"] = None
        guard.clear("outbox")
        return problem

    guard.poll(outbox_error=outbox_error)
    assert guard.problems() == {}


def test_a_lasting_outbox_error_is_reported() -> None:
    guard = WriteGuard(lambda store: None, clock=lambda: 100.0)
    guard.poll(outbox_error=lambda: "outbox write failed: MDB_MAP_FULL")
    assert guard.problems() == {"outbox": "outbox write failed: MDB_MAP_FULL"}
