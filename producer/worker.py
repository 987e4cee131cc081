"""The domain worker: ``run_window`` is the six steps of one window, in order.

plan (``windows``) → extract (domain extractor via ``ApiClient``) → map (domain mapper) →
validate (``Validator``) → write (``BatchWriter``: data and DLQ parts) → commit (checkpoint CAS).
Every record ends in exactly one place, landed or dead-lettered, in every major written (during a
migration also the older one: ``producer/majors.py``); the checkpoint advances only after
all parts are written and only if ``fetched = landed + dead_lettered`` (``accounting.py``), by a
``Checkpoint`` transition (``checkpoint.py``). With an event stream the landed records are
published between write and commit (step 5b, ``producer/bus/window.py``). The loop over windows,
retries and shutdown grace are ``loop.py`` and ``lifecycle.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Container
from contextlib import aclosing
from dataclasses import InitVar, dataclass
from datetime import datetime, timedelta

import structlog

from producer.accounting import Accounted, WindowTally, report_landed
from producer.alerts import AlertMonitor
from producer.allocator import release_free_memory
from producer.bus.port import EventPort
from producer.bus.window import NoEvents, WindowEvents, window_events
from producer.checkpoint import DEFAULT_PLATFORM, Checkpoint, CheckpointStore, RecentWindow
from producer.clock import Clock
from producer.contracts.registry import Contract
from producer.contracts.validate import Validator
from producer.domains import DomainSpec, Extractor
from producer.errors import WindowAbandonedError
from producer.lake.lease import DomainLease
from producer.lake.writer import BatchWriter
from producer.lifecycle import graced
from producer.loop import UNREADY_AFTER_FAILURES, WindowLoop
from producer.majors import MajorWrites, OlderMajor
from producer.reports import DomainReport, WindowResult
from producer.routing import WindowRouter
from producer.telemetry.health import DomainStatus
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Planner, Resweeps, Window

__all__ = ["UNREADY_AFTER_FAILURES", "DomainWorker", "OlderMajor", "WindowAbandonedError"]

_log = structlog.get_logger("producer.worker")


@dataclass(kw_only=True, eq=False)
class DomainWorker:
    """Exports one domain's windows, in order, one at a time."""

    spec: DomainSpec
    extractor: Extractor
    contract: Contract
    validator: Validator
    writer: BatchWriter
    checkpoints: CheckpointStore
    start_at: InitVar[datetime]
    planner: Planner
    clock: Clock
    metrics: DomainMetrics
    status: DomainStatus
    max_window_attempts: int = 3
    retry_cap_s: float = 300.0
    resweep_hours: InitVar[float] = 0.0
    resweep_interval_s: InitVar[float] = 3600.0
    alerts: AlertMonitor | None = None
    dlq_path: str = ""
    older: tuple[OlderMajor, ...] = ()
    lease: DomainLease | None = None
    bus: EventPort | None = None
    platform: str = DEFAULT_PLATFORM

    def __post_init__(
        self, start_at: datetime, resweep_hours: float, resweep_interval_s: float
    ) -> None:
        self._resweeps = Resweeps(resweep_hours, resweep_interval_s)
        self._versions = [c.version for c in (self.contract, *(o.contract for o in self.older))]
        self._schema_version = ",".join(self._versions)
        self._etag: str | None = None
        self._checkpoint = Checkpoint.empty(
            self.spec.name,
            watermark=self.planner.align(start_at),
            schema_version=self._schema_version,
        )
        self._committed = False  # whether ``_checkpoint`` is in the lake (else: empty)
        self._available: datetime | None = None
        self._loop = WindowLoop(
            self,
            name=self.spec.name,
            clock=self.clock,
            metrics=self.metrics,
            status=self.status,
            max_window_attempts=self.max_window_attempts,
            retry_cap_s=self.retry_cap_s,
        )

    @property
    def watermark(self) -> datetime:
        """Every window ending at or before it is landed (the checkpoint's, or the start)."""
        return self._checkpoint.watermark

    async def run_windows(
        self, *, once: bool, stopping: asyncio.Event, grace_s: float
    ) -> DomainReport:
        """Export windows until stopped, or with ``once`` until none is due (``WindowLoop.run``)."""
        return await self._loop.run(once=once, stopping=stopping, grace_s=grace_s)

    async def load(self, stopping: asyncio.Event) -> bool:
        """Take the writer lease, then read the checkpoint (one read before it could be stale).

        False when stopped while waiting for the lease.
        """
        if self.lease is not None and not await self.lease.acquire(stopping):
            return False
        checkpoint, self._etag = await self.checkpoints.load()
        self.status.lake_error = None
        self._committed = checkpoint is not None
        # Nothing landed yet: start from the watermark this worker has.
        self._checkpoint = (
            checkpoint
            or Checkpoint.empty(
                self.spec.name, watermark=self.watermark, schema_version=self._schema_version
            )
        ).on_platform(self.platform)
        # A planner that re-exports what is stale (WFM's open weeks) learns when each window
        # was last exported: a run --once does not redo a snapshot that is not due.
        for label, recent in self._checkpoint.recent.items():
            self.planner.completed(Window.from_label(label), now=recent.exported_at)
        self.metrics.watermark(self.watermark.timestamp())
        return True

    async def open(self, stopping: asyncio.Event) -> Checkpoint | None:
        """Take the writer lease and read the checkpoint, as ``run_windows`` does first (for a
        caller that runs chosen windows, ``backfill``); None when there is none (or stopped)."""
        if not await self.load(stopping) or not self._committed:
            return None
        self._available = self._checkpoint.source_available  # kept so by every commit
        return self._checkpoint

    async def due(self, stopping: asyncio.Event, *, exclude: Container[str]) -> list[Window]:
        """Step 1, plan: new windows, else re-sweeps; none of ``exclude``."""
        # Outside a window nothing is in flight: stopping cuts the wait off at once.
        self._available = await graced(
            self.extractor.availability(),
            owner=self.spec.name,
            what="availability",
            stopping=stopping,
            grace_s=0.0,
        )
        if self._available is not None:
            self.metrics.source_available(self._available.timestamp())
        now = self.clock.now()
        due = self.planner.due(self.watermark, now=now, available_until=self._available)
        due = [window for window in due if window.label not in exclude]
        if due or not self._committed:
            return due
        last = {label: kept.exported_at for label, kept in self._checkpoint.recent.items()}
        return self._resweeps.due(
            last,
            watermark=self.watermark,
            now=now,
            exclude=exclude,
            since=self._checkpoint.platform_since,
        )

    def idle_seconds(self) -> float:
        """How long to wait when nothing is due (the planner's say)."""
        return self.planner.idle_seconds(self.watermark, now=self.clock.now())

    def completed(self, window: Window) -> None:
        """``window`` was exported now: the planner learns it."""
        self.planner.completed(window, now=self.clock.now())

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
        started = self.clock.monotonic()
        ledger = self._checkpoint.recent.get(window.label)  # 1 plan: landed before?
        recent = ledger or earlier
        # A re-export keeps the first export's time as its rejection time, so an unchanged
        # window's parts stay byte-identical and are not rewritten.
        exported_at = recent.first_exported_at if recent else self.clock.now()
        router = self._router(window, exported_at)
        tally = WindowTally(window, self._versions)
        writes = MajorWrites(self.writer, self.older, window)
        events = self._window_events(window, exported_at)  # 5b: landed lines for the stream
        async with aclosing(self.extractor.fetch(window)) as pages:  # 2 extract
            async for page in pages:  # one synchronous pass a page, one await to write it
                routed = router.route_page(page)  # 3 map, 4 validate
                tally.add_page(routed)
                await writes.add_page(routed)  # 5 write
                events.add_page(routed)
                release_free_memory()  # what the pages before this one left in the heap
        accounted = await tally.finish(writes)  # every record in one place, in every major
        counts = accounted.counts[0]
        unchanged = recent is not None and recent.counts == counts
        unchanged = unchanged and not accounted.written.bytes_written
        await events.finish(publish=not unchanged)  # 5b: lake written, not yet committed
        if unchanged and ledger is not None and record_resweep:  # records the re-sweep alone
            await self._commit(self._checkpoint.reswept(window.label, at=self.clock.now()))
        elif not unchanged:  # 6 commit
            await self._commit_window(window, accounted, exported_at, recent)
        return self._landed(tally, accounted, recent=recent, unchanged=unchanged, started=started)

    def _router(self, window: Window, exported_at: datetime) -> WindowRouter:
        """Steps 3 and 4 for ``window``: map and validate in every major written."""
        return WindowRouter(
            spec=self.spec,
            validators=[self.validator, *(older.validator for older in self.older)],
            window=window,
            rejected_at=exported_at,
        )

    def _window_events(self, window: Window, exported_at: datetime) -> WindowEvents | NoEvents:
        """The window's events, when any major written has a stream (docs/event-bus.md)."""
        ports = [(major.contract.version, major.bus) for major in self.older]
        return window_events(
            self.spec,
            [(self.contract.version, self.bus), *ports],
            self.writer,
            window,
            rejected_at=exported_at,
            keep=self._resweeps.ledger + timedelta(days=1),
            metrics=self.metrics,
            status=self.status,
        )

    async def _commit_window(
        self,
        window: Window,
        accounted: Accounted,
        exported_at: datetime,
        recent: RecentWindow | None,
    ) -> None:
        """Step 6: the checkpoint after ``window`` landed, by CAS (a re-export, ``recent``,
        replaces its earlier counts)."""
        checkpoint = self._checkpoint.committed(
            accounted.record(window),
            first_exported_at=exported_at,
            replaces=recent.counts if recent is not None else None,
            keep=self._resweeps.ledger,
            schema_version=self._schema_version,
            source_available=self._available,
            at=self.clock.now(),
        )
        await self._commit(checkpoint)

    async def _commit(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` by CAS on the one this worker last read or wrote."""
        self._etag = await self.checkpoints.commit(checkpoint, expect_etag=self._etag)
        self.status.lake_error = None
        self._checkpoint, self._committed = checkpoint, True

    def _landed(
        self,
        tally: WindowTally,
        accounted: Accounted,
        *,
        recent: RecentWindow | None,
        unchanged: bool,
        started: float,
    ) -> WindowResult:
        """Metrics, log lines and alerts of a committed window; what it amounted to."""
        elapsed = self.clock.monotonic() - started
        watermark = self.watermark.timestamp()
        resweep = recent is not None
        report_landed(
            self.metrics,
            tally,
            accounted,
            watermark=watermark,
            elapsed=elapsed,
            resweep=resweep,
            unchanged=unchanged,
        )
        if recent is None and self.alerts is not None:
            # First exports only: a re-export would count the same records twice.
            counts, rules = accounted.counts[0], tally.rules
            self.alerts.observe(self.spec.name, tally.window, counts, rules, self.dlq_path)
        else:
            _log.debug("window_unchanged", window=tally.window.label)
        return tally.result(accounted, unchanged=unchanged)
