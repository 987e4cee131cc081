"""Step 3 (map): what a domain plugs into the flow, and the planner every incremental domain uses.

``DomainSpec`` names a domain's planner, its extractor factory, its mapper and how to read a
source object's time and identity; ``Extractor`` is what an extractor offers the worker. Each
domain's folder declares its own spec (``domains/{domain}/spec.py``); ``producer.domains`` is
the registry that looks them up.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from producer.api.client import ApiClient
from producer.clock import Clock
from producer.domains.mapped import Mapped
from producer.settings import DomainSettings
from producer.windows import IncrementalPlanner, Planner, Window

__all__ = ["DomainSpec", "Extractor", "incremental"]


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
class DomainSpec:
    """How one domain plugs into the generic worker."""

    name: str
    map_record: Callable[[Any], Mapped]
    record_time: Callable[[Any], datetime | None]
    record_id: Callable[[Any], str | None]
    make_extractor: Callable[[ApiClient, DomainSettings, Clock], Extractor]
    make_planner: Callable[[int, DomainSettings], Planner]
    default_resweep_hours: float = 0.0  # trailing hours re-exported for late data


def incremental(window_seconds: int, settings: DomainSettings) -> Planner:
    """Consecutive windows of ``window_seconds`` (Telephony, Quality)."""
    return IncrementalPlanner(window_seconds)
