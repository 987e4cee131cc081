"""Step 3 (map) for WFM: its plan (weekly snapshots of published schedules).

Its mapper is the Genesys Cloud ``Feed`` (``producer/platforms/genesys/``), built from this
folder's ``genesys.py``; CXone does not feed WFM (``platforms/nice/registry.py`` says why).
"""

from __future__ import annotations

from producer.domains.spec import DomainPlan
from producer.settings import DomainSettings, WfmSettings
from producer.windows import Planner, SnapshotPlanner

__all__ = ["PLAN"]


def _weekly(window_seconds: int, settings: DomainSettings) -> Planner:
    if isinstance(settings, WfmSettings):
        return SnapshotPlanner(
            horizon_weeks=settings.horizon_weeks, snapshot_seconds=settings.snapshot_seconds
        )
    return SnapshotPlanner(horizon_weeks=2, snapshot_seconds=3600.0)


PLAN = DomainPlan(name="wfm", make_planner=_weekly)
