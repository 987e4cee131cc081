"""Step 3 (map) for Telephony: its plan (incremental windows, a day re-swept by default).

Its mapper on each platform is that platform's ``Feed`` (``producer/platforms/{platform}/``),
built from this folder's ``genesys.py`` and ``nice.py``.
"""

from __future__ import annotations

from producer.domains.spec import DomainPlan, incremental

__all__ = ["PLAN"]

PLAN = DomainPlan(name="telephony", make_planner=incremental, default_resweep_hours=24.0)
