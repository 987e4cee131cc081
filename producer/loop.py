"""The window loop of one domain: what is due, run in order, each under the stop grace.

``WindowLoop`` drives a ``DomainWorker`` (``producer/worker.py``, the six steps of one window):
it loads the checkpoint (a lake briefly down at start is retried like a window), asks for the
windows due (new ones, else re-sweeps; ``producer/windows.py``), runs each through
``lifecycle.graced``, and waits (``lifecycle.wait``) when nothing is due. A failed attempt is
counted, logged and, after ``UNREADY_AFTER_FAILURES`` in a row, named by /readyz; it is retried
with capped exponential backoff (never skipped). A lost checkpoint CAS and an abandoned window end
the loop at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Container
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Protocol

import structlog

from producer.clock import Clock
from producer.errors import (
    CheckpointConflictError,
    PermanentSourceError,
    ProducerError,
    StoreError,
    WindowAbandonedError,
)
from producer.lifecycle import graced, wait
from producer.reports import DomainReport, WindowResult
from producer.telemetry.health import DomainStatus
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Window

__all__ = ["UNREADY_AFTER_FAILURES", "WindowLoop", "Windows"]

_log = structlog.get_logger("producer.worker")
UNREADY_AFTER_FAILURES = 3  # consecutive failed attempts after which /readyz says so


class Windows(Protocol):
    """What the loop drives: one domain's worker."""

    @property
    def watermark(self) -> datetime: ...

    async def load(self, stopping: asyncio.Event) -> bool:
        """Take the writer lease, read the checkpoint; False when stopped while waiting."""
        ...

    async def due(self, stopping: asyncio.Event, *, exclude: Container[str]) -> list[Window]:
        """The windows to export now (step 1), leaving out the labels in ``exclude``."""
        ...

    def idle_seconds(self) -> float:
        """How long to wait when nothing is due."""
        ...

    def completed(self, window: Window) -> None:
        """``window`` was exported now (the planner learns it)."""
        ...

    async def run_window(self, window: Window) -> WindowResult:
        """The six steps for ``window``."""
        ...


@dataclass(eq=False)
class WindowLoop:
    """Runs one domain's windows until stopped (or, with ``once``, until none is due)."""

    worker: Windows
    _: KW_ONLY
    name: str
    clock: Clock
    metrics: DomainMetrics
    status: DomainStatus
    max_window_attempts: int
    retry_cap_s: float
    _exported: set[str] = field(init=False, default_factory=set)
    """With ``once``: the windows this run exported (never again)."""
    _failures: int = field(init=False, default=0)
    """Consecutive failed attempts."""

    async def run(self, *, once: bool, stopping: asyncio.Event, grace_s: float) -> DomainReport:
        """Export windows until stopped (or, with ``once``, until none is closed and available).

        When no new window is due, landed windows inside the re-sweep horizon whose last export
        (kept in the checkpoint) is at least the re-sweep interval old are re-exported, so late
        changes land (a re-export rewrites only changed objects). With ``once`` every due window
        is exported at most once, and never one this run already exported: the run ends.

        Returns the report of what landed. Raises after ``max_window_attempts`` consecutive
        failures in ``once`` mode; in continuous mode failures back off and retry forever.
        Raises ``CheckpointConflictError`` when another writer owns the domain.
        """
        report = DomainReport(self.name)
        self._exported.clear()
        self._failures = 0
        loaded = False
        while not stopping.is_set():
            try:
                if not loaded:  # a lake that is briefly down at start is retried like a window
                    if loaded := await self.worker.load(stopping):
                        report.watermark = self.worker.watermark
                    continue  # (a stop while waiting for the writer lease ends the loop)
                due = await self.worker.due(stopping, exclude=self._exported)
                if not due and once:
                    break
                if not due:
                    await wait(self.clock, stopping, self.worker.idle_seconds())
                    continue
                await self._export(due, report, once=once, stopping=stopping, grace_s=grace_s)
            except (CheckpointConflictError, WindowAbandonedError):
                raise
            except ProducerError as exc:
                self._failures += 1
                self._failed(exc)
                if once and self._failures >= self.max_window_attempts:
                    raise
                backoff = min(self.retry_cap_s, 2.0 ** (self._failures - 1))
                await wait(self.clock, stopping, backoff)
                continue
            self._failures = 0
            self.status.failing_windows = None
        return report

    async def _export(
        self,
        due: list[Window],
        report: DomainReport,
        *,
        once: bool,
        stopping: asyncio.Event,
        grace_s: float,
    ) -> None:
        """Run each due window in turn, each given ``grace_s`` once stopping is set."""
        for window in due:
            if stopping.is_set():
                break
            result = await graced(
                self.worker.run_window(window),
                owner=self.name,
                what=f"window {window.label}",
                stopping=stopping,
                grace_s=grace_s,
            )
            self.worker.completed(window)
            if once:
                self._exported.add(window.label)
            report.add(result, self.worker.watermark)
            self.status.failing_windows = None  # no longer failing windows
            self._failures = 0

    def _failed(self, exc: ProducerError) -> None:
        """Count and log a failed attempt; after ``UNREADY_AFTER_FAILURES`` in a row, /readyz
        names the domain and the last error until an attempt succeeds."""
        failures = self._failures
        if isinstance(exc, StoreError):  # /readyz says the lake cannot be reached
            self.status.lake_error = str(exc)[:200]
        if isinstance(exc, PermanentSourceError):  # a 403, a 400: retrying will not help
            self.status.failing_windows = f"{type(exc).__name__}: {str(exc)[:300]}"
        elif failures >= UNREADY_AFTER_FAILURES:
            self.status.failing_windows = (
                f"{failures} window attempts failed in a row, last: {type(exc).__name__}: "
                f"{str(exc)[:200]}"
            )
        self.metrics.window_done("failed", 0.0)
        _log.warning(
            "window_failed",
            error=str(exc),
            error_type=type(exc).__name__,
            attempt=failures,
        )
