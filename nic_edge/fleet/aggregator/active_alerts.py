"""Which of a device's alerts the aggregator holds as active (FleetState applies the events).

A device evaluates each rule on its own (telemetry/alerts.py): at most one firing episode per
rule at a time, each with its own ``alert_id`` (``<rule>-<first fired ms>``), closed by a resolved
event with the same id. Two things end an episode without that event: the device restarts (its
evaluator starts empty; a condition still true fires again under a new id), or the resolve is
lost (an outbox that overflowed, a message another aggregator of a shared subscription took).
Keyed by ``alert_id`` alone, such episodes would stay "active" on the dashboard for ever. So:

* one active alert per rule: a firing event supersedes the device's active alert of the same rule
  with a lower ``seq`` (the device's counter orders its messages); a firing older than the active
  one of its rule, arriving late, goes to the history only;
* the device's own count wins: every snapshot carries ``summary.alerts_active``, the number firing
  when it was taken. Of the alerts received with a lower seq at most that many can still be active.
  A device only fires anew after a restart, so the newest are kept and the older ones end;
* a restarted seq counter (the device's data dir was reset, FleetState._accept_seq) ends every
  alert of the old counter.

An episode ended this way gets an inferred resolved event in the history (``inferred: true``) so
the history and the trend chart stop counting it; it is not notified. Its ``alert_seen`` mark is
``ended``, so the device's real resolve, if it still comes, is recorded and notified as usual.
The count a device reports beyond what the aggregator holds (alerts raised before it listened:
alerts are not retained) is shown as such by the renderer (``alerts_unseen``).
"""

from __future__ import annotations

from typing import Any

from nic_edge.fleet.aggregator.device_state import DeviceState

ENDED = "ended"  # alert_seen mark of an episode ended by inference (not a device's resolve)
REASON = "no longer active on the device (it restarted, or its resolve was lost)"


def seq_of(ev: dict[str, Any]) -> int:
    """An event's seq; records stored before events kept theirs count as the oldest."""
    s = ev.get("seq")
    return s if type(s) is int else -1


def fire(st: DeviceState, ev: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    """Make ``ev`` (a firing event) active unless a newer episode of its rule is; returns
    (made active, the superseded older episodes, removed from ``alerts_active``)."""
    same = [a for a in st.alerts_active.values() if a.get("rule") == ev["rule"]]
    if any(seq_of(a) > seq_of(ev) for a in same):
        return False, []
    ended = [st.alerts_active.pop(a["alert_id"]) for a in same]
    st.alerts_active[ev["alert_id"]] = ev
    return True, ended


def reconcile(st: DeviceState, seq: int, reported: int | None) -> list[dict[str, Any]]:
    """Apply a snapshot's count (``reported`` firing as of ``seq``): end the oldest of the alerts
    received before it beyond that count; returns them (removed from ``alerts_active``)."""
    if reported is None:
        return []
    before = sorted((a for a in st.alerts_active.values() if seq_of(a) < seq), key=seq_of)
    excess = len(before) - reported
    return [st.alerts_active.pop(a["alert_id"]) for a in before[:excess]] if excess > 0 else []


def end_all(st: DeviceState) -> list[dict[str, Any]]:
    ended = list(st.alerts_active.values())
    st.alerts_active.clear()
    return ended


def ended_event(ev: dict[str, Any], ts: float, received: float) -> dict[str, Any]:
    """The history event recording that ``ev``'s episode ended without a resolve from the device
    (``ts``: the device time of the message that showed it)."""
    return {**ev, "state": "resolved", "ts": max(ts, ev.get("ts") or 0.0), "received": received,
            "message": f"ended: {REASON}", "inferred": True}
