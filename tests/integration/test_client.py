"""ApiClient and the async-jobs extractor against the simulator: retries, Retry-After, 401s.

Faults are switched on in the simulator; the client, token manager and limiter are the real ones.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from producer.api.client import ApiClient
from producer.api.retry import RetryPolicy
from producer.clock import SystemClock
from producer.errors import PermanentSourceError, QuotaExceededError, TransientSourceError
from producer.platforms.genesys.jobs import ConversationJobs
from producer.platforms.genesys.simulator import RunningSimulator
from producer.windows import Window, align_down
from tests.fixtures.api import open_api_client
from tests.fixtures.simulator import TELEPHONY_CLIENT

_JOBS = "/api/v2/analytics/conversations/details/jobs"


@dataclass
class Harness:
    api: ApiClient
    jobs: ConversationJobs
    registry: CollectorRegistry
    simulator: RunningSimulator

    def retries(self, reason: str) -> float:
        value = self.registry.get_sample_value(
            "mesh_api_retries_total", {"domain": "telephony", "reason": reason}
        )
        return value or 0.0


async def _harness(
    simulator: RunningSimulator, *, budget_s: float = 30.0, max_retry_after_s: float = 180.0
) -> AsyncIterator[Harness]:
    registry = CollectorRegistry()
    clock = SystemClock()
    async with open_api_client(
        simulator,
        TELEPHONY_CLIENT,
        domain="telephony",
        priority="high",
        clock=clock,
        retry=RetryPolicy(base_s=0.05, cap_s=0.2, budget_s=budget_s, rng=random.Random(5)),
        registry=registry,
        max_retry_after_s=max_retry_after_s,
    ) as api:
        jobs = ConversationJobs(api, clock=clock, poll_seconds=0.02, page_size=25)
        yield Harness(api, jobs, registry, simulator)


@pytest.fixture
async def harness(simulator: RunningSimulator) -> AsyncIterator[Harness]:
    async for built in _harness(simulator):
        yield built


def _window(simulator: RunningSimulator, hours_back: float = 2.0) -> Window:
    now = simulator.sim.config.now()
    start = align_down(now - timedelta(hours=hours_back), 3600)
    return Window(start, start + timedelta(hours=1))


async def _collect(jobs: ConversationJobs, window: Window) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async for page in jobs.fetch(window):
        found.extend(page)
    return found


def _truth(simulator: RunningSimulator, window: Window) -> set[str]:
    return {c["conversationId"] for c in simulator.sim.conversations(window.start, window.end)}


async def test_every_request_carries_priority_and_token(harness: Harness) -> None:
    """x-priority and the bearer token go out on every API request."""
    await harness.api.call("GET", f"{_JOBS}/availability")
    api_requests = [r for r in harness.simulator.sim.requests if r.path.startswith("/api/")]
    assert api_requests
    assert all(r.priority == "high" for r in api_requests)
    assert all(r.token_fingerprint for r in api_requests)


async def test_429_retry_after_is_honoured(harness: Harness) -> None:
    """After a 429 with Retry-After, no request is sent before that time has passed."""
    harness.simulator.sim.throttle_next(2, retry_after=1)
    response = await harness.api.call("GET", f"{_JOBS}/availability")
    assert response.status == 200
    log = [r for r in harness.simulator.sim.requests if r.path.endswith("/availability")]
    assert [r.status for r in log] == [429, 429, 200]
    for throttled, following in itertools.pairwise(log):
        assert following.time - throttled.time >= 1.0
    assert harness.retries("throttled") == 2


async def test_retry_after_beyond_the_cap_is_a_quota_error(simulator: RunningSimulator) -> None:
    """A 429 asking for hours (a daily cap) is not waited out: the request gives up."""
    async for harness in _harness(simulator, max_retry_after_s=5):
        simulator.sim.throttle_next(1, retry_after=3600)
        with pytest.raises(QuotaExceededError) as caught:
            await harness.api.call("GET", f"{_JOBS}/availability")
        assert caught.value.retry_after >= 3600


async def test_5xx_burst_is_retried(harness: Harness) -> None:
    """502/503/504 are retried with backoff and the call succeeds."""
    harness.simulator.sim.fail_next(1, 502)
    harness.simulator.sim.fail_next(1, 503)
    harness.simulator.sim.fail_next(1, 504)
    response = await harness.api.call("GET", f"{_JOBS}/availability")
    assert response.status == 200
    assert harness.retries("server_error") == 3


async def test_connection_reset_is_retried(harness: Harness) -> None:
    """A dropped connection is retried (aiohttp itself retries a GET once, so drop two)."""
    harness.simulator.sim.reset_next(2)
    response = await harness.api.call("GET", f"{_JOBS}/availability")
    assert response.status == 200
    assert harness.retries("connection") >= 1


async def test_retry_budget_ends_in_a_transient_error(simulator: RunningSimulator) -> None:
    """A server that keeps failing makes the request give up once its budget is spent."""
    async for harness in _harness(simulator, budget_s=0.5):
        simulator.sim.fail_next(1000, 503)
        with pytest.raises(TransientSourceError, match="gave up"):
            await harness.api.call("GET", f"{_JOBS}/availability")


async def test_other_4xx_is_permanent_and_not_retried(harness: Harness) -> None:
    """An unknown job is a 404: raised at once, not retried."""
    with pytest.raises(PermanentSourceError, match=r"404 not\.found"):
        await harness.api.call("GET", f"{_JOBS}/no-such-job")
    log = [r for r in harness.simulator.sim.requests if r.path.endswith("/no-such-job")]
    assert len(log) == 1


async def test_extract_matches_ground_truth_under_page_faults(harness: Harness) -> None:
    """Truncated and non-JSON pages are re-requested with the same cursor; nothing is lost."""
    window = _window(harness.simulator)
    harness.simulator.sim.truncate_next(1)
    harness.simulator.sim.malformed_next(1)
    found = await _collect(harness.jobs, window)
    ids = [c["conversationId"] for c in found]
    assert len(ids) == len(set(ids))
    assert set(ids) == _truth(harness.simulator, window)
    assert harness.retries("bad_body") == 2
    results = [r for r in harness.simulator.sim.requests if r.path.endswith("/results")]
    first_bad = next(i for i, r in enumerate(results) if r.status == 200)
    assert results[first_bad].query == results[first_bad + 1].query, "same page re-requested"


async def test_revoked_token_mid_export_retries_the_same_cursor(harness: Harness) -> None:
    """Revocation while paging: one 401, a new token, the same cursor again, nothing lost."""
    window = _window(harness.simulator)
    found: list[dict[str, Any]] = []
    pages = 0
    async for page in harness.jobs.fetch(window):
        found.extend(page)
        pages += 1
        if pages == 2:
            harness.simulator.sim.revoke_tokens()
    assert {c["conversationId"] for c in found} == _truth(harness.simulator, window)
    results = [r for r in harness.simulator.sim.requests if r.path.endswith("/results")]
    unauthorized = [i for i, r in enumerate(results) if r.status == 401]
    assert len(unauthorized) == 1
    retried = results[unauthorized[0] + 1]
    assert retried.status == 200
    assert retried.query == results[unauthorized[0]].query, "the same cursor was retried"
    assert retried.token_fingerprint != results[unauthorized[0]].token_fingerprint


async def test_failed_job_fails_the_window(harness: Harness) -> None:
    """A job that ends FAILED raises, so the window is re-run rather than landing empty."""
    harness.simulator.sim.fail_next_job()
    with pytest.raises(TransientSourceError, match="FAILED"):
        await _collect(harness.jobs, _window(harness.simulator))
    deletes = [r for r in harness.simulator.sim.requests if r.method == "DELETE"]
    assert deletes, "the job's slot is freed even when it failed"


async def test_jobs_are_deleted_after_reading(harness: Harness) -> None:
    """Each job is deleted after its results were read, freeing the org's job slot."""
    await _collect(harness.jobs, _window(harness.simulator))
    deletes = [r for r in harness.simulator.sim.requests if r.method == "DELETE"]
    assert [r.status for r in deletes] == [204]
