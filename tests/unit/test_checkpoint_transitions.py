"""Every checkpoint transition production runs: a window committed, a re-sweep, a replay move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from producer.checkpoint import Checkpoint, Counts, RecentWindow, WindowRecord
from producer.errors import AccountingError
from producer.windows import Resweeps, Window

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
DAY = timedelta(hours=24)


def _window(index: int) -> Window:
    return Window(T0 + index * STEP, T0 + (index + 1) * STEP)


def _record(window: Window, counts: Counts) -> WindowRecord:
    return WindowRecord(window.start, window.end, counts, 1, 1 if counts.dead_lettered else 0)


def _commit(
    checkpoint: Checkpoint,
    index: int,
    counts: Counts,
    *,
    replaces: Counts | None = None,
    keep: timedelta = DAY,
    at: timedelta = timedelta(minutes=1),
    available: timedelta | None = STEP,
) -> Checkpoint:
    """Window ``index`` committed ``at`` after its end, the source available ``available``
    after its end (None: no availability limit)."""
    window = _window(index)
    first = checkpoint.recent[window.label].first_exported_at if replaces else window.end
    return checkpoint.committed(
        _record(window, counts),
        first_exported_at=first,
        replaces=replaces,
        keep=keep,
        schema_version="1.0",
        source_available=None if available is None else window.end + available,
        at=window.end + at,
    )


def _empty() -> Checkpoint:
    return Checkpoint.empty("telephony", watermark=T0, schema_version="1.0")


def test_a_final_window_that_continues_the_watermark_moves_it_and_lands_its_counts() -> None:
    first = _commit(_empty(), 0, Counts(3, 2, 1))
    second = _commit(first, 1, Counts(2, 2, 0))
    assert second.watermark == _window(1).end
    assert second.totals == Counts(5, 4, 1)
    assert second.last_window == _record(_window(1), Counts(2, 2, 0))
    assert second.updated_at == _window(1).end + timedelta(minutes=1)
    assert second.source_available == _window(1).end + STEP
    assert second.recent[_window(0).label] == RecentWindow(
        Counts(3, 2, 1), _window(0).end, last_exported_at=_window(0).end + timedelta(minutes=1)
    )


def test_a_window_that_is_not_final_is_committed_without_moving_the_watermark() -> None:
    """Not closed yet (a snapshot of a week in progress), or not fully available at the source:
    its counts and ledger entry are committed, the watermark stays."""
    for after in (
        _commit(_empty(), 0, Counts(1, 1, 0), at=-timedelta(minutes=1)),
        _commit(_empty(), 0, Counts(1, 1, 0), available=-timedelta(seconds=1)),
    ):
        assert after.watermark == T0
        assert after.totals == Counts(1, 1, 0)
        assert _window(0).label in after.recent
    assert _commit(_empty(), 0, Counts(1, 1, 0), available=None).watermark == _window(0).end


def test_a_reexport_replaces_its_earlier_counts_and_keeps_its_first_export() -> None:
    landed = _commit(_commit(_empty(), 0, Counts(3, 2, 1)), 1, Counts(2, 2, 0))
    again = _commit(landed, 0, Counts(4, 4, 0), replaces=Counts(3, 2, 1))
    assert again.watermark == landed.watermark, "a window behind the watermark never moves it"
    assert again.totals == Counts(6, 6, 0)
    assert again.recent[_window(0).label].first_exported_at == _window(0).end
    assert again.recent[_window(0).label].counts == Counts(4, 4, 0)


def test_the_ledger_keeps_only_what_ends_within_keep_of_the_watermark() -> None:
    checkpoint = _empty()
    for index in range(4):
        checkpoint = _commit(checkpoint, index, Counts(1, 1, 0), keep=2 * STEP)
    assert sorted(checkpoint.recent) == [_window(2).label, _window(3).label]
    assert checkpoint.totals == Counts(4, 4, 0), "the totals keep what left the ledger"


def test_a_commit_drops_the_windows_replay_count_and_a_replay_move_sets_it() -> None:
    landed = _commit(_empty(), 0, Counts(3, 1, 2))
    moved = landed.replay_moved(_window(0), 2, replay_records=2, at=T0 + DAY)
    assert moved.totals == Counts(3, 3, 0)
    assert moved.last_window is not None
    assert moved.last_window.counts == Counts(3, 3, 0)
    assert moved.recent[_window(0).label].counts == Counts(3, 3, 0)
    assert moved.replayed == {_window(0).label: 2}
    assert moved.updated_at == T0 + DAY
    assert moved.watermark == landed.watermark
    again = _commit(moved, 0, Counts(3, 3, 0), replaces=Counts(3, 3, 0))
    assert again.replayed == {}, "the export deleted the window's replay parts"


def test_a_replay_move_of_more_than_the_dead_letters_is_refused() -> None:
    landed = _commit(_empty(), 0, Counts(3, 2, 1))
    with pytest.raises(AccountingError, match="only 1 dead-lettered"):
        landed.replay_moved(_window(0), 2, replay_records=2, at=T0 + DAY)


def test_an_unchanged_resweep_moves_only_its_schedule() -> None:
    landed = _commit(_empty(), 0, Counts(3, 2, 1))
    swept = landed.reswept(_window(0).label, at=T0 + DAY)
    assert swept.recent[_window(0).label].exported_at == T0 + DAY
    assert swept.recent[_window(0).label].first_exported_at == _window(0).end
    assert (swept.totals, swept.watermark, swept.updated_at) == (
        landed.totals,
        landed.watermark,
        T0 + DAY,
    )
    with pytest.raises(KeyError):
        landed.reswept(_window(5).label, at=T0 + DAY)


def test_resweeps_are_due_inside_the_horizon_once_the_interval_passed() -> None:
    resweeps = Resweeps(hours=1, interval_s=3600)
    last = {_window(i).label: T0 for i in range(8)}  # watermark at the end of window 7
    watermark = _window(7).end
    assert resweeps.due(last, watermark=watermark, now=T0 + timedelta(minutes=59)) == []
    due = resweeps.due(last, watermark=watermark, now=T0 + timedelta(hours=1))
    assert due == [_window(4), _window(5), _window(6), _window(7)]
    excluded = resweeps.due(last, watermark=watermark, now=T0 + DAY, exclude={_window(4).label})
    assert excluded == [_window(5), _window(6), _window(7)]
    assert Resweeps(hours=0).due(last, watermark=watermark, now=T0 + DAY) == []
    assert Resweeps(hours=48).ledger == timedelta(hours=48)
    assert Resweeps(hours=1).ledger == DAY


def test_a_platform_switch_is_recorded_at_the_watermark_and_kept_by_every_commit() -> None:
    landed = _commit(_commit(_empty(), 0, Counts(1, 1, 0)), 1, Counts(1, 1, 0))
    assert landed.on_platform("genesys") is landed, "the same platform changes nothing"
    switched = landed.on_platform("nice")
    assert (switched.platform, switched.platform_since) == ("nice", _window(1).end)
    after = _commit(switched, 2, Counts(1, 1, 0))
    assert (after.platform, after.platform_since) == ("nice", _window(1).end)
    assert after.on_platform("nice") is after
    assert not after.exports_from_here(_window(1))
    assert after.exports_from_here(_window(2))
    back = after.on_platform("genesys")
    assert back.platform_since == _window(2).end, "a second switch moves the boundary on"


def test_resweeps_leave_out_the_windows_of_the_previous_platform() -> None:
    sweeps = Resweeps(hours=24, interval_s=60)
    last = {_window(i).label: _window(i).end for i in range(4)}
    now = _window(3).end + timedelta(hours=1)
    watermark = _window(3).end
    assert len(sweeps.due(last, watermark=watermark, now=now)) == 4
    due = sweeps.due(last, watermark=watermark, now=now, since=_window(2).start)
    assert due == [_window(2), _window(3)]
