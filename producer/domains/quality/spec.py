"""Step 3 (map) for Quality: its plan (incremental windows, by changed date).

Its mapper on each platform is that platform's ``Feed`` (``producer/platforms/{platform}/``),
built from this folder's ``genesys.py`` and ``nice.py``.
"""

from __future__ import annotations

from producer.domains.spec import DomainPlan, incremental

__all__ = ["PLAN"]

PLAN = DomainPlan(name="quality", make_planner=incremental)
