"""Stop-aware waits: a window's grace on shutdown, and sleeps a stop cuts short."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from producer.errors import WindowAbandonedError
from producer.lifecycle import graced, wait


class _Clock:
    """A clock whose sleeps last until ``wake`` is set; it records what was asked."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.wake = asyncio.Event()

    def monotonic(self) -> float:
        return 0.0

    def now(self) -> datetime:
        return datetime(2024, 5, 1, tzinfo=UTC)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.wake.wait()


async def test_a_wait_ends_when_stopping_is_set_and_sleeps_on_the_clock() -> None:
    clock, stopping = _Clock(), asyncio.Event()
    asyncio.get_running_loop().call_soon(stopping.set)
    await wait(clock, stopping, 30.0)
    assert clock.slept == [30.0]
    clock.wake.set()
    await wait(clock, None, 5.0)
    assert clock.slept == [30.0, 5.0]


async def test_a_wait_ends_when_the_clock_has_slept() -> None:
    clock, stopping = _Clock(), asyncio.Event()
    clock.wake.set()
    await wait(clock, stopping, 1.0)
    assert not stopping.is_set()


async def test_graced_work_returns_its_result() -> None:
    async def work() -> int:
        return 7

    result = await graced(
        work(), owner="telephony", what="window w", stopping=asyncio.Event(), grace_s=1.0
    )
    assert result == 7


async def test_work_cut_off_by_a_stop_is_abandoned_and_cancelled() -> None:
    cancelled = asyncio.Event()
    stopping = asyncio.Event()
    stopping.set()

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(WindowAbandonedError, match="window w abandoned after the 0 s grace"):
        await graced(work(), owner="telephony", what="window w", stopping=stopping, grace_s=0.0)
    assert cancelled.is_set()
