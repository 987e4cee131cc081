"""The domain worker: loops over windows; ``run_window`` is the six steps, in order.

plan (``windows``) → extract (domain extractor via ``ApiClient``) → map (domain mapper) →
validate (``Validator``) → write (``BatchWriter``: data and DLQ parts) → commit (checkpoint CAS).
Every record of a window ends in exactly one place, landed or dead-lettered; the checkpoint
advances only after both are written and only if ``fetched = landed + dead_lettered``. A failed
window is retried (never skipped); on shutdown the current window gets a grace period, then is
abandoned whole and redone next time (deterministic keys make that safe).
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from producer.checkpoint import Checkpoint, CheckpointStore, Counts, WindowRecord
from producer.clock import Clock
from producer.contracts.registry import Contract
from producer.contracts.validate import Validator
from producer.domains import DomainSpec, Extractor
from producer.envelope import dead_letter_line, envelope_line
from producer.errors import AccountingError, CheckpointConflictError, ProducerError
from producer.lake.writer import BatchWriter
from producer.telemetry.health import DomainStatus
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Planner, Window

__all__ = ["DomainReport", "DomainWorker", "WindowAbandonedError", "WindowResult"]

_log = structlog.get_logger("producer.worker")
_IDLE_POLL_S = 60.0


class WindowAbandonedError(ProducerError):
    """Shutdown cut the window off after its grace period; nothing of it was committed."""


@dataclass(frozen=True, slots=True)
class WindowResult:
    """What one landed window amounted to."""

    window: Window
    counts: Counts
    out_of_window: int
    duplicates: int
    data_parts: int
    dlq_parts: int


@dataclass(slots=True)
class DomainReport:
    """A domain's summary for ``run --once`` and the demo's table."""

    domain: str
    windows: int = 0
    counts: Counts = field(default_factory=Counts)
    data_parts: int = 0
    dlq_parts: int = 0
    watermark: datetime | None = None
    error: str | None = None
    config_error: bool = False


class DomainWorker:
    """Exports one domain's windows, in order, one at a time."""

    def __init__(
        self,
        *,
        spec: DomainSpec,
        extractor: Extractor,
        contract: Contract,
        validator: Validator,
        writer: BatchWriter,
        checkpoints: CheckpointStore,
        start_at: datetime,
        planner: Planner,
        clock: Clock,
        metrics: DomainMetrics,
        status: DomainStatus,
        max_window_attempts: int = 3,
        retry_cap_s: float = 300.0,
    ) -> None:
        self._spec = spec
        self._extractor = extractor
        self._contract = contract
        self._validator = validator
        self._writer = writer
        self._checkpoints = checkpoints
        self._planner = planner
        self._start_at = planner.align(start_at)
        self._clock = clock
        self._metrics = metrics
        self._status = status
        self._max_window_attempts = max_window_attempts
        self._retry_cap_s = retry_cap_s
        self._checkpoint: Checkpoint | None = None
        self._etag: str | None = None
        self._watermark = self._start_at
        self._available: datetime | None = None

    async def run_windows(
        self, *, once: bool, stopping: asyncio.Event, grace_s: float
    ) -> DomainReport:
        """Export windows until stopped (or, with ``once``, until none is closed and available).

        Returns the report of what landed. Raises after ``max_window_attempts`` consecutive
        failures in ``once`` mode; in continuous mode failures back off and retry forever.
        Raises ``CheckpointConflictError`` when another writer owns the domain.
        """
        report = DomainReport(self._spec.name)
        self._checkpoint, self._etag = await self._checkpoints.load()
        self._status.lake_error = None
        if self._checkpoint is not None:
            self._watermark = self._checkpoint.watermark
        report.watermark = self._watermark
        self._metrics.watermark(self._watermark.timestamp())
        failures = 0
        while not stopping.is_set():
            try:
                self._available = await self._extractor.availability()
                if self._available is not None:
                    self._metrics.source_available(self._available.timestamp())
                now = self._clock.now()
                due = self._planner.due(self._watermark, now=now, available_until=self._available)
                if not due:
                    if once:
                        break
                    await _wait(stopping, self._planner.idle_seconds(self._watermark, now=now))
                    continue
                for window in due:
                    if stopping.is_set():
                        break
                    result = await self._run_with_grace(window, stopping, grace_s)
                    self._planner.completed(window, now=self._clock.now())
                    report.windows += 1
                    report.counts = report.counts + result.counts
                    report.data_parts += result.data_parts
                    report.dlq_parts += result.dlq_parts
                    report.watermark = self._watermark
            except (CheckpointConflictError, WindowAbandonedError):
                raise
            except ProducerError as exc:
                failures += 1
                self._metrics.window_done("failed", 0.0)
                _log.warning(
                    "window_failed",
                    error=str(exc),
                    error_type=type(exc).__name__,
                    attempt=failures,
                )
                if once and failures >= self._max_window_attempts:
                    raise
                await _wait(stopping, min(self._retry_cap_s, 2.0 ** (failures - 1)))
                continue
            failures = 0
        return report

    async def _run_with_grace(
        self, window: Window, stopping: asyncio.Event, grace_s: float
    ) -> WindowResult:
        """Run the window; once ``stopping`` is set it gets ``grace_s`` more, then is cancelled."""
        work = asyncio.create_task(self.run_window(window), name=f"{self._spec.name}:window")
        stop = asyncio.create_task(stopping.wait(), name=f"{self._spec.name}:stop-watch")
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                _log.info("window_grace", window=window.label, grace_s=grace_s)
                await asyncio.wait({work}, timeout=grace_s)
            if not work.done():
                raise WindowAbandonedError(
                    f"window {window.label} abandoned after the {grace_s:.0f} s shutdown grace"
                )
            return work.result()
        finally:
            for task in (work, stop):
                task.cancel()
            with suppress(asyncio.CancelledError):
                await asyncio.gather(work, stop, return_exceptions=True)

    async def run_window(self, window: Window) -> WindowResult:
        """The six steps for one window; commits the checkpoint last. Raises on any failure."""
        started = self._clock.monotonic()
        spec = self._spec
        fetched = landed = dead = out_of_window = duplicates = 0
        seen: set[str] = set()
        write = self._writer.open_window(window)
        async with aclosing(self._extractor.fetch(window)) as pages:  # 2 extract
            async for page in pages:
                for source in page:
                    started_at = spec.record_time(source)
                    if started_at is not None and not window.contains(started_at):
                        out_of_window += 1  # belongs to the window it started in
                        continue
                    record_id = spec.record_id(source)
                    if record_id is not None:
                        if record_id in seen:
                            duplicates += 1
                            continue
                        seen.add(record_id)
                    fetched += 1
                    line, ok = self._process(window, source)  # 3 map, 4 validate
                    if ok:
                        await write.add_landed(line)  # 5 write
                        landed += 1
                    else:
                        await write.add_dead_letter(line)
                        dead += 1
        written = await write.finish()
        counts = Counts(fetched=fetched, landed=landed, dead_lettered=dead)
        if not counts.balanced or (written.landed, written.dead_lettered) != (landed, dead):
            raise AccountingError(
                f"window {window.label}: fetched {fetched}, landed {landed}/{written.landed}, "
                f"dead-lettered {dead}/{written.dead_lettered}"
            )
        await self._commit(window, counts, written.data_parts, written.dlq_parts)  # 6 commit
        elapsed = self._clock.monotonic() - started
        self._account(window, counts, out_of_window, duplicates, elapsed)
        return WindowResult(
            window, counts, out_of_window, duplicates, written.data_parts, written.dlq_parts
        )

    def _process(self, window: Window, source: Any) -> tuple[bytes, bool]:
        """Map and validate one source object: (envelope line, True) or (DLQ line, False)."""
        mapped = self._spec.map_record(source)
        issues = mapped.issues
        stage = mapped.stage
        if mapped.record is not None and not issues:
            issues = tuple(self._validator.check(mapped.record))
            if not issues:
                return envelope_line(self._contract, mapped.record), True
            stage = "validation"
        line = dead_letter_line(
            domain=self._spec.name,
            schema_version=self._contract.version,
            window=window,
            rejected_at=self._clock.now(),
            stage=stage,
            issues=issues,
            record=mapped.record,
            source=source,
        )
        return line, False

    def _next_watermark(self, window: Window) -> datetime:
        """``window.end`` if the window continues the watermark and is final, else unchanged.

        Final means closed and fully available: a snapshot of a week still in progress (WFM) is
        committed (its counts and objects) without moving the watermark past it.
        """
        final = window.end <= self._clock.now() and (
            self._available is None or window.end <= self._available
        )
        if final and window.start <= self._watermark < window.end:
            return window.end
        return self._watermark

    async def _commit(
        self, window: Window, counts: Counts, data_parts: int, dlq_parts: int
    ) -> None:
        previous = self._checkpoint
        watermark = self._next_watermark(window)
        checkpoint = Checkpoint(
            domain=self._spec.name,
            watermark=watermark,
            schema_version=self._contract.version,
            totals=(previous.totals if previous else Counts()) + counts,
            last_window=WindowRecord(
                start=window.start,
                end=window.end,
                counts=counts,
                data_parts=data_parts,
                dlq_parts=dlq_parts,
            ),
            updated_at=self._clock.now(),
        )
        self._etag = await self._checkpoints.commit(checkpoint, expect_etag=self._etag)
        self._checkpoint = checkpoint
        self._watermark = watermark

    def _account(
        self, window: Window, counts: Counts, out_of_window: int, duplicates: int, elapsed: float
    ) -> None:
        """Metrics and the one summary line, after the window is committed."""
        self._metrics.records("fetched", counts.fetched)
        self._metrics.records("landed", counts.landed)
        self._metrics.records("dead_lettered", counts.dead_lettered)
        self._metrics.records("out_of_window", out_of_window)
        self._metrics.records("duplicate", duplicates)
        self._metrics.window_done("landed", elapsed)
        self._metrics.watermark(self._watermark.timestamp())
        _log.info(
            "window_landed",
            window=window.label,
            fetched=counts.fetched,
            landed=counts.landed,
            dead_lettered=counts.dead_lettered,
            out_of_window=out_of_window,
            duplicates=duplicates,
            seconds=round(elapsed, 3),
        )


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stopping`` is set, whichever comes first."""
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stopping.wait()
