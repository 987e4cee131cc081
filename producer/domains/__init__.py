"""Step 3 (map): the registry of business domains and what each plugs into the flow.

A ``DomainSpec`` names a domain's planner (which windows are due: consecutive windows or weekly
snapshots), its extractor (how its source objects are fetched for a window), its mapper (source
object → contract record or rejection), and how to read a source object's time and identity (to
assign it to exactly one window and drop repeats). Each domain's folder (one mapper per platform)
is owned by that domain's team; this registry only wires them. ``domain_spec(name, platform)``
gives a domain's spec on its configured source platform: on NICE CXone the mapper, window key
and identity come from ``producer.platforms.nice.registry`` (the extractor is built there too,
from the domain's CXone clients, so ``make_extractor`` is the Genesys one's and unused).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from producer.api.client import ApiClient
from producer.clock import Clock
from producer.domains.mapped import Mapped
from producer.domains.quality import genesys as genesys_quality
from producer.domains.telephony import genesys as genesys_telephony
from producer.domains.wfm import genesys as genesys_wfm
from producer.platforms.genesys.evaluations import EvaluationSearch
from producer.platforms.genesys.jobs import ConversationJobs
from producer.platforms.genesys.schedules import ScheduleSearch
from producer.settings import DomainSettings, QualitySettings, WfmSettings
from producer.windows import IncrementalPlanner, Planner, SnapshotPlanner, Window

__all__ = ["DomainSpec", "Extractor", "Mapped", "domain_spec"]


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


def _telephony_extractor(api: ApiClient, settings: DomainSettings, clock: Clock) -> Extractor:
    return ConversationJobs(
        api,
        clock=clock,
        poll_seconds=settings.job_poll_seconds,
        page_size=settings.page_size,
        max_job_wait_s=settings.job_max_wait_seconds,
        max_pages=settings.max_pages_per_window,
    )


def _incremental(window_seconds: int, settings: DomainSettings) -> Planner:
    return IncrementalPlanner(window_seconds)


def _quality_extractor(api: ApiClient, settings: DomainSettings, clock: Clock) -> Extractor:
    settle = settings.settle_seconds if isinstance(settings, QualitySettings) else 120.0
    return EvaluationSearch(api, clock=clock, page_size=settings.page_size, settle_seconds=settle)


def _wfm_extractor(api: ApiClient, settings: DomainSettings, clock: Clock) -> Extractor:
    units = settings.business_units if isinstance(settings, WfmSettings) else ()
    return ScheduleSearch(api, clock=clock, business_units=units)


def _weekly(window_seconds: int, settings: DomainSettings) -> Planner:
    if isinstance(settings, WfmSettings):
        return SnapshotPlanner(
            horizon_weeks=settings.horizon_weeks, snapshot_seconds=settings.snapshot_seconds
        )
    return SnapshotPlanner(horizon_weeks=2, snapshot_seconds=3600.0)


def _conversation_id(source: Any) -> str | None:
    value = source.get("conversationId") if isinstance(source, dict) else None
    return value if isinstance(value, str) and value else None


_SPECS = {
    "telephony": DomainSpec(
        name="telephony",
        map_record=genesys_telephony.map_conversation,
        record_time=genesys_telephony.conversation_start,
        record_id=_conversation_id,
        make_extractor=_telephony_extractor,
        make_planner=_incremental,
        default_resweep_hours=24.0,
    ),
    "quality": DomainSpec(
        name="quality",
        map_record=genesys_quality.map_evaluation,
        record_time=genesys_quality.evaluation_changed,
        record_id=genesys_quality.evaluation_id,
        make_extractor=_quality_extractor,
        make_planner=_incremental,
    ),
    "wfm": DomainSpec(
        name="wfm",
        map_record=genesys_wfm.map_shift,
        record_time=genesys_wfm.shift_start,
        record_id=genesys_wfm.shift_id,
        make_extractor=_wfm_extractor,
        make_planner=_weekly,
    ),
}


def domain_spec(name: str, platform: str = "genesys") -> DomainSpec:
    """The spec of a known domain on ``platform``; KeyError for an unknown name, ``ConfigError``
    (one line) for a domain the platform cannot feed (WFM on CXone)."""
    spec = _SPECS[name]
    if platform == "genesys":
        return spec
    from producer.platforms.nice.registry import nice_spec  # it imports this module

    nice = nice_spec(name)
    return replace(
        spec, map_record=nice.map_record, record_time=nice.record_time, record_id=nice.record_id
    )
