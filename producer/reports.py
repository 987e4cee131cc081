"""What windows and runs amounted to: ``WindowResult`` per window, ``DomainReport`` per run.

The worker fills them (step 6, after each commit); ``run --once``, the demo's summary and the
daemon's exit code read them. Plain data: no I/O.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime

from producer.checkpoint import Counts
from producer.windows import Window

__all__ = ["DomainReport", "WindowResult"]

_REPORT_RECENT = 16


@dataclass(frozen=True, slots=True)
class WindowResult:
    """What one landed window amounted to."""

    window: Window
    counts: Counts
    out_of_window: int
    duplicates: int
    data_parts: int
    dlq_parts: int
    rules: Counter[str] = field(default_factory=Counter)
    unchanged: bool = False


@dataclass(slots=True)
class DomainReport:
    """A domain's summary for ``run --once`` and the demo's table.

    ``rules`` counts the dead letters of this run by error rule; ``recent`` holds the last
    windows landed in this run and ``first_seen`` the window where each rule first rejected a
    record (where the summary finds an example of each rule); ``unchanged``
    counts windows exported again with identical content (not in ``windows`` or ``counts``).
    """

    domain: str
    windows: int = 0
    counts: Counts = field(default_factory=Counts)
    data_parts: int = 0
    dlq_parts: int = 0
    watermark: datetime | None = None
    unchanged: int = 0
    error: str | None = None
    config_error: bool = False
    rules: Counter[str] = field(default_factory=Counter)
    recent: deque[Window] = field(default_factory=lambda: deque(maxlen=_REPORT_RECENT))
    first_seen: dict[str, Window] = field(default_factory=dict)

    def add(self, result: WindowResult, watermark: datetime) -> None:
        """Count one window of this run (an unchanged re-export landed nothing new)."""
        self.watermark = watermark
        if result.unchanged:
            self.unchanged += 1
            return
        self.windows += 1
        self.counts = self.counts + result.counts
        self.data_parts += result.data_parts
        self.dlq_parts += result.dlq_parts
        self.rules.update(result.rules)
        for rule in result.rules:
            self.first_seen.setdefault(rule, result.window)
        self.recent.append(result.window)
