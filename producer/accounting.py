"""Between steps 5 and 6: every record of a window in exactly one place, in every major written.

``WindowTally`` counts where each routed record went (per major: landed, dead-lettered, out of
the window, duplicate; the rules of the newest major's dead letters), then checks each major's
finished parts against it: what was written must be what was routed, and every older major must
account for as many records as the newest. Any difference raises ``AccountingError`` and the
window is not committed. Once it is, ``report_landed`` counts and logs what it amounted to.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from producer.checkpoint import Counts, WindowRecord
from producer.errors import AccountingError
from producer.lake.writer import WindowLanded
from producer.majors import MajorWrites
from producer.reports import WindowResult
from producer.routing import Route, Routed, RoutedPage
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Window

__all__ = ["Accounted", "WindowTally", "report_landed"]

_log = structlog.get_logger("producer.worker")


@dataclass(frozen=True, slots=True)
class Accounted:
    """A window's finished parts: ``counts`` per major (newest first) and the newest major's
    ``written`` (its ``bytes_written`` covers every major's parts)."""

    counts: tuple[Counts, ...]
    written: WindowLanded

    def record(self, window: Window) -> WindowRecord:
        """The checkpoint's record of ``window``: the newest major's counts and parts."""
        written = self.written
        return WindowRecord(
            window.start, window.end, self.counts[0], written.data_parts, written.dlq_parts
        )


class WindowTally:
    """Where a window's objects went, per major written (``versions``, newest first)."""

    def __init__(self, window: Window, versions: Sequence[str]) -> None:
        self.window = window
        self.versions = tuple(versions)
        self.per_major = [dict.fromkeys(Route, 0) for _ in self.versions]
        self.rules: Counter[str] = Counter()

    @property
    def routes(self) -> dict[Route, int]:
        """The newest major's routes."""
        return self.per_major[0]

    def add(self, routed: Routed) -> None:
        """Count one routed source object, in every major."""
        self.routes[routed.route] += 1
        if routed.route is Route.DEAD_LETTERED:
            self.rules.update(routed.rules)
        for side, routes in zip(routed.also, self.per_major[1:], strict=False):
            routes[side.route] += 1

    def add_page(self, page: RoutedPage) -> None:
        """Count a routed page (``WindowRouter.route_page``), as ``add`` would each object."""
        newest = self.per_major[0]
        newest[Route.OUT_OF_WINDOW] += page.out_of_window
        newest[Route.DUPLICATE] += page.duplicates
        for routes, lines in zip(self.per_major, page.majors, strict=False):
            routes[Route.LANDED] += len(lines.landed)
            routes[Route.DEAD_LETTERED] += len(lines.dead)
        if page.rules:
            self.rules.update(page.rules)

    def result(self, accounted: Accounted, *, unchanged: bool) -> WindowResult:
        """What the window amounted to (an unchanged re-export: no rules of this run)."""
        return WindowResult(
            self.window,
            accounted.counts[0],
            self.routes[Route.OUT_OF_WINDOW],
            self.routes[Route.DUPLICATE],
            accounted.written.data_parts,
            accounted.written.dlq_parts,
            self.rules if not unchanged else Counter(),
            unchanged,
        )

    async def finish(self, writes: MajorWrites) -> Accounted:
        """Finish each major's write, newest first, checking each as it is finished."""
        counts: list[Counts] = []
        written: WindowLanded | None = None
        for index, write in enumerate(writes.writes):
            landed = await write.finish()
            counts.append(self._balanced(index, landed, counts[0] if counts else None))
            written = landed if written is None else _with_bytes(written, landed.bytes_written)
        assert written is not None  # the newest major is always written
        return Accounted(tuple(counts), written)

    def _balanced(self, index: int, written: WindowLanded, newest: Counts | None) -> Counts:
        """Major ``index``'s counts; ``AccountingError`` if what was written differs from what
        was routed, or an older major accounts for another number of records than the newest."""
        version, routes = self.versions[index], self.per_major[index]
        landed, dead = routes[Route.LANDED], routes[Route.DEAD_LETTERED]
        if (written.landed, written.dead_lettered) != (landed, dead):
            raise AccountingError(
                f"window {self.window.label} ({version}): routed {landed} landed and {dead} "
                f"dead-lettered, wrote {written.landed} and {written.dead_lettered}"
            )
        counts = Counts(fetched=landed + dead, landed=landed, dead_lettered=dead)
        if newest is not None and counts.fetched != newest.fetched:
            raise AccountingError(
                f"window {self.window.label}: {version} accounted for {counts.fetched} "
                f"records, the newest major for {newest.fetched}"
            )
        return counts


def _with_bytes(written: WindowLanded, more: int) -> WindowLanded:
    """``written`` with ``more`` compressed bytes put (an older major's parts)."""
    return dataclasses.replace(written, bytes_written=written.bytes_written + more)


def report_landed(
    metrics: DomainMetrics,
    tally: WindowTally,
    accounted: Accounted,
    *,
    watermark: float,
    elapsed: float,
    resweep: bool,
    unchanged: bool,
) -> None:
    """Metrics and the summary line of a committed window, and one line per older major
    (``watermark`` in epoch seconds, ``elapsed`` seconds, ``resweep`` a re-export of it);
    an ``unchanged`` re-export counts as such alone."""
    if resweep:
        metrics.resweep("unchanged" if unchanged else "changed")
    if unchanged:
        return
    window, counts = tally.window, accounted.counts[0].as_dict()
    out_of_window, duplicates = tally.routes[Route.OUT_OF_WINDOW], tally.routes[Route.DUPLICATE]
    routed = (*counts.items(), ("out_of_window", out_of_window), ("duplicate", duplicates))
    for outcome, count in routed:
        metrics.records(outcome, count)
    metrics.window_done("landed", elapsed)
    metrics.watermark(watermark)
    _log.info(
        "window_landed",
        window=window.label,
        resweep=resweep,
        **counts,
        out_of_window=out_of_window,
        duplicates=duplicates,
        seconds=round(elapsed, 3),
    )
    for version, older in zip(tally.versions[1:], accounted.counts[1:], strict=True):
        written = {"landed": older.landed, "dead_lettered": older.dead_lettered}
        for outcome, count in written.items():
            metrics.older_major_records(version, outcome, count)
        _log.info("window_landed_older_major", window=window.label, version=version, **written)
