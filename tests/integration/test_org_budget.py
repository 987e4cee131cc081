"""The simulator's burst scenario: an org-wide budget throttles every token together."""

from __future__ import annotations

import aiohttp
import pytest

from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """Two clients, generous per-token limits, but only 5 requests a minute for the org."""
    return SimulatorConfig(
        clients={"telephony-client": "telephony-secret", "other-client": "other-secret"},
        rate_limit_per_minute=300,
        org_rate_limit_per_minute=5,
        conversations_per_hour=720.0,
    )


async def _token(session: aiohttp.ClientSession, base: str, client: str, secret: str) -> str:
    async with session.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": aiohttp.encode_basic_auth(client, secret)},
    ) as response:
        body = await response.json()
        token: str = body["access_token"]
        return token


async def test_org_budget_is_shared_by_all_tokens(simulator: RunningSimulator) -> None:
    """Three requests from each of two clients: the sixth is refused with 429 + Retry-After."""
    base = simulator.base_url
    url = f"{base}/api/v2/analytics/conversations/details/jobs/availability"
    async with aiohttp.ClientSession() as session:
        tokens = [
            await _token(session, base, "telephony-client", "telephony-secret"),
            await _token(session, base, "other-client", "other-secret"),
        ]
        statuses = []
        retry_after = None
        for index in range(6):
            headers = {"Authorization": f"Bearer {tokens[index % 2]}"}
            async with session.get(url, headers=headers) as response:
                statuses.append(response.status)
                retry_after = response.headers.get("Retry-After", retry_after)
    assert statuses == [200] * 5 + [429]
    assert retry_after is not None
    assert int(retry_after) >= 1
