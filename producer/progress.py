"""Side channel for people: live progress of each domain while a run lands its windows.

Reads the run's own Prometheus registry (``mesh_windows_total``, ``mesh_records_total``, the
watermark and the source's availability): nothing in the pipeline knows it exists. On a terminal
it redraws one line per domain in place; otherwise (a log file, CI, a pipe) it prints a plain
line for a domain when that domain's landed windows change, so the output stays readable.
"Due" is the windows landed so far plus those between the watermark and the source's
availability; snapshot domains (WFM) show the weeks landed only.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from prometheus_client import CollectorRegistry

from producer.checkpoint import Counts

__all__ = ["DomainProgress", "Progress"]

_BAR = 20


@dataclass(frozen=True, slots=True)
class DomainProgress:
    """One domain's figures at one instant."""

    domain: str
    snapshots: bool
    started: bool
    windows: int
    due: int | None
    counts: Counts  # the records so far, as the run's metrics count them

    def line(self) -> str:
        """``telephony: 12/23 windows, 700 fetched = 620 landed + 80 dead-lettered``."""
        if not self.started:
            return f"{self.domain}: starting"
        if self.snapshots:
            done = f"{self.windows} week{'' if self.windows == 1 else 's'} snapshotted"
        else:
            done = f"{self.windows}/{self.due or 0} windows"
        counts = self.counts
        return (
            f"{self.domain}: {done}, {counts.fetched} fetched = "
            f"{counts.landed} landed + {counts.dead_lettered} dead-lettered"
        )

    def bar(self) -> str:
        """A bar for the terminal, ``[#########-----------]``."""
        if not self.due:
            return "[" + " " * _BAR + "]"
        done = min(_BAR, round(_BAR * self.windows / self.due))
        return "[" + "#" * done + "-" * (_BAR - done) + "]"


class Progress:
    """Samples a run's registry every ``interval_s`` and shows each domain's progress.

    ``window_seconds`` maps the incremental domains to their window length (snapshot domains are
    left out: their due count is not shown). ``now`` is Unix time (the run's clock).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        domains: Sequence[str],
        *,
        window_seconds: dict[str, int],
        now: Callable[[], float],
        out: TextIO | None = None,
        tty: bool | None = None,
        interval_s: float = 0.5,
    ) -> None:
        self._registry = registry
        self._domains = tuple(domains)
        self._window_seconds = dict(window_seconds)
        self._now = now
        self._out = out or sys.stdout
        self._tty = self._out.isatty() if tty is None else tty
        self._interval_s = interval_s
        self._drawn = 0
        self._printed: dict[str, int] = {}

    def sample(self) -> list[DomainProgress]:
        """Every domain's figures now."""
        return [self._domain(name) for name in self._domains]

    async def run(self) -> None:
        """Show progress until cancelled (run it beside the daemon; cancel it when done)."""
        try:
            while True:
                self.show()
                await asyncio.sleep(self._interval_s)
        finally:
            self.show(final=True)

    def show(self, *, final: bool = False) -> None:
        """Draw (terminal) or print what changed (plain) once."""
        figures = self.sample()
        if self._tty:
            if self._drawn:
                self._out.write(f"\x1b[{self._drawn}F")
            for item in figures:
                self._out.write(f"\x1b[2K{item.bar()} {item.line()}\n")
            self._drawn = len(figures)
        else:
            for item in figures:
                if self._printed.get(item.domain) != item.windows or (
                    final and item.domain not in self._printed
                ):
                    self._printed[item.domain] = item.windows
                    self._out.write(item.line() + "\n")
        self._out.flush()

    def _domain(self, name: str) -> DomainProgress:
        windows = self._value("mesh_windows_total", name, outcome="landed")
        due: int | None = None
        length = self._window_seconds.get(name)
        watermark = self._value("mesh_watermark_timestamp_seconds", name)
        if length and watermark:
            available = self._value("mesh_source_available_timestamp_seconds", name)
            until = min(self._now(), available) if available else self._now()
            due = windows + max(0, int((until - watermark) // length))
        return DomainProgress(
            domain=name,
            snapshots=not length,
            started=bool(watermark),
            windows=windows,
            due=due,
            counts=Counts(
                fetched=self._value("mesh_records_total", name, outcome="fetched"),
                landed=self._value("mesh_records_total", name, outcome="landed"),
                dead_lettered=self._value("mesh_records_total", name, outcome="dead_lettered"),
            ),
        )

    def _value(self, metric: str, domain: str, **labels: str) -> int:
        value = self._registry.get_sample_value(metric, {"domain": domain, **labels})
        return int(value or 0)
