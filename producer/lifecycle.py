"""Stop-aware waits: how work and pauses end when the process is asked to stop.

``graced`` runs one piece of work (a window, an availability probe) to completion, or, once the
stop event is set, gives it a grace period and then cancels it (``WindowAbandonedError``: nothing
of it was committed). ``wait`` pauses until a number of seconds passed on the injected ``Clock``
or the stop event is set, whichever comes first. Neither reads the time itself; the grace is
an event-loop timeout, as the shutdown it serves is measured by the orchestrator's wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any, TypeVar

import structlog

from producer.clock import Clock
from producer.errors import WindowAbandonedError

__all__ = ["graced", "wait"]

_log = structlog.get_logger("producer.lifecycle")
_T = TypeVar("_T")


async def graced(
    work: Coroutine[Any, Any, _T],
    *,
    owner: str,
    what: str,
    stopping: asyncio.Event,
    grace_s: float,
) -> _T:
    """Await ``work`` (a task named after ``owner`` and ``what``'s first word); once ``stopping``
    is set it gets ``grace_s`` more, then is cancelled.

    Raises ``WindowAbandonedError`` naming ``what`` when it was cut off.
    """
    task = asyncio.create_task(work, name=f"{owner}:{what.split(maxsplit=1)[0]}")
    stop = asyncio.create_task(stopping.wait(), name=f"{owner}:stop-watch")
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and grace_s > 0:
            _log.info("window_grace", work=what, grace_s=grace_s)
            await asyncio.wait({task}, timeout=grace_s)
        if not task.done():
            raise WindowAbandonedError(f"{what} abandoned after the {grace_s:g} s grace")
        return task.result()
    finally:
        for pending in (task, stop):
            pending.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.gather(task, stop, return_exceptions=True)


async def wait(clock: Clock, stopping: asyncio.Event | None, seconds: float) -> None:
    """Sleep ``seconds`` on ``clock``, or until ``stopping`` is set, whichever comes first
    (without ``stopping``, the whole time)."""
    if stopping is None:
        await clock.sleep(seconds)
        return
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, waiter):
            task.cancel()
        await asyncio.gather(sleeper, waiter, return_exceptions=True)
