"""The writer lease on a real ``file://`` store: taken by CAS, waited out, lost, released.

A contender takes over a silent lease only after the holder's TTL plus the drift allowance of
its own clock; a holder that renews keeps it (the contender gets ``LeaseHeldError``); a holder
whose lease was taken puts, deletes and commits nothing (``LeaseLostError``); a released lease is
taken at once, and so is one whose holder's process on this machine is gone. Time is a hand-moved
clock (``sleep`` moves it), so nothing waits for real.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from producer.errors import CheckpointConflictError
from producer.lake.lease import DomainLease, LeaseHeldError, LeaseLostError, lease_key
from producer.lake.store import FileStore

_PREFIX = "telephony-cdr-export"
_TTL = 20.0
_KEY = f"{_PREFIX}/v1/dt=2024-05-01/hour=10/telephony-part-00000.ndjson.gz"


class _Clock:
    """Monotonic and wall time moved by hand: by ``sleep`` itself when ``auto``, else only by
    ``advance`` (a sleeper then waits for the test to move time past its end)."""

    def __init__(self, *, auto: bool = True) -> None:
        self.mono = 1_000.0
        self.wall = datetime(2024, 5, 1, tzinfo=UTC)
        self.auto = auto
        self.naps = 0  # sleeps begun
        self._changed = asyncio.Condition()

    def monotonic(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return self.wall + timedelta(seconds=self.mono - 1_000.0)

    async def advance(self, seconds: float) -> None:
        async with self._changed:
            self.mono += seconds
            self._changed.notify_all()

    async def napped(self, count: int) -> None:
        """Return once ``count`` sleeps have begun."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.naps >= count)

    async def sleep(self, seconds: float) -> None:
        if self.auto:
            self.mono += max(0.0, seconds)
            await asyncio.sleep(0)
            return
        until = self.mono + max(0.0, seconds)
        async with self._changed:
            self.naps += 1
            self._changed.notify_all()
            await self._changed.wait_for(lambda: self.mono >= until)


def _lease(store: FileStore, owner: str, clock: _Clock, ttl_s: float = _TTL) -> DomainLease:
    return DomainLease(
        store, prefix=_PREFIX, domain="telephony", owner=owner, ttl_s=ttl_s, clock=clock
    )


async def test_a_silent_lease_is_taken_over_only_after_its_ttl(tmp_path: Path) -> None:
    """The holder crashed (never renews): the contender waits TTL + drift by its own clock."""
    store, clock = FileStore(tmp_path), _Clock()
    assert await _lease(store, "crashed", clock).acquire()
    contender = _lease(store, "next", clock)
    started = clock.monotonic()
    assert await contender.acquire()
    waited = clock.monotonic() - started
    assert _TTL + 1.0 <= waited < _TTL * 1.5, waited
    stored = orjson.loads((tmp_path / lease_key(_PREFIX)).read_bytes())
    assert stored["owner"] == "next"


async def test_a_live_holder_keeps_the_lease_and_the_contender_is_refused(
    tmp_path: Path,
) -> None:
    """The holder renews while the contender watches: ``LeaseHeldError``, a checkpoint conflict."""
    store, clock = FileStore(tmp_path), _Clock(auto=False)
    holder = _lease(store, "holder", clock)
    assert await holder.acquire()
    contender = asyncio.create_task(_lease(store, "contender", clock).acquire())
    await clock.napped(1)  # it read the lease and watches it
    await clock.advance(_TTL / 2 + 1)  # the holder is past half its TTL...
    await clock.napped(2)
    await holder.ensure()  # ...so its next write renews it first
    await clock.advance(_TTL / 2)
    with pytest.raises(LeaseHeldError, match="leased by holder") as raised:
        await contender
    assert isinstance(raised.value, CheckpointConflictError)
    assert "owned elsewhere" in str(raised.value)


async def test_a_holder_whose_lease_was_taken_writes_and_deletes_nothing(tmp_path: Path) -> None:
    """After a take-over the old holder's guarded put and delete raise and change nothing."""
    store, clock = FileStore(tmp_path), _Clock()
    old = _lease(store, "paused", clock)
    assert await old.acquire()
    await old.guarded("put", lambda: store.put(_KEY, b"old view"))
    new = _lease(store, "successor", clock)
    assert await new.acquire()  # the old holder was silent for a whole TTL (a long GC pause)
    await new.guarded("put", lambda: store.put(_KEY, b"new view"))
    with pytest.raises(LeaseLostError, match="taken over by successor"):
        await old.guarded("put", lambda: store.put(_KEY, b"old view again"))
    with pytest.raises(LeaseLostError):
        await old.guarded("delete", lambda: store.delete(_KEY))
    found = await store.get(_KEY)
    assert found is not None
    assert found.data == b"new view"


async def test_a_holder_past_its_ttl_renews_by_cas_when_nobody_took_over(tmp_path: Path) -> None:
    """Validity is proven by a successful renewal, so a slow holder goes on if nobody took it."""
    store, clock = FileStore(tmp_path), _Clock()
    lease = _lease(store, "slow", clock)
    assert await lease.acquire()
    await clock.advance(_TTL * 3)
    await lease.guarded("put", lambda: store.put(_KEY, b"late but still the owner"))
    assert await store.get(_KEY) is not None


async def test_a_released_lease_is_taken_at_once(tmp_path: Path) -> None:
    """A graceful stop releases the lease: the next writer does not wait."""
    store, clock = FileStore(tmp_path), _Clock()
    first = _lease(store, "first", clock)
    assert await first.acquire()
    await first.release()
    assert not (tmp_path / lease_key(_PREFIX)).exists(), "released: deleted"
    started = clock.monotonic()
    assert await _lease(store, "second", clock).acquire()
    assert clock.monotonic() == started
    with pytest.raises(LeaseLostError, match="not held"):
        await first.guarded("put", lambda: store.put(_KEY, b"after release"))


async def test_a_stop_while_waiting_for_the_lease_returns_without_it(tmp_path: Path) -> None:
    """``acquire`` gives up when told to stop, and the waiter holds nothing."""
    store, clock = FileStore(tmp_path), _Clock()
    assert await _lease(store, "holder", clock).acquire()
    stopping = asyncio.Event()
    stopping.set()
    waiter = _lease(store, "waiter", clock)
    assert not await waiter.acquire(stopping)
    assert not waiter.held


async def test_a_holder_on_this_machine_whose_process_is_gone_is_taken_over_at_once(
    tmp_path: Path,
) -> None:
    """Same boot and PID namespace, and no such process: a kill -9 restart does not wait."""
    store, clock = FileStore(tmp_path), _Clock()
    assert await _lease(store, "killed", clock).acquire()
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await child.wait()  # reaped: its PID names no process now
    path = tmp_path / lease_key(_PREFIX)
    stored = orjson.loads(path.read_bytes())
    assert stored["machine"] is not None, "this test needs /proc"
    path.write_bytes(orjson.dumps({**stored, "pid": child.pid}))
    started = clock.monotonic()
    assert await _lease(store, "restarted", clock).acquire()
    assert clock.monotonic() == started
    path.write_bytes(orjson.dumps({**orjson.loads(path.read_bytes()), "machine": "elsewhere/1"}))
    started = clock.monotonic()
    assert await _lease(store, "third", clock).acquire()
    assert clock.monotonic() - started >= _TTL, "a holder elsewhere is waited out"
