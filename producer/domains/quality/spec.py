"""Step 3 (map) for Quality: its spec (Genesys Cloud evaluation search, incremental windows).

The CXone side of the spec (mapper, window key, identity) is ``platforms/nice/registry.py``'s.
"""

from __future__ import annotations

from producer.api.client import ApiClient
from producer.clock import Clock
from producer.domains.quality import genesys
from producer.domains.spec import DomainSpec, Extractor, incremental
from producer.platforms.genesys.evaluations import EvaluationSearch
from producer.settings import DomainSettings, QualitySettings

__all__ = ["SPEC"]


def _quality_extractor(api: ApiClient, settings: DomainSettings, clock: Clock) -> Extractor:
    settle = settings.settle_seconds if isinstance(settings, QualitySettings) else 120.0
    return EvaluationSearch(api, clock=clock, page_size=settings.page_size, settle_seconds=settle)


SPEC = DomainSpec(
    name="quality",
    map_record=genesys.map_evaluation,
    record_time=genesys.evaluation_changed,
    record_id=genesys.evaluation_id,
    make_extractor=_quality_extractor,
    make_planner=incremental,
)
