"""CXone auth over real sockets: access-key grant, tenant discovery, 401 recovery, rotation.

The simulator serves the Reporting API only on the host its discovery names, answers 401 once a
token is expired or revoked, and refuses a wrong key; the client must go through the shared
token lifecycle for each. Nothing secret may reach a log line.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from producer.api.client import open_session
from producer.clock import SystemClock
from producer.errors import AuthError, PermanentSourceError
from producer.platforms.nice.auth import NiceClients
from producer.platforms.nice.contacts import COMPLETED, CompletedContacts
from producer.platforms.nice.options import NiceOptions
from producer.platforms.nice.simulator import RunningNiceSimulator, serve
from producer.windows import Window
from tests.nice.conftest import KEY, SECRET, Connect, connector, sim_config

WINDOW = Window(datetime(2025, 3, 10, 1, tzinfo=UTC), datetime(2025, 3, 10, 2, tzinfo=UTC))
DEFAULTS = NiceOptions()


def _contacts(clients: NiceClients, options: NiceOptions = DEFAULTS) -> CompletedContacts:
    return CompletedContacts(clients.reporting, clock=SystemClock(), options=options)


async def _count(extractor: CompletedContacts) -> int:
    return sum([len(page) async for page in extractor.fetch(WINDOW)])


async def test_discovery_names_the_api_host_and_reporting_goes_only_there(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    async with connect() as clients:
        assert clients.api_endpoint == nice_sim.api_url != nice_sim.auth_url
        assert clients.grant.tenant_id == nice_sim.sim.config.tenant_id
        assert await _count(_contacts(clients)) > 0
        # The API is not on the auth host: a client that assumed it would fail.
        with pytest.raises(PermanentSourceError, match="404"):
            await clients.area.call("GET", "/inContactAPI/services/v30.0" + COMPLETED)
    reporting = [r for r in nice_sim.sim.requests if "contacts/completed" in r.path]
    assert reporting
    assert {r.host for r in reporting if r.status == 200} == {"api"}
    discovery = [r for r in nice_sim.sim.requests if r.path.startswith("/.well-known")]
    assert [r.query for r in discovery] == [f"tenantId={nice_sim.sim.config.tenant_id}"]


async def test_base_path_is_matched_case_insensitively_and_versions_are_checked(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    async with connect() as clients:
        token = await clients.tokens.token()
        async with open_session() as session:
            url = f"{nice_sim.api_url}/incontactapi/services/V30.0{COMPLETED}"
            params = {"startDate": "2025-03-10T01:00:00Z", "endDate": "2025-03-10T02:00:00Z"}
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            async with session.get(url, params=params, headers=headers) as response:
                assert response.status == 200
            async with session.get(
                url.replace("V30.0", "v99.0"), params=params, headers=headers
            ) as response:
                assert response.status == 404
            async with session.get(url, params=params, headers={"Accept": "application/json"}):
                pass
    assert any(r.status == 401 for r in nice_sim.sim.requests if r.token is None)


async def test_a_wrong_access_key_is_refused_as_invalid_client(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    with pytest.raises(AuthError) as caught:
        async with connect(secret="not-the-secret-000"):
            pass
    assert caught.value.reason == "invalid_client"
    assert "not-the-secret" not in str(caught.value)


async def test_a_revoked_token_mid_paging_gets_a_new_one_and_the_same_request_is_retried(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    sim = nice_sim.sim
    async with connect() as clients:
        extractor = _contacts(clients, NiceOptions(page_size=10))
        pages = extractor.fetch(WINDOW)
        first = await anext(pages)
        sim.revoke_tokens()
        rest = [len(page) async for page in pages]
    assert first
    assert sum(rest) > 0
    assert sim.tokens_issued == 2
    refused = [r for r in sim.requests if r.status == 401]
    assert len(refused) == 1
    retried = [r for r in sim.requests if r.path == refused[0].path and r.query == refused[0].query]
    assert [r.status for r in retried] == [401, 200]
    assert retried[0].token != retried[1].token


async def test_an_expired_token_is_answered_401_and_replaced() -> None:
    skew = [0.0]
    config = sim_config(token_lifetime_seconds=3600, monotonic=lambda: time.monotonic() + skew[0])
    async with serve(config) as running, connector(running)() as clients:
        extractor = _contacts(clients)
        assert await _count(extractor) > 0
        skew[0] = 3601.0  # the platform's clock says the token has expired; ours does not
        assert await _count(extractor) > 0
    statuses = [r.status for r in running.sim.requests if "contacts/completed" in r.path]
    assert 401 in statuses
    assert statuses[-1] in (200, 204)
    assert running.sim.tokens_issued == 2


async def test_a_rotated_secret_file_is_read_again(tmp_path: Path) -> None:
    secret_file = tmp_path / "access-key-secret"
    secret_file.write_text(SECRET + "\n")
    async with (
        serve(sim_config()) as running,
        connector(running)(secret=None, secret_file=secret_file) as clients,
    ):
        running.sim.config.access_keys[KEY] = "rotated-secret-55555"
        secret_file.write_text("rotated-secret-55555\n")
        running.sim.revoke_tokens()
        extractor = _contacts(clients)
        assert await _count(extractor) > 0
    assert running.sim.tokens_issued == 2


async def test_no_secret_token_or_id_token_reaches_a_log(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    with capture_logs() as logs:
        async with connect() as clients:
            nice_sim.sim.revoke_tokens()
            await _count(_contacts(clients))
            held = clients.tokens.credentials()
    text = repr(logs)
    assert logs  # the flow logged (token refreshes, discovery, fetch)
    for value in (SECRET, *held):
        assert value not in text
    assert "eyJ" not in text  # no JWT (id_token)
    assert SECRET not in repr(clients.grant)
    assert SECRET not in repr(clients.tokens)


async def test_the_token_endpoint_takes_json_not_a_form(nice_sim: RunningNiceSimulator) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{nice_sim.auth_url}/authentication/v1/token/access-key",
            data={"accessKeyId": KEY, "accessKeySecret": SECRET},
        ) as response,
    ):
        assert response.status == 400


async def test_a_two_second_token_is_renewed_ahead_of_expiry_without_a_401() -> None:
    async with (
        serve(sim_config(token_lifetime_seconds=2)) as running,
        connector(running)() as clients,
    ):
        refresher = asyncio.create_task(clients.tokens.run_refresher())
        try:
            for _ in range(4):
                await asyncio.sleep(0.8)
                await _count(_contacts(clients))
        finally:
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)
    assert running.sim.tokens_issued >= 2  # renewed at least once by the refresher
    assert [r for r in running.sim.requests if r.status == 401] == []
