"""The domain worker: loops over windows; ``run_window`` is the six steps, in order.

plan (``windows``) → extract (domain extractor via ``ApiClient``) → map (domain mapper) →
validate (``Validator``) → write (``BatchWriter``: data and DLQ parts) → commit (checkpoint CAS).
Every record of a window ends in exactly one place, landed or dead-lettered; the checkpoint
advances only after both are written and only if ``fetched = landed + dead_lettered``. A failed
window is retried (never skipped); on shutdown the current window gets a grace period, then is
abandoned whole and redone next time (deterministic keys make that safe).

During a major migration (``MESH_{DOMAIN}__SCHEMA_VERSION=1.0,2.0``) the window is also written in
the older major (``OlderMajor``): same records, mapped once, each validated against both versions;
each major's data and rejections must account for every record, and the checkpoint (counts of the
newest major) advances only after both majors' parts are written.

With an event stream (``MESH_{DOMAIN}__STREAM``), the window's landed records are published
between its write and its commit (step 5b, ``producer/bus/window.py``; docs/event-bus.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Coroutine
from contextlib import aclosing, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog

from producer.alerts import AlertMonitor
from producer.bus.port import EventPort
from producer.bus.published import PublishedMarks
from producer.bus.refused import StreamRefusals
from producer.bus.window import NoEvents, WindowEvents
from producer.checkpoint import Checkpoint, CheckpointStore, Counts, RecentWindow, WindowRecord
from producer.clock import Clock
from producer.contracts.registry import Contract
from producer.contracts.validate import Validator
from producer.domains import DomainSpec, Extractor
from producer.errors import (
    AccountingError,
    CheckpointConflictError,
    PermanentSourceError,
    ProducerError,
    StoreError,
)
from producer.lake.lease import DomainLease
from producer.lake.writer import BatchWriter, WindowLanded, WindowWrite
from producer.reports import DomainReport, WindowResult
from producer.routing import Route, Routed, WindowRouter
from producer.telemetry.health import DomainStatus
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Planner, Window, parse_instant

__all__ = [
    "UNREADY_AFTER_FAILURES",
    "DomainWorker",
    "OlderMajor",
    "WindowAbandonedError",
]

_log = structlog.get_logger("producer.worker")
_T = TypeVar("_T")
_IDLE_POLL_S = 60.0
_LEDGER_MIN = timedelta(hours=24)
UNREADY_AFTER_FAILURES = 3  # consecutive failed attempts after which /readyz says so


class WindowAbandonedError(ProducerError):
    """Shutdown cut the window off after its grace period; nothing of it was committed."""


@dataclass(frozen=True, slots=True)
class OlderMajor:
    """An older major written beside the newest during a migration, for its remaining readers."""

    contract: Contract
    validator: Validator
    writer: BatchWriter
    bus: EventPort | None = None  # its own stream, if configured


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
        resweep_hours: float = 0.0,
        resweep_interval_s: float = 3600.0,
        alerts: AlertMonitor | None = None,
        dlq_path: str = "",
        older: tuple[OlderMajor, ...] = (),
        lease: DomainLease | None = None,
        bus: EventPort | None = None,
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
        self._resweep_hours = resweep_hours
        self._resweep_interval_s = resweep_interval_s
        self._exported: set[str] = set()  # ``once``: windows this run exported (never again)
        self._alerts = alerts
        self._dlq_path = dlq_path
        self._older = older
        self._lease = lease
        self._bus = bus
        self._versions = ",".join(c.version for c in (contract, *(o.contract for o in older)))

    async def run_windows(
        self, *, once: bool, stopping: asyncio.Event, grace_s: float
    ) -> DomainReport:
        """Export windows until stopped (or, with ``once``, until none is closed and available).

        When no new window is due, landed windows inside the re-sweep horizon whose last export
        (kept in the checkpoint) is at least the re-sweep interval old are re-exported, so late
        changes land (a re-export rewrites only changed objects). With ``once`` every due window
        is exported at most once, and never one this run already exported: the run ends.

        Returns the report of what landed. Raises after ``max_window_attempts`` consecutive
        failures in ``once`` mode; in continuous mode failures back off and retry forever.
        Raises ``CheckpointConflictError`` when another writer owns the domain.
        """
        report = DomainReport(self._spec.name)
        self._exported.clear()
        loaded = False
        failures = 0
        while not stopping.is_set():
            try:
                if not loaded:  # a lake that is briefly down at start is retried like a window
                    loaded = await self._load_checkpoint(report, stopping)
                    continue  # (a stop while waiting for the writer lease ends the loop)
                # Outside a window nothing is in flight: stopping cuts the wait off at once.
                self._available = await self._graced(
                    self._extractor.availability(), "availability", stopping, 0.0
                )
                if self._available is not None:
                    self._metrics.source_available(self._available.timestamp())
                now = self._clock.now()
                due = self._due(now)
                if not due:
                    if once:
                        break
                    await _wait(stopping, self._planner.idle_seconds(self._watermark, now=now))
                    continue
                for window in due:
                    if stopping.is_set():
                        break
                    result = await self._graced(
                        self.run_window(window), f"window {window.label}", stopping, grace_s
                    )
                    self._planner.completed(window, now=self._clock.now())
                    if once:
                        self._exported.add(window.label)
                    report.add(result, self._watermark)
                    self._status.failing_windows = None  # no longer failing windows
                    failures = 0
            except (CheckpointConflictError, WindowAbandonedError):
                raise
            except ProducerError as exc:
                failures += 1
                self._failed(exc, failures)
                if once and failures >= self._max_window_attempts:
                    raise
                await _wait(stopping, min(self._retry_cap_s, 2.0 ** (failures - 1)))
                continue
            failures = 0
            self._status.failing_windows = None
        return report

    def _due(self, now: datetime) -> list[Window]:
        """New windows, else re-sweeps; with ``once`` none this run already exported."""
        due = self._planner.due(self._watermark, now=now, available_until=self._available)
        due = [window for window in due if window.label not in self._exported]
        return due or self._resweep_due(now)

    def _failed(self, exc: ProducerError, failures: int) -> None:
        """Count and log a failed attempt; after ``UNREADY_AFTER_FAILURES`` in a row, /readyz
        names the domain and the last error until an attempt succeeds."""
        if isinstance(exc, StoreError):  # /readyz says the lake cannot be reached
            self._status.lake_error = str(exc)[:200]
        if isinstance(exc, PermanentSourceError):  # a 403, a 400: retrying will not help
            self._status.failing_windows = f"{type(exc).__name__}: {str(exc)[:300]}"
        elif failures >= UNREADY_AFTER_FAILURES:
            self._status.failing_windows = (
                f"{failures} window attempts failed in a row, last: {type(exc).__name__}: "
                f"{str(exc)[:200]}"
            )
        self._metrics.window_done("failed", 0.0)
        _log.warning(
            "window_failed",
            error=str(exc),
            error_type=type(exc).__name__,
            attempt=failures,
        )

    async def _load_checkpoint(self, report: DomainReport, stopping: asyncio.Event) -> bool:
        """Take the writer lease, then read the checkpoint (one read before it could be stale).

        False when stopped while waiting for the lease.
        """
        if self._lease is not None and not await self._lease.acquire(stopping):
            return False
        self._checkpoint, self._etag = await self._checkpoints.load()
        self._status.lake_error = None
        if self._checkpoint is not None:
            self._watermark = self._checkpoint.watermark
            # A planner that re-exports what is stale (WFM's open weeks) learns when each window
            # was last exported: a run --once does not redo a snapshot that is not due.
            for label, recent in self._checkpoint.recent.items():
                self._planner.completed(_window(label), now=recent.exported_at)
        report.watermark = self._watermark
        self._metrics.watermark(self._watermark.timestamp())
        return True

    def _resweep_due(self, now: datetime) -> list[Window]:
        """Landed windows inside the re-sweep horizon that are due again (late data).

        A window is due when the re-sweep interval has passed since its last export, as the
        checkpoint records it (so a ``run --once`` from cron re-sweeps only what is due), and,
        with ``once``, when this run has not exported it. Only windows this domain has exported
        are re-exported; unchanged ones rewrite nothing.
        """
        if self._resweep_hours <= 0 or self._checkpoint is None:
            return []
        horizon = self._watermark - timedelta(hours=self._resweep_hours)
        windows = []
        for label, recent in self._checkpoint.recent.items():
            if label in self._exported or not recent.resweep_due(now, self._resweep_interval_s):
                continue
            window = _window(label)
            if horizon < window.end <= self._watermark:
                windows.append(window)
        return sorted(windows)

    async def _graced(
        self, work: Coroutine[Any, Any, _T], what: str, stopping: asyncio.Event, grace_s: float
    ) -> _T:
        """Await ``work``; once ``stopping`` is set it gets ``grace_s`` more, then is cancelled.

        Raises ``WindowAbandonedError`` when it was cut off: nothing of it was committed.
        """
        task = asyncio.create_task(work, name=f"{self._spec.name}:{what.split(maxsplit=1)[0]}")
        stop = asyncio.create_task(stopping.wait(), name=f"{self._spec.name}:stop-watch")
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

    async def open(self, stopping: asyncio.Event) -> Checkpoint | None:
        """Take the writer lease and read the checkpoint, as ``run_windows`` does first (for a
        caller that runs chosen windows, ``backfill``); None when there is none (or stopped)."""
        loaded = await self._load_checkpoint(DomainReport(self._spec.name), stopping)
        if loaded and self._checkpoint is not None:  # kept as it is by every commit of this run
            self._available = self._checkpoint.source_available
        return self._checkpoint

    async def run_window(
        self, window: Window, *, earlier: RecentWindow | None = None, record_resweep: bool = True
    ) -> WindowResult:
        """The six steps for one window; commits the checkpoint last. Raises on any failure.

        ``earlier`` is what the lake already holds of a landed window the checkpoint's ledger no
        longer keeps (``backfill``): its counts are replaced in the totals, not added again, its
        dead letters keep their first rejection time, and an unchanged window commits nothing.
        Without ``record_resweep`` an unchanged window of the ledger commits nothing either (its
        re-sweep schedule is not moved).
        """
        started = self._clock.monotonic()
        ledger = self._checkpoint.recent.get(window.label) if self._checkpoint else None
        recent = ledger or earlier
        # A re-export keeps the first export's time as its rejection time, so an unchanged
        # window's parts stay byte-identical and are not rewritten.
        exported_at = recent.first_exported_at if recent else self._clock.now()
        router = WindowRouter(
            spec=self._spec,
            contract=self._contract,
            validator=self._validator,
            window=window,
            rejected_at=exported_at,
            also=[(older.contract, older.validator) for older in self._older],
        )
        tally = _Tally(window, [older.contract.version for older in self._older])
        write = self._writer.open_window(window)
        older_writes = [older.writer.open_window(window) for older in self._older]
        events = self._window_events(window, exported_at)  # 5b: landed lines for the stream
        async with aclosing(self._extractor.fetch(window)) as pages:  # 2 extract
            async for page in pages:
                for source in page:
                    routed = router.route(source)  # 3 map, 4 validate
                    tally.add(routed)
                    await _write(write, routed)  # 5 write
                    events.add(source, routed)
                    for side, older_write in zip(routed.also, older_writes, strict=False):
                        await _write(older_write, side)
        written = await write.finish()
        counts = tally.balanced(self._contract.version, tally.routes, written)
        older_counts = []
        for older, older_write, routes in zip(
            self._older, older_writes, tally.older_routes, strict=True
        ):
            older_written = await older_write.finish()
            older_counts.append(tally.balanced(older.contract.version, routes, older_written))
            written = _with_bytes(written, older_written.bytes_written)
        tally.check_older(counts, older_counts)
        routes = tally.routes
        unchanged = recent is not None and recent.counts == counts and not written.bytes_written
        await events.finish(publish=not unchanged)  # 5b: lake written, not yet committed
        if unchanged and ledger is not None and record_resweep:  # records the re-sweep alone
            await self._commit_resweep(window)
        elif not unchanged:
            replaces = recent.counts if recent is not None else None
            await self._commit(window, counts, written, exported_at, replaces)  # 6 commit
        elapsed = self._clock.monotonic() - started
        if recent is not None:
            self._metrics.resweep("unchanged" if unchanged else "changed")
        if not unchanged:
            self._account(window, counts, routes, elapsed, resweep=recent is not None)
            for older, older_window in zip(self._older, older_counts, strict=True):
                version = older.contract.version
                self._metrics.older_major_records(version, "landed", older_window.landed)
                self._metrics.older_major_records(
                    version, "dead_lettered", older_window.dead_lettered
                )
                _log.info(
                    "window_landed_older_major",
                    window=window.label,
                    version=older.contract.version,
                    landed=older_window.landed,
                    dead_lettered=older_window.dead_lettered,
                )
        if recent is None and self._alerts is not None:
            # First exports only: a re-export would count the same records twice.
            self._alerts.observe(self._spec.name, window, counts, tally.rules, self._dlq_path)
        else:
            _log.debug("window_unchanged", window=window.label)
        return WindowResult(
            window,
            counts,
            routes[Route.OUT_OF_WINDOW],
            routes[Route.DUPLICATE],
            written.data_parts,
            written.dlq_parts,
            tally.rules if not unchanged else Counter(),
            unchanged,
        )

    def _window_events(self, window: Window, exported_at: datetime) -> WindowEvents | NoEvents:
        """The window's events, when any major written has a stream (docs/event-bus.md)."""
        ports = [(self._contract.version, self._bus)]
        ports += [(older.contract.version, older.bus) for older in self._older]
        if all(port is None for _, port in ports):
            return NoEvents()
        refusals = StreamRefusals(
            self._writer.stream_rejects(), window, domain=self._spec.name, rejected_at=exported_at
        )
        keep = max(timedelta(hours=self._resweep_hours), _LEDGER_MIN) + timedelta(days=1)
        return WindowEvents(
            self._spec,
            ports,
            metrics=self._metrics,
            status=self._status,
            refusals=refusals,
            marks=PublishedMarks(self._writer, window, keep=keep),
        )

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
        self,
        window: Window,
        counts: Counts,
        written: WindowLanded,
        exported_at: datetime,
        replaces: Counts | None,
    ) -> None:
        """Advance the checkpoint by CAS: totals (``replaces``, a re-export's earlier counts,
        taken out), the recent-window ledger, the watermark, and the replay ledger without this
        window."""
        previous = self._checkpoint
        now = self._clock.now()
        watermark = self._next_watermark(window)
        recent = dict(previous.recent) if previous else {}
        totals = previous.totals if previous else Counts()
        if replaces is not None:  # a re-export replaces the window's earlier counts
            totals = totals - replaces
        totals = totals + counts
        recent[window.label] = RecentWindow(counts, exported_at, last_exported_at=now)
        # The ledger keeps the re-sweep horizon, and at least the last day for ``status``.
        horizon = watermark - max(timedelta(hours=self._resweep_hours), _LEDGER_MIN)
        recent = {label: kept for label, kept in recent.items() if _window_end(label) > horizon}
        checkpoint = Checkpoint(
            domain=self._spec.name,
            watermark=watermark,
            schema_version=self._versions,
            totals=totals,
            last_window=WindowRecord(
                start=window.start,
                end=window.end,
                counts=counts,
                data_parts=written.data_parts,
                dlq_parts=written.dlq_parts,
            ),
            updated_at=now,
            recent=recent,
            # The export deleted the window's replay parts: its counts include none of them now.
            replayed={k: n for k, n in previous.replayed.items() if k != window.label}
            if previous
            else {},
            source_available=self._available,
        )
        self._etag = await self._checkpoints.commit(checkpoint, expect_etag=self._etag)
        self._status.lake_error = None
        self._checkpoint = checkpoint
        self._watermark = watermark

    async def _commit_resweep(self, window: Window) -> None:
        """Record by CAS that ``window`` was re-swept now and had not changed (its schedule)."""
        assert self._checkpoint is not None  # a re-sweep is of a window the checkpoint holds
        checkpoint = self._checkpoint.reswept(window.label, at=self._clock.now())
        self._etag = await self._checkpoints.commit(checkpoint, expect_etag=self._etag)
        self._status.lake_error = None
        self._checkpoint = checkpoint

    def _account(
        self,
        window: Window,
        counts: Counts,
        routes: dict[Route, int],
        elapsed: float,
        *,
        resweep: bool,
    ) -> None:
        """Metrics and the one summary line, after the window is committed."""
        self._metrics.records("fetched", counts.fetched)
        self._metrics.records("landed", counts.landed)
        self._metrics.records("dead_lettered", counts.dead_lettered)
        self._metrics.records("out_of_window", routes[Route.OUT_OF_WINDOW])
        self._metrics.records("duplicate", routes[Route.DUPLICATE])
        self._metrics.window_done("landed", elapsed)
        self._metrics.watermark(self._watermark.timestamp())
        _log.info(
            "window_landed",
            window=window.label,
            resweep=resweep,
            fetched=counts.fetched,
            landed=counts.landed,
            dead_lettered=counts.dead_lettered,
            out_of_window=routes[Route.OUT_OF_WINDOW],
            duplicates=routes[Route.DUPLICATE],
            seconds=round(elapsed, 3),
        )


