"""The daemon's CXone wiring: settings -> options, and one tenant gate for every CXone domain.

``open_nice_source`` is what the daemon calls for a domain on ``nice``; two Quality sources of
one tenant (two access keys, as two domains would have) opened in one run, so sharing its
``tenant_gates``, run their Data Extraction jobs at once against a simulated tenant that answers
403 to any call inside its interval: none is refused, and both get the same rows.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer.api.client import open_session
from producer.api.retry import RetryPolicy
from producer.clock import SystemClock
from producer.errors import QuotaExceededError
from producer.platforms.genesys.simulator.faults import Fault
from producer.platforms.nice.registry import NiceOptions
from producer.platforms.nice.simulator import RunningNiceSimulator
from producer.platforms.nice.wiring import nice_options, open_nice_source
from producer.platforms.source import RunShared, SourceContext
from producer.ratelimit import DomainLimiter
from producer.settings import QualitySettings, Settings, TelephonySettings
from producer.telemetry.metrics import Metrics
from producer.windows import Window
from tests.nice.conftest import INTERVAL, KEY, OTHER_KEY, OTHER_SECRET, SECRET, fast_retry

_DAY = datetime(2025, 3, 11, tzinfo=UTC)


def _quality(auth_url: str, key: str, secret: str, **knobs: Any) -> QualitySettings:
    return QualitySettings(
        platform="nice",
        nice_auth_url=auth_url,
        nice_discovery_url=auth_url,
        nice_access_key_id=key,
        nice_access_key_secret=SecretStr(secret),
        **knobs,
    )


def _context(
    settings: Settings,
    session: aiohttp.ClientSession,
    domain: str,
    *,
    shared: RunShared | None = None,
    retry: RetryPolicy | None = None,
) -> SourceContext:
    """What the daemon lends a CXone domain, on the system clock with fast retries."""
    clock, metrics = SystemClock(), Metrics(CollectorRegistry())
    limiter = DomainLimiter(
        per_minute=6000, priority="normal", clock=clock, metrics=metrics.for_domain(domain)
    )
    return SourceContext(
        settings=settings,
        session=session,
        limiter=limiter,
        retry=retry or fast_retry(),
        metrics=metrics,
        clock=clock,
        shared=shared or RunShared(),
    )


def test_options_follow_the_settings() -> None:
    quality = _quality("https://na1.nice-incontact.com", "k", "s", page_size=50)
    options = nice_options(quality)
    assert options.settle_seconds == NiceOptions().settle_seconds == 1800  # CXone's default
    assert options.qm_entity_version == "3"
    assert options.page_size == 50
    settled = _quality(
        "https://na1.nice-incontact.com",
        "k",
        "s",
        settle_seconds=0,
        nice_qm_entity_version="4",
        nice_extraction_interval_seconds=45,
        job_max_wait_seconds=60,
    )
    options = nice_options(settled)
    assert (options.settle_seconds, options.qm_entity_version) == (0, "4")
    assert (options.extraction_interval_seconds, options.job_max_wait_seconds) == (45, 60)
    telephony = TelephonySettings(
        platform="nice",
        nice_auth_url="https://na1.nice-incontact.com",
        nice_access_key_id="k",
        nice_access_key_secret=SecretStr("s"),
        nice_completion_lag_seconds=600,
        max_pages_per_window=7,
    )
    options = nice_options(telephony)
    assert (options.completion_lag_seconds, options.max_pages_per_window) == (600, 7)


async def test_two_sources_of_one_tenant_share_its_gate(nice_sim: RunningNiceSimulator) -> None:
    settings = Settings(
        domains=("quality",),
        quality=_quality(nice_sim.auth_url, KEY, SECRET, nice_extraction_interval_seconds=INTERVAL),
    )
    shared = RunShared()  # the run's: its first CXone source makes the tenant gates
    window = Window(_DAY + timedelta(hours=10), _DAY + timedelta(hours=11))

    async def rows(key: str, secret: str) -> list[dict[str, str]]:
        domain = _quality(nice_sim.auth_url, key, secret, nice_extraction_interval_seconds=INTERVAL)
        async with open_session() as session:
            context = _context(settings, session, "quality", shared=shared)
            _, extractor = await open_nice_source("quality", domain, context)
            return [row async for page in extractor.fetch(window) for row in page]

    first, second = await asyncio.gather(rows(KEY, SECRET), rows(OTHER_KEY, OTHER_SECRET))
    assert first
    assert first == second
    calls = nice_sim.sim.extraction_calls
    assert len(calls) >= 4  # a submit and at least one poll each
    assert {call.key_id for call in calls} == {KEY, OTHER_KEY}
    assert all(call.status != 403 for call in calls), [c.status for c in calls]


async def test_a_retry_after_over_the_configured_cap_fails_the_window_at_once(
    nice_sim: RunningNiceSimulator,
) -> None:
    """``MESH_MAX_RETRY_AFTER_SECONDS`` holds on CXone too: a 429 asking for a minute (a
    gateway's ``Retry-After`` in front of the tenant) is a quota error when the cap is 5 s,
    not a minute's pause of the domain."""
    telephony = TelephonySettings(
        platform="nice",
        nice_auth_url=nice_sim.auth_url,
        nice_discovery_url=nice_sim.auth_url,
        nice_access_key_id=KEY,
        nice_access_key_secret=SecretStr(SECRET),
    )
    settings = Settings(domains=("telephony",), telephony=telephony, max_retry_after_seconds=5)
    nice_sim.sim.faults.arm(Fault("throttle", 1, "contacts/completed", retry_after=60))
    window = Window(_DAY + timedelta(hours=10), _DAY + timedelta(hours=11))
    async with open_session() as session:
        # a retry budget that would wait the minute out
        context = _context(settings, session, "telephony", retry=fast_retry(budget_s=120))
        _, extractor = await open_nice_source("telephony", telephony, context)
        with pytest.raises(QuotaExceededError, match="5 s cap"):
            # the bound only turns a minute's wait into a failure here, not a time asserted
            await asyncio.wait_for(extractor.fetch(window).__anext__(), timeout=30)
    statuses = [r.status for r in nice_sim.sim.requests if "contacts/completed" in r.path]
    assert statuses == [429]  # refused once, and not asked again inside the minute
