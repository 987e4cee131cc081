"""Step 3 (map) for Telephony: its spec (Genesys Cloud analytics jobs, incremental windows).

The CXone side of the spec (mapper, window key, identity) is ``platforms/nice/registry.py``'s.
"""

from __future__ import annotations

from typing import Any

from producer.api.client import ApiClient
from producer.clock import Clock
from producer.domains.spec import DomainSpec, Extractor, incremental
from producer.domains.telephony import genesys
from producer.platforms.genesys.jobs import ConversationJobs
from producer.settings import DomainSettings

__all__ = ["SPEC"]


def _telephony_extractor(api: ApiClient, settings: DomainSettings, clock: Clock) -> Extractor:
    return ConversationJobs(
        api,
        clock=clock,
        poll_seconds=settings.job_poll_seconds,
        page_size=settings.page_size,
        max_job_wait_s=settings.job_max_wait_seconds,
        max_pages=settings.max_pages_per_window,
    )


def _conversation_id(source: Any) -> str | None:
    value = source.get("conversationId") if isinstance(source, dict) else None
    return value if isinstance(value, str) and value else None


SPEC = DomainSpec(
    name="telephony",
    map_record=genesys.map_conversation,
    record_time=genesys.conversation_start,
    record_id=_conversation_id,
    make_extractor=_telephony_extractor,
    make_planner=incremental,
    default_resweep_hours=24.0,
)
