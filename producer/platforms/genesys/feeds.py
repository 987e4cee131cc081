"""Step 2-3 wiring for Genesys Cloud: the domains it feeds, their mappers and extractors.

``genesys_feed(domain)`` gives a domain's ``GenesysFeed``: its mapper, window key and identity
(from ``domains/{domain}/genesys.py``) and its extractor factory (Telephony: analytics jobs;
Quality: evaluation search; WFM: published schedule search) over the shared ``ApiClient``.
Pure wiring: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from producer.api.client import ApiClient
from producer.clock import Clock
from producer.domains.quality import genesys as quality
from producer.domains.spec import Extractor, Feed
from producer.domains.telephony import genesys as telephony
from producer.domains.wfm import genesys as wfm
from producer.errors import ConfigError
from producer.platforms.genesys.evaluations import EvaluationSearch
from producer.platforms.genesys.jobs import ConversationJobs
from producer.platforms.genesys.schedules import ScheduleSearch
from producer.settings import DomainSettings, QualitySettings, WfmSettings

__all__ = ["GenesysFeed", "genesys_feed"]


@dataclass(frozen=True, slots=True)
class GenesysFeed:
    """A domain on Genesys Cloud: its ``Feed`` and how its extractor is built."""

    feed: Feed  # the platform-neutral half the worker runs
    make_extractor: Callable[[ApiClient, DomainSettings, Clock], Extractor]


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


def _quality_extractor(api: ApiClient, settings: DomainSettings, clock: Clock) -> Extractor:
    settle = settings.settle_seconds if isinstance(settings, QualitySettings) else 120.0
    return EvaluationSearch(api, clock=clock, page_size=settings.page_size, settle_seconds=settle)


def _wfm_extractor(api: ApiClient, settings: DomainSettings, clock: Clock) -> Extractor:
    units = settings.business_units if isinstance(settings, WfmSettings) else ()
    return ScheduleSearch(api, clock=clock, business_units=units)


_FEEDS = {
    "telephony": GenesysFeed(
        feed=Feed(telephony.map_conversation, telephony.conversation_start, _conversation_id),
        make_extractor=_telephony_extractor,
    ),
    "quality": GenesysFeed(
        feed=Feed(quality.map_evaluation, quality.evaluation_changed, quality.evaluation_id),
        make_extractor=_quality_extractor,
    ),
    "wfm": GenesysFeed(
        feed=Feed(wfm.map_shift, wfm.shift_start, wfm.shift_id),
        make_extractor=_wfm_extractor,
    ),
}


def genesys_feed(domain: str) -> GenesysFeed:
    """The Genesys Cloud feed of ``domain``; ``ConfigError`` (one line) for an unknown one."""
    try:
        return _FEEDS[domain]
    except KeyError:
        raise ConfigError(
            f"MESH_{domain.upper()}__PLATFORM=genesys: unknown domain {domain!r}"
        ) from None
