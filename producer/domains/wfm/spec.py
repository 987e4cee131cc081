"""Step 3 (map) for WFM: its spec (Genesys Cloud published schedules, weekly snapshots).

CXone does not feed WFM (``platforms/nice/registry.py`` says why).
"""

from __future__ import annotations

from producer.api.client import ApiClient
from producer.clock import Clock
from producer.domains.spec import DomainSpec, Extractor
from producer.domains.wfm import genesys
from producer.platforms.genesys.schedules import ScheduleSearch
from producer.settings import DomainSettings, WfmSettings
from producer.windows import Planner, SnapshotPlanner

__all__ = ["SPEC"]


def _wfm_extractor(api: ApiClient, settings: DomainSettings, clock: Clock) -> Extractor:
    units = settings.business_units if isinstance(settings, WfmSettings) else ()
    return ScheduleSearch(api, clock=clock, business_units=units)


def _weekly(window_seconds: int, settings: DomainSettings) -> Planner:
    if isinstance(settings, WfmSettings):
        return SnapshotPlanner(
            horizon_weeks=settings.horizon_weeks, snapshot_seconds=settings.snapshot_seconds
        )
    return SnapshotPlanner(horizon_weeks=2, snapshot_seconds=3600.0)


SPEC = DomainSpec(
    name="wfm",
    map_record=genesys.map_shift,
    record_time=genesys.shift_start,
    record_id=genesys.shift_id,
    make_extractor=_wfm_extractor,
    make_planner=_weekly,
)
