"""A platform that answers 429 on a steady share of calls: the quota comes back after each pause.

A shared org quota (another app on the same org) shows as a 429 with ``Retry-After`` on every
k-th request. The real extractor, client, token manager and limiter run against the simulator,
both on one virtual clock that moves only when someone sleeps: requests cost no time, every
wait (Retry-After pauses, the limiter's own slots, job polls) is counted exactly. The pauses
must be honoured to the letter, and nothing else may slow the domain down.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer.api.client import ApiClient, open_session
from producer.api.http import DomainHttp
from producer.api.retry import RetryPolicy
from producer.auth import TokenManager
from producer.platforms.genesys.jobs import ConversationJobs
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.ratelimit import DomainLimiter
from producer.telemetry.metrics import Metrics
from producer.windows import Window
from tests.fixtures.simulator import TELEPHONY_CLIENT, telephony_config

_NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
_QUOTA = 240.0


class _VirtualClock:
    """Time that moves only by sleeping: a request takes none, a wait exactly what it asked."""

    def __init__(self) -> None:
        self.t = 1_000.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return _NOW + timedelta(seconds=self.t - 1_000.0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        self.t += max(0.0, seconds)


@pytest.fixture
def clock() -> _VirtualClock:
    return _VirtualClock()


@pytest.fixture
def simulator_config(clock: _VirtualClock) -> SimulatorConfig:
    """The telephony client alone, ~30 pages of 25 in an hour, on the virtual clock."""
    return telephony_config(lambda: _NOW, conversations_per_hour=720.0, monotonic=clock.monotonic)


@pytest.fixture
async def jobs_and_limiter(
    simulator: RunningSimulator, clock: _VirtualClock
) -> AsyncIterator[tuple[ConversationJobs, DomainLimiter]]:
    """The extractor on a client with the production quota (240/min), all on ``clock``."""
    metrics = Metrics(CollectorRegistry()).for_domain("telephony")
    limiter = DomainLimiter(per_minute=_QUOTA, priority="high", clock=clock, metrics=metrics)
    async with open_session() as session:
        retry = RetryPolicy(budget_s=120.0, rng=random.Random(3))
        http = DomainHttp("telephony", session, metrics, clock, retry)
        tokens = TokenManager(
            http,
            token_url=f"{simulator.base_url}/oauth/token",
            client_id=TELEPHONY_CLIENT[0],
            client_secret=SecretStr(TELEPHONY_CLIENT[1]),
            client_secret_file=None,
        )
        api = ApiClient(http, base_url=simulator.base_url, tokens=tokens, limiter=limiter)
        yield ConversationJobs(api, clock=clock, poll_seconds=0.5, page_size=25), limiter


async def test_steady_429s_with_retry_after_do_not_collapse_the_rate(
    simulator: RunningSimulator, jobs_and_limiter: tuple[ConversationJobs, DomainLimiter]
) -> None:
    """429 + Retry-After: 2 on every 6th results request: pauses kept, quota back after each."""
    jobs, limiter = jobs_and_limiter
    sim = simulator.sim
    sim.throttle_every(6, retry_after=2, path_contains="/results")
    window = Window(datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC))
    seen: list[str] = []
    rates: set[float] = set()
    async with aclosing(jobs.fetch(window)) as pages:
        async for page in pages:
            seen.extend(conversation["conversationId"] for conversation in page)
            rates.add(limiter.effective_per_minute)

    # After every pause the platform accepted again, and the rate in force was the quota.
    assert rates == {_QUOTA}
    truth = [c["conversationId"] for c in sim.conversations(window.start, window.end)]
    assert sorted(seen) == sorted(truth)
    api = [r for r in sim.requests if r.path.startswith("/api/")]
    throttled = [r for r in api if r.status == 429]
    assert len(throttled) >= 5
    assert sim.retry_after_violations(TELEPHONY_CLIENT[0]) == []
    # The pauses alone allow 6 results requests per ~2 s (~180/min); the limiter must not hold
    # the domain down on top of them (a collapsed limiter sends ~24/min).
    elapsed_min = (max(r.time for r in api) - min(r.time for r in api)) / 60.0
    assert len(api) / elapsed_min >= 0.5 * _QUOTA


async def test_requests_inside_a_retry_after_are_counted(
    simulator: RunningSimulator, clock: _VirtualClock
) -> None:
    """The check above can fail: a client that ignores Retry-After is caught, one that waits not."""
    sim = simulator.sim
    sim.throttle_every(2, retry_after=2, path_contains="/results")
    results = f"{simulator.base_url}/api/v2/analytics/conversations/details/jobs/none/results"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{simulator.base_url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": TELEPHONY_CLIENT[0],
                "client_secret": TELEPHONY_CLIENT[1],
            },
        ) as granted:
            token = (await granted.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        async def get() -> int:
            async with session.get(results, headers=headers) as response:
                return response.status

        assert [await get(), await get(), await get()] == [404, 429, 404]  # the third too soon
        clock.t += 2.0
        assert [await get(), await get()] == [429, 404]  # wait, then one too soon again
        clock.t += 2.0
        assert await get() == 429  # waited: in time, though refused again
    early = sim.retry_after_violations(TELEPHONY_CLIENT[0])
    assert [record.status for record in early] == [404, 404]
    assert sim.retry_after_violations("other-client") == []
