"""Unit tests of the token lifecycle: timing rules (pure) and ``TokenManager`` on a fake clock.

The token endpoint is a real aiohttp server on 127.0.0.1 (port 0) scripted per test; time is an
auto-advancing fake clock (``sleep`` moves virtual time at once), so refresh schedules, backoff
and the advisory/mandatory windows are checked in virtual seconds without waiting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from structlog.testing import capture_logs

from producer.api.http import DomainHttp
from producer.api.retry import RetryPolicy
from producer.auth import (
    TokenManager,
    backoff_seconds,
    effective_margin_seconds,
    refresh_after_seconds,
    usable_margin_seconds,
)
from producer.auth.grant import SecretSource
from producer.errors import AuthError, ConfigError
from producer.telemetry.metrics import Metrics

CLIENT = "unit-client"
SECRET = "unit-secret-Zq93"


class FakeClock:
    """Virtual time: ``sleep`` advances it at once (then yields), ``now`` follows it."""

    def __init__(self) -> None:
        self.t = 0.0
        self.base = datetime(2024, 5, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.base + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


@dataclass
class Reply:
    """One scripted token-endpoint answer (``body`` None: a fresh token of ``lifetime``)."""

    status: int = 200
    body: dict[str, Any] | None = None
    lifetime: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


class TokenServer:
    """A scripted OAuth token endpoint that checks HTTP Basic and records virtual times."""

    def __init__(self, clock: FakeClock, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.secrets = {SECRET}
        self.script: list[Reply] = []
        self.failing: Reply | None = None  # answer every request like this while set
        self.requests: list[float] = []
        self.grants: list[tuple[float, str]] = []
        self.on_request: Callable[[], None] | None = None
        self._seen = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(self.clock.monotonic())
        self._seen.set()
        if self.on_request is not None:
            self.on_request()
        form = await request.post()
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        client, _, secret = base64.b64decode(encoded).decode().partition(":")
        reply = self.script.pop(0) if self.script else (self.failing or Reply())
        if reply.status == 200 and reply.body is None:
            if scheme != "Basic" or client != CLIENT or secret not in self.secrets:
                refused = {"error": "invalid_client", "error_description": "authentication failed"}
                return web.json_response(refused, status=401)
            assert form.get("grant_type") == "client_credentials"
            token = f"tok-{len(self.grants)}-{os.urandom(6).hex()}"
            self.grants.append((self.clock.monotonic(), token))
            lifetime = reply.lifetime or self.lifetime
            body: dict[str, Any] = {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": lifetime,
            }
            return web.json_response(body)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    async def wait_requests(self, n: int) -> None:
        async with asyncio.timeout(10):
            while len(self.requests) < n:
                self._seen.clear()
                await self._seen.wait()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[TokenServer]:
    token_server = TokenServer(clock)
    app = web.Application()
    app.router.add_post("/oauth/token", token_server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    token_server.url = f"http://{host}:{port}/oauth/token"
    try:
        yield token_server
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


Factory = Callable[..., TokenManager]


@pytest.fixture
def make(
    server: TokenServer,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    registry: CollectorRegistry,
) -> Factory:
    def build(**overrides: Any) -> TokenManager:
        metrics = Metrics(registry).for_domain("telephony")
        kwargs: dict[str, Any] = {
            "token_url": server.url,
            "client_id": CLIENT,
            "client_secret": SecretStr(SECRET),
            "client_secret_file": None,
            "rng": random.Random(7),
        } | overrides
        return TokenManager(
            DomainHttp("telephony", session, metrics, clock, RetryPolicy()), **kwargs
        )

    return build


@contextlib.asynccontextmanager
async def refreshing(manager: TokenManager) -> AsyncIterator[asyncio.Task[None]]:
    """Run the refresher for the duration of the block, then cancel it."""
    task = asyncio.create_task(manager.run_refresher())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run (real sockets need real turns) until ``condition()`` holds."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 -- polls state of the code under test
            await asyncio.sleep(0.002)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"domain": "telephony", **labels}) or 0.0


class TestSchedule:
    """The pure timing rules."""

    def test_margin_is_capped_for_short_lifetimes(self) -> None:
        """A margin longer than the lifetime becomes a quarter of it, not a refresh per call."""
        assert effective_margin_seconds(86_399, 300) == 300
        assert effective_margin_seconds(10, 300) == 2.5
        assert effective_margin_seconds(300, 300) == 75
        assert effective_margin_seconds(3600, 0) == 0
        rng = random.Random(1)
        for _ in range(200):
            assert 6.25 <= refresh_after_seconds(10, 300, rng) <= 7.5

    def test_refresh_keeps_the_configured_margin(self) -> None:
        """Long tokens renew between margin and margin + 60 s before expiry, never later."""
        rng = random.Random(2)
        delays = [refresh_after_seconds(86_399, 300, rng) for _ in range(500)]
        assert all(86_399 - 360 <= d <= 86_399 - 300 for d in delays)

    def test_jitter_spreads_refresh_times(self) -> None:
        """Domains minted in the same second do not refresh in the same second."""
        delays = [refresh_after_seconds(86_399, 300, random.Random(seed)) for seed in range(3)]
        assert min(abs(a - b) for a in delays for b in delays if a is not b) > 1.0
        spread = [refresh_after_seconds(86_399, 300, random.Random(seed)) for seed in range(50)]
        assert max(spread) - min(spread) > 30

    def test_usable_margin_is_the_smaller_of_timeout_and_half_margin(self) -> None:
        """A token is not handed out when it could expire during one request."""
        assert usable_margin_seconds(86_399, 300, 30) == 30
        assert usable_margin_seconds(10, 300, 30) == 1.25

    def test_backoff_grows_and_is_capped(self) -> None:
        """Failed grants back off exponentially, with jitter, never beyond 60 s."""
        rng = random.Random(3)
        for failures in range(1, 40):
            ceiling = min(60.0, 2.0 ** (failures - 1))
            delay = backoff_seconds(failures, rng)
            assert ceiling / 2 <= delay <= ceiling
        assert backoff_seconds(10_000, rng) <= 60


class TestSingleFlight:
    """On-demand grants and their failures are shared."""

    async def test_concurrent_callers_share_one_grant(
        self, make: Factory, server: TokenServer
    ) -> None:
        """Fifty concurrent token() calls cause exactly one token request."""
        manager = make()
        tokens = await asyncio.gather(*(manager.token() for _ in range(50)))
        assert len(set(tokens)) == 1
        assert len(server.requests) == 1
        assert manager.ready

    async def test_a_failed_grant_is_shared_and_not_retried_in_a_loop(
        self, make: Factory, server: TokenServer, clock: FakeClock, registry: CollectorRegistry
    ) -> None:
        """Callers queued behind a failed grant get its error; during backoff none re-request."""
        manager = make()
        server.script = [Reply(status=503, body={"message": "down"})]
        results = await asyncio.gather(
            *(manager.token() for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, AuthError) and r.reason == "token_endpoint_error" for r in results)
        assert len(server.requests) == 1
        with pytest.raises(AuthError):
            await manager.token()
        assert len(server.requests) == 1
        assert manager.last_error == "token_endpoint_error"
        assert not manager.ready
        clock.t += 2.0  # past the first backoff (at most 1 s)
        assert await manager.token()
        assert manager.last_error is None
        assert sample(registry, "mesh_token_refreshes_total", outcome="failure") == 1
        assert sample(registry, "mesh_auth_failures_total", reason="token_endpoint_error") == 1


class TestRefresher:
    """The background task: refresh ahead, back off, advisory and mandatory windows."""

    async def test_short_tokens_refresh_at_a_capped_margin(
        self, make: Factory, server: TokenServer, clock: FakeClock, registry: CollectorRegistry
    ) -> None:
        """A 4 s token with a 300 s margin is renewed every 2.5-3 s, never per request."""
        server.lifetime = 4.0
        manager = make(margin_seconds=300.0)
        async with refreshing(manager):
            await server.wait_requests(6)
        times = [t for t, _ in server.grants[:6]]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(2.5 <= gap <= 3.0 for gap in gaps), gaps
        assert sample(registry, "mesh_token_refreshes_total", outcome="success") >= 5
        expiry = sample(registry, "mesh_token_expiry_timestamp_seconds")
        assert expiry > clock.base.timestamp()

    async def test_refresh_times_of_three_domains_spread(
        self, server: TokenServer, session: aiohttp.ClientSession, registry: CollectorRegistry
    ) -> None:
        """Three domains minted at the same moment renew at different times (jitter)."""
        second_grants = []
        for seed, domain in enumerate(("telephony", "quality", "wfm")):
            clock = FakeClock()
            server.clock = clock
            server.requests.clear()
            server.grants.clear()
            families = Metrics(registry if seed == 0 else CollectorRegistry())
            manager = TokenManager(
                DomainHttp(domain, session, families.for_domain(domain), clock, RetryPolicy()),
                token_url=server.url,
                client_id=CLIENT,
                client_secret=SecretStr(SECRET),
                client_secret_file=None,
                rng=random.Random(seed),
            )
            async with refreshing(manager):
                await server.wait_requests(2)
            second_grants.append(server.grants[1][0])
        assert all(3600 - 360 <= t <= 3600 - 300 for t in second_grants)
        ordered = sorted(second_grants)
        assert min(b - a for a, b in itertools.pairwise(ordered)) > 1.0

    async def test_failures_back_off_capped(
        self, make: Factory, server: TokenServer, registry: CollectorRegistry
    ) -> None:
        """With the endpoint down, attempts space out exponentially up to 60 s, not a loop."""
        server.failing = Reply(status=503, body={"message": "unavailable"})
        manager = make()
        async with refreshing(manager):
            await server.wait_requests(12)
            assert not manager.ready
            assert manager.last_error == "token_endpoint_error"
        gaps = [b - a for a, b in itertools.pairwise(server.requests)][:11]
        assert all(g <= 60.0 for g in gaps)
        assert gaps[-1] >= 30.0
        assert gaps[0] < gaps[5]
        assert sample(registry, "mesh_token_refreshes_total", outcome="failure") >= 11
        assert sample(registry, "mesh_token_expiry_timestamp_seconds") == 0

    async def test_retry_after_from_the_token_endpoint_is_honoured(
        self, make: Factory, server: TokenServer
    ) -> None:
        """A throttled grant (429 + Retry-After) waits at least that long, within the cap."""
        server.script = [Reply(status=429, body={"message": "slow"}, headers={"Retry-After": "20"})]
        manager = make()
        async with refreshing(manager):
            await server.wait_requests(2)
        assert server.requests[1] - server.requests[0] >= 20

    async def test_advisory_window_keeps_the_token_then_mandatory_drops_it(
        self, make: Factory, server: TokenServer, clock: FakeClock, registry: CollectorRegistry
    ) -> None:
        """A failing refresh keeps a usable token; once in the mandatory window it is dropped."""
        server.lifetime = 100.0  # margin 25 s, refresh at 62.5-75 s, usable until 87.5 s
        manager = make()
        seen: list[tuple[float, bool, bool]] = []
        server.on_request = lambda: seen.append(
            (clock.monotonic(), manager.ready, server.failing is not None)
        )
        async with refreshing(manager):
            await server.wait_requests(1)
            server.failing = Reply(status=502, body={"message": "bad gateway"})
            await server.wait_requests(7)
            server.failing = None
            await until(lambda: manager.ready)
        failed = [(t, ready) for t, ready, failing in seen if failing]
        assert len(failed) >= 6
        assert all(ready for t, ready in failed if t < 87.5)
        assert any(t < 87.5 for t, _ in failed)
        assert not any(ready for t, ready in failed if t >= 87.5)
        assert any(t >= 87.5 for t, _ in failed)
        assert manager.ready
        assert manager.last_error is None

    async def test_invalidation_wakes_the_refresher(
        self, make: Factory, server: TokenServer
    ) -> None:
        """After a 401 the refresher obtains a new token even if no request asks for one."""
        manager = make()
        async with refreshing(manager):
            await server.wait_requests(1)
            first = await manager.token()
            manager.invalidate(first)
            assert not manager.ready
            await server.wait_requests(2)
            assert await manager.token() != first
        assert len(server.grants) == 2


class TestInvalidate:
    """401 recovery: exactly the rejected token is dropped, and repeats back off."""

    async def test_only_the_current_token_is_dropped(
        self, make: Factory, server: TokenServer, registry: CollectorRegistry
    ) -> None:
        """Invalidating a stale or unknown token never drops a newer one."""
        manager = make()
        first = await manager.token()
        manager.invalidate("not-a-token-we-hold")
        assert await manager.token() == first
        manager.invalidate(first)
        assert manager.last_error == "bad_credentials"
        second = await manager.token()
        assert second != first
        manager.invalidate(first)
        assert await manager.token() == second
        assert len(server.grants) == 2
        assert sample(registry, "mesh_auth_failures_total", reason="bad_credentials") == 1

    async def test_repeated_401s_on_fresh_tokens_back_off(
        self, make: Factory, server: TokenServer, clock: FakeClock
    ) -> None:
        """Fresh tokens rejected again and again are re-minted with growing waits, not at once."""
        manager = make()
        token = await manager.token()
        for _ in range(6):
            manager.invalidate(token)
            token = await manager.token()
        times = [t for t, _ in server.grants]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[0] == 0  # the first 401 is recovered at once
        assert all(g > 0 for g in gaps[1:])
        assert gaps[-1] > gaps[1]
        clock.t += 60.0  # a token that lived a while is not "fresh": the streak restarts
        manager.invalidate(token)
        before = clock.t
        await manager.token()
        assert clock.t == before


class TestGrant:
    """The token request: secret sources, rotation, error mapping, no leaks."""

    async def test_secret_file_is_stripped_and_rotations_picked_up(
        self, make: Factory, server: TokenServer, tmp_path: Path
    ) -> None:
        """The file's trailing newline is ignored; a changed file is re-read before a grant."""
        path = tmp_path / "client-secret"
        path.write_text(SECRET + "\n")
        manager = make(client_secret=None, client_secret_file=path)
        first = await manager.token()
        server.secrets = {"rotated-secret-longer"}
        path.write_text("rotated-secret-longer\n")
        with capture_logs() as logs:
            manager.invalidate(first)
            assert await manager.token() != first
        assert len(server.requests) == 2
        assert {"event": "client_secret_reloaded", "trigger": "file_changed"}.items() <= next(
            e for e in logs if e["event"] == "client_secret_reloaded"
        ).items()

    async def test_invalid_client_rereads_an_unchanged_looking_file(
        self, make: Factory, server: TokenServer, tmp_path: Path
    ) -> None:
        """Same size and mtime, new content: invalid_client triggers a re-read and one retry."""
        path = tmp_path / "client-secret"
        path.write_text(SECRET)
        manager = make(client_secret=None, client_secret_file=path)
        first = await manager.token()
        stat = path.stat()
        new_secret = "unit-secret-Yx12"
        assert len(new_secret) == len(SECRET)
        path.write_text(new_secret)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        server.secrets = {new_secret}
        manager.invalidate(first)
        with capture_logs() as logs:
            assert await manager.token()
        assert len(server.requests) == 3  # first grant, refused old secret, retried new one
        assert any(e.get("trigger") == "invalid_client" for e in logs)

    async def test_invalid_client_with_the_same_secret_fails_once(
        self, make: Factory, server: TokenServer, tmp_path: Path, registry: CollectorRegistry
    ) -> None:
        """A refused secret that did not change raises AuthError(invalid_client), no loop."""
        path = tmp_path / "client-secret"
        path.write_text(SECRET)
        server.secrets = {"something-else"}
        manager = make(client_secret=None, client_secret_file=path)
        with capture_logs() as logs, pytest.raises(AuthError) as caught:
            await manager.token()
        assert caught.value.reason == "invalid_client"
        assert len(server.requests) == 1
        assert manager.last_error == "invalid_client"
        assert any(e["event"] == "token_refresh_failed" and e["log_level"] == "error" for e in logs)
        assert sample(registry, "mesh_auth_failures_total", reason="invalid_client") == 1

    @pytest.mark.parametrize(
        ("reply", "reason"),
        [
            (Reply(400, {"error": "unauthorized_client"}), "unauthorized_client"),
            (Reply(400, {"error": "invalid_client"}), "invalid_client"),
            (Reply(400, {"error": "unsupported_grant_type"}), "token_endpoint_error"),
            (Reply(200, {"token_type": "bearer", "expires_in": 60}), "token_endpoint_error"),
            (Reply(200, {"access_token": "x", "expires_in": "soon"}), "token_endpoint_error"),
            (
                Reply(200, {"access_token": "x", "expires_in": 9, "token_type": "mac"}),
                "token_endpoint_error",
            ),
        ],
    )
    async def test_refusals_map_to_reasons(
        self, make: Factory, server: TokenServer, reply: Reply, reason: str
    ) -> None:
        """Each token-endpoint answer becomes one low-cardinality AuthError reason."""
        server.script = [reply]
        with pytest.raises(AuthError) as caught:
            await make().token()
        assert caught.value.reason == reason

    async def test_an_empty_secret_file_is_secret_unavailable(
        self, make: Factory, server: TokenServer, tmp_path: Path
    ) -> None:
        """An empty (mid-rotation) secret file fails the grant without sending a request."""
        path = tmp_path / "client-secret"
        path.write_text("\n")
        with pytest.raises(AuthError) as caught:
            await make(client_secret=None, client_secret_file=path).token()
        assert caught.value.reason == "secret_unavailable"
        assert server.requests == []

    async def test_unreachable_endpoint_is_a_token_endpoint_error(
        self, make: Factory, server: TokenServer
    ) -> None:
        """A refused connection is reported as token_endpoint_error, not a crash."""
        manager = make(token_url="http://127.0.0.1:9/oauth/token")
        with pytest.raises(AuthError) as caught:
            await manager.token()
        assert caught.value.reason == "token_endpoint_error"

    async def test_nothing_secret_in_reprs_or_messages(
        self, make: Factory, server: TokenServer
    ) -> None:
        """repr/str of the manager, its token holder and secret source show no secret or token."""
        manager = make()
        token = await manager.token()
        shown = [repr(manager), str(manager), repr(manager._token), repr(manager._endpoint)]
        shown.append(repr(SecretSource(SecretStr(SECRET), None)))
        server.script = [Reply(401, {"error": "invalid_client"})]
        manager.invalidate(token)
        with pytest.raises(AuthError) as caught:
            await manager.token()
        shown += [str(caught.value), repr(caught.value)]
        assert all(SECRET not in text and token not in text for text in shown)

    def test_a_secret_is_required(self, make: Factory) -> None:
        """Neither a secret nor a secret file is a configuration error."""
        with pytest.raises(ConfigError):
            make(client_secret=None, client_secret_file=None)
