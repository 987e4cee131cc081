"""Step 3 (map): what a domain plugs into the flow, and the planner every incremental domain uses.

A domain's own folder declares its ``DomainPlan`` (``domains/{domain}/spec.py``: its name, which
windows are due, how many trailing hours are re-swept); each source platform that feeds the
domain declares its ``Feed`` (the domain's mapper on that platform, and how to read a source
object's time and identity: ``producer/platforms/{platform}/``). ``DomainSpec`` is both together,
what the worker runs; ``producer.domains.domain_spec`` composes it. ``Extractor`` is what a
platform's extractor offers the worker.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from producer.domains.mapped import Mapped
from producer.settings import DomainSettings
from producer.windows import IncrementalPlanner, Planner, Window

__all__ = ["DomainPlan", "DomainSpec", "Extractor", "Feed", "incremental"]


class Extractor(Protocol):
    """Fetches a domain's source objects for one window."""

    async def availability(self) -> datetime | None:
        """Until when the source has complete data (None: no such limit)."""
        ...

    def fetch(self, window: Window) -> AsyncGenerator[list[Any], None]:
        """Pages of source objects that may belong to ``window`` (the worker filters).

        A page is the caller's until it asks for the next one; an extractor may empty it then
        (the caller copies what it keeps).
        """
        ...


@dataclass(frozen=True, slots=True)
class DomainPlan:
    """What a domain is whatever its source: its name, its planner, its re-sweep default."""

    name: str
    make_planner: Callable[[int, DomainSettings], Planner]
    default_resweep_hours: float = 0.0  # trailing hours re-exported for late data


@dataclass(frozen=True, slots=True)
class Feed:
    """A domain on one platform: its mapper, and a source object's time and identity."""

    map_record: Callable[[Any], Mapped]
    record_time: Callable[[Any], datetime | None]
    record_id: Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class DomainSpec:
    """How one domain, fed by one platform, plugs into the generic worker."""

    name: str
    map_record: Callable[[Any], Mapped]
    record_time: Callable[[Any], datetime | None]
    record_id: Callable[[Any], str | None]
    make_planner: Callable[[int, DomainSettings], Planner]
    default_resweep_hours: float = 0.0  # trailing hours re-exported for late data

    @classmethod
    def of(cls, plan: DomainPlan, feed: Feed) -> DomainSpec:
        """``plan``'s domain as ``feed``'s platform feeds it."""
        return cls(
            name=plan.name,
            map_record=feed.map_record,
            record_time=feed.record_time,
            record_id=feed.record_id,
            make_planner=plan.make_planner,
            default_resweep_hours=plan.default_resweep_hours,
        )


def incremental(window_seconds: int, settings: DomainSettings) -> Planner:
    """Consecutive windows of ``window_seconds`` (Telephony, Quality)."""
    return IncrementalPlanner(window_seconds)