async def _write(write: WindowWrite, routed: Routed) -> None:
    """A landed line to the data, a dead-lettered one to the DLQ; other routes write nothing."""
    if routed.route is Route.LANDED:
        await write.add_landed(routed.line)
    elif routed.route is Route.DEAD_LETTERED:
        await write.add_dead_letter(routed.line)


class _Tally:
    """Where a window's objects went, per version written, and the accounting checks."""

    def __init__(self, window: Window, older_versions: list[str]) -> None:
        self.window = window
        self.routes = dict.fromkeys(Route, 0)
        self.rules: Counter[str] = Counter()
        self.older_versions = older_versions
        self.older_routes = [dict.fromkeys(Route, 0) for _ in older_versions]

    def add(self, routed: Routed) -> None:
        self.routes[routed.route] += 1
        if routed.route is Route.DEAD_LETTERED:
            self.rules.update(routed.rules)
        for side, routes in zip(routed.also, self.older_routes, strict=False):
            routes[side.route] += 1

    def balanced(self, version: str, routes: dict[Route, int], written: WindowLanded) -> Counts:
        """One version's counts; ``AccountingError`` if what was written differs."""
        landed, dead = routes[Route.LANDED], routes[Route.DEAD_LETTERED]
        if (written.landed, written.dead_lettered) != (landed, dead):
            raise AccountingError(
                f"window {self.window.label} ({version}): routed {landed} landed and {dead} "
                f"dead-lettered, wrote {written.landed} and {written.dead_lettered}"
            )
        return Counts(fetched=landed + dead, landed=landed, dead_lettered=dead)

    def check_older(self, counts: Counts, older_counts: list[Counts]) -> None:
        """Every older major accounted for as many records as the newest (one place each)."""
        for version, older in zip(self.older_versions, older_counts, strict=True):
            if older.fetched != counts.fetched:
                raise AccountingError(
                    f"window {self.window.label}: {version} accounted for {older.fetched} "
                    f"records, the newest major for {counts.fetched}"
                )


def _with_bytes(written: WindowLanded, more: int) -> WindowLanded:
    """``written`` with ``more`` compressed bytes put (an older major's parts)."""
    return dataclasses.replace(written, bytes_written=written.bytes_written + more)


def _window(label: str) -> Window:
    """The window of a ``Window.label`` (``{start}-{end}``)."""
    start, end = (parse_instant(part) for part in label.split("-"))
    return Window(start, end)


def _window_end(label: str) -> datetime:
    """The end instant of a ``Window.label`` (``{start}-{end}``)."""
    return parse_instant(label.rsplit("-", 1)[1])


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stopping`` is set, whichever comes first."""
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stopping.wait()
