"""Step 2b (limit), shared part: an org-wide request budget that domains draw from by priority.

``PriorityBudget`` is a token bucket (``per_minute``, refilled continuously, burst of five
seconds' worth) with one queue of waiters. When requests contend, the waiter with the best
*effective* rank goes first: ``high`` < ``normal`` < ``low``, improved by one step for every
``ageing_s`` seconds waited, so low priority is delayed but never starved; ties go first-come.
Cancellation-safe: a cancelled waiter leaves the queue, and a slot granted to a waiter that was
cancelled before it could use it goes back to the bucket. Uses the event loop's clock and one
timer, like aiolimiter; does no HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

__all__ = ["PRIORITY_RANKS", "PriorityBudget"]

PRIORITY_RANKS = {"high": 0, "normal": 1, "low": 2}
_BURST_SECONDS = 5.0


@dataclass(order=True)
class _Waiter:
    enqueued_at: float
    seq: int
    rank: int = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class PriorityBudget:
    """A request budget shared by several domains, served by priority with ageing."""

    def __init__(self, per_minute: float, *, ageing_s: float = 30.0) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self._rate_per_s = per_minute / 60.0
        self._capacity = max(1.0, per_minute * _BURST_SECONDS / 60.0)
        self._tokens = self._capacity
        self._updated: float | None = None
        self._ageing_s = ageing_s
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self.granted: dict[str, int] = dict.fromkeys(PRIORITY_RANKS, 0)

    @property
    def per_minute(self) -> float:
        return self._rate_per_s * 60.0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, priority: str) -> None:
        """Wait for one request slot; ``priority`` is ``high``, ``normal`` or ``low``."""
        loop = asyncio.get_running_loop()
        self._refill(loop.time())
        rank = PRIORITY_RANKS[priority]
        if not self._waiters and self._tokens >= 1.0:
            self._tokens -= 1.0
            self.granted[priority] += 1
            return
        waiter = _Waiter(loop.time(), next(self._seq), rank, loop.create_future())
        self._waiters.append(waiter)
        self._schedule(loop)
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._tokens += 1.0  # granted but never used: give the slot back
                self._schedule(loop)
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        self.granted[priority] += 1

    def _refill(self, now: float) -> None:
        if self._updated is not None:
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate_per_s)
        self._updated = now

    def _effective(self, waiter: _Waiter, now: float) -> tuple[float, float, int]:
        aged = int((now - waiter.enqueued_at) // self._ageing_s) if self._ageing_s > 0 else 0
        return (waiter.rank - aged, waiter.enqueued_at, waiter.seq)

    def _dispatch(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._refill(now)
        self._waiters = [w for w in self._waiters if not w.future.done()]
        while self._waiters and self._tokens >= 1.0:
            best = min(self._waiters, key=lambda w: self._effective(w, now))
            self._waiters.remove(best)
            self._tokens -= 1.0
            best.future.set_result(None)
        self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Arm the single timer for when the next slot will be available."""
        if self._timer is not None or not self._waiters:
            return
        missing = max(0.0, 1.0 - self._tokens)
        self._timer = loop.call_later(missing / self._rate_per_s, self._dispatch)
