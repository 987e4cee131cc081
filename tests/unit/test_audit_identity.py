"""``lake audit``'s record identity per domain: what makes two landed lines the same record."""

from __future__ import annotations

from producer.ops.audit import IDENTITY


def test_telephony_is_one_conversation() -> None:
    assert IDENTITY["telephony"]({"interaction_id": "c-1", "duration_seconds": 3}) == "c-1"
    assert IDENTITY["telephony"]({"duration_seconds": 3}) is None


def test_quality_is_one_saved_state_so_a_rescore_is_not_a_repeat() -> None:
    """A re-scored evaluation lands again with a higher version: a different identity."""
    identity = IDENTITY["quality"]
    first = identity({"evaluation_id": "e-1", "version": 1, "changed_at": "2026-01-05T12:00:00Z"})
    again = identity({"evaluation_id": "e-1", "version": 2, "changed_at": "2026-01-06T08:00:00Z"})
    assert first != again
    same = identity({"evaluation_id": "e-1", "version": 1, "changed_at": "2026-01-05T12:00:00Z"})
    assert first == same
    without = identity({"evaluation_id": "e-1", "changed_at": "2026-01-05T12:00:00Z"})
    assert without not in (first, again)
    assert identity({"version": 1}) is None


def test_wfm_is_one_shift_of_one_agent_in_one_unit() -> None:
    identity = IDENTITY["wfm"]
    shift = {"business_unit_id": "bu", "agent_id": "a", "shift_id": "s"}
    assert identity(shift) == "bu/a/s"
    assert identity(shift | {"agent_id": "b"}) != identity(shift)
    assert identity({"business_unit_id": "bu", "shift_id": "s"}) is None
