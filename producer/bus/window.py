"""Step 5b for one window: its landed records, per major, published after the lake write.

``WindowEvents`` is fed each routed record (``add``) or routed page (``add_page``) while the
window is written (a landed line of the newest major, and of each older major written beside
it, goes to that major's spool) and
publishes them (``finish``) once the window's parts are written and before its checkpoint
commits; an unchanged re-export publishes nothing, and a changed one only the events the
stream does not hold yet (``PublishedMarks``, ``producer/bus/published.py``). ``NoEvents``
stands in for a domain without a stream. Only ``LANDED`` lines are published: nothing that
failed the contract reaches the bus, and each major goes to its own stream, never mixed. The
spools (``LineSpool``) keep a large window on disk, not in memory. Failure to publish raises
``StreamError`` (the window fails, the checkpoint stays) and names the stream on ``/readyz``;
success clears it. Events a stream can
never take (too large) are logged and handed to ``StreamRefusals`` (``producer/bus/refused.py``):
the window's DLQ series of stream refusals, written before the checkpoint commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from producer.bus.port import EventPort, PublishResult, event_for
from producer.bus.published import PublishedMarks, short_id
from producer.bus.refused import TOO_LARGE_REASON, Refusal, StreamRefusals
from producer.bus.spool import LineSpool
from producer.domains import DomainSpec
from producer.errors import StreamError
from producer.lake.writer import BatchWriter
from producer.routing import Route, Routed, RoutedPage
from producer.telemetry.health import DomainStatus
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Window

__all__ = ["NoEvents", "WindowEvents", "window_events"]

_log = structlog.get_logger("producer.bus")
_READ_BATCH = 500


class WindowEvents:
    """One window's events; ``ports`` pairs each major written (newest first, as the worker
    writes them) with its port, or None for a major without a stream."""

    def __init__(
        self,
        spec: DomainSpec,
        ports: Sequence[tuple[str, EventPort | None]],
        *,
        metrics: DomainMetrics,
        status: DomainStatus,
        refusals: StreamRefusals | None = None,
        marks: PublishedMarks | None = None,
    ) -> None:
        self._spec = spec
        self._refusals = refusals
        self._marks = marks
        self._ports = list(ports)
        self._spools = [LineSpool() if port is not None else None for _, port in ports]
        self._metrics = metrics
        self._status = status

    def add(self, source: Any, routed: Routed) -> None:
        """Keep ``routed``'s landed lines (the newest major's, then each older major's), keyed
        by the source object's record id."""
        if routed.route is not Route.LANDED and not routed.also:
            return
        record_id = self._spec.record_id(source) or ""
        for spool, outcome in zip(self._spools, (routed, *routed.also), strict=False):
            if spool is not None and outcome.route is Route.LANDED:
                spool.add(record_id, outcome.line)

    def add_page(self, page: RoutedPage) -> None:
        """Keep a routed page's landed lines (``WindowRouter.route_page``), as ``add`` would."""
        for spool, lines in zip(self._spools, page.majors, strict=False):
            if spool is not None:
                for record_id, line in zip(lines.ids, lines.landed, strict=True):
                    spool.add(record_id, line)

    async def finish(self, *, publish: bool) -> None:
        """``publish`` (the window landed something new), else only drop what was kept."""
        if publish:
            await self.publish()
        else:
            self.close()

    async def publish(self) -> PublishResult:
        """Publish every kept line the stream does not hold yet to its major's stream, in
        order; record what it holds now; closes the spools."""
        total = PublishResult()
        refused: list[Refusal] = []
        try:
            for (version, port), spool in zip(self._ports, self._spools, strict=True):
                if port is None or spool is None:
                    continue
                result = await self._publish_major(version, port, spool)
                for event in result.too_large:
                    _log.warning(
                        "event_too_large",
                        reason=TOO_LARGE_REASON,
                        record_id=event.key,
                        event_id=event.event_id,
                        bytes=len(event.data),
                        stream=port.description,
                    )
                    refused.append(Refusal(version, port.description, event))
                total.add(result)
            self._status.stream_error = None
            if self._refusals is not None:
                await self._refusals.write(refused)
            return total
        finally:
            self.close()

    async def _publish_major(
        self, version: str, port: EventPort, spool: LineSpool
    ) -> PublishResult:
        """One major's events: those its marker lists are skipped (the stream has them), the
        rest published; then the marker lists every event the stream holds of the window."""
        held = await self._marks.load(version) if self._marks is not None else frozenset()
        result = PublishResult()
        ids: list[bytes] = []
        skipped = 0
        try:
            for batch in spool.batches(_READ_BATCH):
                events = [event_for(self._spec.name, key, version, line) for key, line in batch]
                ids.extend(short_id(event.event_id) for event in events)
                fresh = [event for event in events if short_id(event.event_id) not in held]
                skipped += len(events) - len(fresh)
                if fresh:
                    result.add(await port.publish(fresh))
        except StreamError as exc:
            self._status.stream_error = str(exc)[:200]
            self._metrics.events("failed", spool.count - skipped - result.published)
            raise
        finally:
            self._metrics.events("published", result.published)
            self._metrics.events("unchanged", skipped)
            self._metrics.events("retried", result.retried)
            self._metrics.events("too_large", len(result.too_large))
            self._metrics.stream_throttled(result.throttled)
        if self._marks is not None:
            refused = {short_id(event.event_id) for event in result.too_large}
            await self._marks.save(version, (i for i in ids if i not in refused))
        return result

    def close(self) -> None:
        for spool in self._spools:
            if spool is not None:
                spool.close()


class NoEvents:
    """The events of a domain without a stream: nothing is kept, nothing published."""

    def add(self, source: Any, routed: Routed) -> None:
        """Nothing to keep."""

    def add_page(self, page: RoutedPage) -> None:
        """Nothing to keep."""

    async def finish(self, *, publish: bool) -> None:
        """Nothing to publish."""


def window_events(
    spec: DomainSpec,
    ports: Sequence[tuple[str, EventPort | None]],
    writer: BatchWriter,
    window: Window,
    *,
    rejected_at: datetime,
    keep: timedelta,
    metrics: DomainMetrics,
    status: DomainStatus,
) -> WindowEvents | NoEvents:
    """The events of ``window`` when any major written (``ports``, newest first) has a stream,
    else ``NoEvents``. The stream's refusals go to the newest major's ``writer`` (its own DLQ
    part range, rejected at ``rejected_at``); its published marks are kept for ``keep``."""
    if all(port is None for _, port in ports):
        return NoEvents()
    refusals = StreamRefusals(
        writer.stream_rejects(), window, domain=spec.name, rejected_at=rejected_at
    )
    return WindowEvents(
        spec,
        ports,
        metrics=metrics,
        status=status,
        refusals=refusals,
        marks=PublishedMarks(writer, window, keep=keep),
    )
