"""The token lifecycle against the Genesys Cloud simulator over real sockets.

Most tests share a virtual clock between ``TokenManager`` and the simulator (its
``SimulatorConfig.monotonic``/``now`` seam): token expiry, refresh schedules and backoff then run
in virtual seconds while every grant and API call is a real HTTP request. One test runs in real
time with a 2 s token lifetime. Faults (revocation, rotation, endpoint down) come from the
simulator's switches, never from patching our code.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr
from structlog.testing import capture_logs

from producer.api.client import ApiClient
from producer.api.http import DomainHttp
from producer.api.retry import RetryPolicy
from producer.auth import TokenManager
from producer.clock import SystemClock
from producer.errors import AuthError
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig, serve
from producer.ratelimit import DomainLimiter
from producer.telemetry.metrics import Metrics

CLIENT, SECRET = "telephony-client", "telephony-secret"
OTHER_CLIENT, OTHER_SECRET = "other-client", "other-secret"
ME = "/api/v2/tokens/me"
JOBS = "/api/v2/analytics/conversations/details/jobs"
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


class VirtualClock:
    """Time moves only by ``advance``; ``sleep`` waits until virtual time reaches its deadline."""

    def __init__(self) -> None:
        self.t = 1_000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return NOW + timedelta(seconds=self.t - 1_000.0)

    @property
    def sleeping(self) -> int:
        """Sleepers still waiting (a woken one may not have run yet)."""
        return sum(1 for _, future in self._sleepers if not future.done())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        entry = (self.t + seconds, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        self.t += seconds
        for deadline, future in self._sleepers:
            if deadline <= self.t and not future.done():
                future.set_result(None)

    def advance_to_next(self) -> None:
        """Jump to the earliest sleeper's deadline (the only actor is asleep)."""
        waiting = [deadline for deadline, future in self._sleepers if not future.done()]
        self.advance(max(0.0, min(waiting) - self.t))


def sim_config(clock: VirtualClock | None = None, lifetime: int = 86_399) -> SimulatorConfig:
    extra: dict[str, Any] = {}
    if clock is not None:
        extra = {"monotonic": clock.monotonic, "now": clock.now}
    return SimulatorConfig(
        clients={CLIENT: SECRET, OTHER_CLIENT: OTHER_SECRET},
        token_lifetime_seconds=lifetime,
        rate_limit_per_minute=0,
        job_queued_seconds=0.02,
        job_pending_seconds=0.05,
        availability_lag_seconds=900.0,
        **extra,
    )


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def manager_for(
    running: RunningSimulator,
    session: aiohttp.ClientSession,
    clock: Any,
    families: Metrics,
    *,
    client: tuple[str, str] = (CLIENT, SECRET),
    secret_file: Path | None = None,
    domain: str = "telephony",
    seed: int = 11,
) -> TokenManager:
    return TokenManager(
        DomainHttp(domain, session, families.for_domain(domain), clock, RetryPolicy()),
        token_url=running.base_url + "/oauth/token",
        client_id=client[0],
        client_secret=None if secret_file else SecretStr(client[1]),
        client_secret_file=secret_file,
        rng=random.Random(seed),
    )


@contextlib.asynccontextmanager
async def refreshing(*managers: TokenManager) -> AsyncIterator[None]:
    """Run the refreshers for the duration of the block, then cancel them."""
    tasks = [asyncio.create_task(m.run_refresher()) for m in managers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run (real sockets need real turns) until ``condition()`` holds."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 -- polls state of the code under test
            await asyncio.sleep(0.002)


async def get(
    session: aiohttp.ClientSession, running: RunningSimulator, manager: TokenManager, path: str
) -> tuple[int, Any]:
    """One API call the way ``ApiClient`` makes it: on 401 invalidate that token, retry once."""
    for _ in range(2):
        token = await manager.token()
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(running.base_url + path, headers=headers) as response:
            body = await response.json(content_type=None)
            if response.status != 401:
                return response.status, body
        manager.invalidate(token)
    return 401, body


def token_requests(running: RunningSimulator) -> list[Any]:
    return [r for r in running.sim.requests if r.path == "/oauth/token"]


def api_requests(running: RunningSimulator) -> list[Any]:
    return [r for r in running.sim.requests if r.path.startswith("/api/v2/")]


async def drive(clock: VirtualClock, actors: int, condition: Callable[[], bool]) -> None:
    """Advance virtual time deadline by deadline, each time once all ``actors`` are asleep."""
    for _ in range(500):
        await until(lambda: condition() or clock.sleeping >= actors)
        if condition():
            return
        clock.advance_to_next()
    raise AssertionError("condition never held")


def kubernetes_secret(root: Path, secret: str, version: int) -> Path:
    """Lay out (or atomically rotate) a mounted Secret: ``key -> ..data/key``, swap ``..data``."""
    target = root / f"..2025_03_10_{version:02d}"
    target.mkdir(parents=True)
    (target / "client-secret").write_text(secret + "\n")
    staged = root / "..data_tmp"
    staged.symlink_to(target.name)
    os.replace(staged, root / "..data")
    key = root / "client-secret"
    if not key.is_symlink():
        key.symlink_to("..data/client-secret")
    return key


class TestSharedGrant:
    """Single flight against the real token endpoint."""

    async def test_fifty_concurrent_callers_cause_one_grant(
        self, session: aiohttp.ClientSession, clock: VirtualClock
    ) -> None:
        """Fifty token() calls at once share one client-credentials grant."""
        async with serve(sim_config(clock)) as running:
            manager = manager_for(running, session, clock, Metrics(CollectorRegistry()))
            tokens = await asyncio.gather(*(manager.token() for _ in range(50)))
            status, _ = await get(session, running, manager, ME)
        assert len(set(tokens)) == 1
        assert running.sim.tokens_issued == 1
        assert status == 200


class TestRefreshAhead:
    """Short-lived tokens are renewed before they expire, not per request."""

    async def test_two_second_tokens_in_real_time(self, session: aiohttp.ClientSession) -> None:
        """With 2 s tokens for ~4 s, no call gets a 401 and grants follow the refresh interval."""
        loop = asyncio.get_running_loop()
        async with serve(sim_config(lifetime=2)) as running:
            manager = manager_for(running, session, SystemClock(), Metrics(CollectorRegistry()))
            async with refreshing(manager):
                started = loop.time()
                calls = 0
                while loop.time() - started < 4.0:
                    token = await manager.token()
                    headers = {"Authorization": f"Bearer {token}"}
                    async with session.get(running.base_url + ME, headers=headers) as response:
                        assert response.status == 200
                    calls += 1
                    await asyncio.sleep(0.01)
                elapsed = loop.time() - started
        grants = running.sim.tokens_issued
        assert all(r.status == 200 for r in api_requests(running))
        assert elapsed / 2.0 <= grants <= elapsed / 1.25 + 2  # refresh every 1.25-1.5 s
        assert calls > 5 * grants

    async def test_ten_second_tokens_with_a_revocation_mid_run(
        self, session: aiohttp.ClientSession, clock: VirtualClock
    ) -> None:
        """120 virtual s of 10 s tokens, revoked at 60 s: only in-flight calls retry, once."""
        registry = CollectorRegistry()
        async with serve(sim_config(clock, lifetime=10)) as running:
            manager = manager_for(running, session, clock, Metrics(registry))
            used_before: set[str] = set()
            results: list[tuple[int, Any]] = []
            async with refreshing(manager):
                for step in range(480):  # 3 concurrent calls every 0.25 virtual s
                    if step == 240:
                        used_before = {r.token_fingerprint or "" for r in api_requests(running)}
                        running.sim.revoke_tokens()
                    calls = (get(session, running, manager, ME) for _ in range(3))
                    results += await asyncio.gather(*calls)
                    clock.advance(0.25)
                    await asyncio.sleep(0)
        grants = running.sim.tokens_issued
        rejected = [r for r in api_requests(running) if r.status == 401]
        print(
            f"\n10 s tokens, 120 s, revoked at 60 s: {grants} tokens requested, "
            f"{len(rejected)} of {len(results)} requests retried after a 401"
        )
        assert all(status == 200 for status, _ in results)
        assert 1 <= len(rejected) <= 3
        assert {r.token_fingerprint for r in rejected} <= used_before
        assert 120 / 7.5 + 1 <= grants <= 120 / 6.25 + 3
        after = api_requests(running)[api_requests(running).index(rejected[-1]) + 1 :]
        assert not {r.token_fingerprint for r in after} & used_before
        assert sample(registry, "mesh_auth_failures_total", reason="bad_credentials") == 1


class TestRevocation:
    """401 recovery on the real request path: the same page is fetched again."""

    async def test_revoked_mid_export_retries_the_same_cursor(
        self, session: aiohttp.ClientSession, clock: VirtualClock
    ) -> None:
        """Revoking tokens between pages costs one 401 and one grant; no record is lost."""
        families = Metrics(CollectorRegistry())
        metrics = families.for_domain("telephony")
        async with serve(sim_config(clock)) as running:
            manager = manager_for(running, session, clock, families)
            api = ApiClient(
                DomainHttp("telephony", session, metrics, clock, RetryPolicy(rng=random.Random(3))),
                base_url=running.base_url,
                tokens=manager,
                limiter=DomainLimiter(
                    per_minute=60_000, priority="high", clock=clock, metrics=metrics
                ),
            )
            start = NOW - timedelta(hours=3)
            end = start + timedelta(hours=1)
            interval = f"{start:%Y-%m-%dT%H:%M:%S.000Z}/{end:%Y-%m-%dT%H:%M:%S.000Z}"
            job = (await api.call("POST", JOBS, json={"interval": interval})).body["jobId"]
            clock.advance(1.0)
            assert (await api.call("GET", f"{JOBS}/{job}")).body["state"] == "FULFILLED"
            records: list[dict[str, Any]] = []
            cursor: str | None = None
            for page in itertools.count():
                if page == 2:
                    running.sim.revoke_tokens()
                params = {"pageSize": "25"} | ({"cursor": cursor} if cursor else {})
                body = (await api.call("GET", f"{JOBS}/{job}/results", params=params)).body
                records += body.get("conversations", [])
                cursor = body.get("cursor")
                if not cursor:
                    break
            expected = running.sim.conversations(start, end)
        assert page > 3
        assert [r["conversationId"] for r in records] == [c["conversationId"] for c in expected]
        calls = api_requests(running)
        rejected = [r for r in calls if r.status == 401]
        assert len(rejected) == 1
        retry = calls[calls.index(rejected[0]) + 1]
        assert (retry.path, retry.query, retry.status) == (rejected[0].path, rejected[0].query, 200)
        assert retry.token_fingerprint != rejected[0].token_fingerprint
        assert running.sim.tokens_issued == 2


class TestRotation:
    """A rotated Kubernetes Secret is picked up without restart; other domains are unaffected."""

    async def test_rotated_secret_file_is_picked_up(
        self, session: aiohttp.ClientSession, clock: VirtualClock, tmp_path: Path
    ) -> None:
        """Old secret refused: not ready (other domain still is) until the file rotates."""
        registry = CollectorRegistry()
        key = kubernetes_secret(tmp_path / "secret", SECRET, 1)
        async with serve(sim_config(clock, lifetime=60)) as running:
            manager = manager_for(running, session, clock, Metrics(registry), secret_file=key)
            other = manager_for(
                running,
                session,
                clock,
                Metrics(CollectorRegistry()),
                client=(OTHER_CLIENT, OTHER_SECRET),
                domain="quality",
            )
            with capture_logs() as logs:
                async with refreshing(manager, other):
                    await drive(clock, 2, lambda: manager.ready and other.ready)
                    running.sim.set_secret(CLIENT, "rotated-secret-2")
                    await drive(clock, 2, lambda: manager.last_error == "invalid_client")
                    assert manager.ready  # advisory window: the old token is kept
                    await drive(clock, 2, lambda: not manager.ready)
                    assert other.ready
                    assert manager.last_error == "invalid_client"
                    kubernetes_secret(tmp_path / "secret", "rotated-secret-2", 2)
                    await drive(clock, 2, lambda: manager.ready)
                    assert manager.last_error is None
        reloads = [e for e in logs if e["event"] == "client_secret_reloaded"]
        assert reloads
        assert reloads[0]["trigger"] == "file_changed"
        assert sample(registry, "mesh_auth_failures_total", reason="invalid_client") >= 1
        status = {r.status for r in token_requests(running) if r.client_id == CLIENT}
        assert status == {200, 401}


class TestEndpointDown:
    """The token endpoint failing for a while: not ready, backoff, recovery."""

    async def test_recovers_with_backoff_and_spares_other_domains(
        self, session: aiohttp.ClientSession, clock: VirtualClock
    ) -> None:
        """Four failed grants back off 1, 2, 4, 8 s (jittered); then the domain is ready."""
        registry = CollectorRegistry()
        async with serve(sim_config(clock)) as running:
            other = manager_for(
                running,
                session,
                clock,
                Metrics(CollectorRegistry()),
                client=(OTHER_CLIENT, OTHER_SECRET),
                domain="quality",
            )
            await other.token()
            running.sim.token_endpoint_down(4)
            manager = manager_for(running, session, clock, Metrics(registry))
            async with refreshing(manager, other):
                await drive(clock, 2, lambda: manager.last_error is not None)
                assert not manager.ready
                assert manager.last_error == "token_endpoint_error"
                with pytest.raises(AuthError) as caught:
                    await manager.token()  # fails fast during backoff: no extra request
                assert caught.value.reason == "token_endpoint_error"
                await drive(clock, 2, lambda: manager.ready)
                assert other.ready
        attempts = token_requests(running)[1:]  # after the other domain's grant
        assert [r.status for r in attempts] == [503, 503, 503, 503, 200]
        gaps = [b.time - a.time for a, b in itertools.pairwise(attempts)]
        assert all(2**i / 2 <= gap <= 2**i for i, gap in enumerate(gaps)), gaps
        assert manager.last_error is None
        assert sample(registry, "mesh_token_refreshes_total", outcome="failure") == 4
        assert sample(registry, "mesh_auth_failures_total", reason="token_endpoint_error") == 4


class TestNoLeaks:
    """Secrets and tokens never reach logs, errors, metrics or reprs."""

    async def test_auth_heavy_run_leaks_no_secret_or_token(
        self, session: aiohttp.ClientSession, clock: VirtualClock, tmp_path: Path
    ) -> None:
        """Refreshes, a revocation, a refused and rotated secret, an outage: scan everything."""
        rotated = "rotated-secret-Kx7"
        registry = CollectorRegistry()
        key = kubernetes_secret(tmp_path / "secret", SECRET, 1)
        shown: list[str] = []
        errors: list[AuthError] = []
        async with serve(sim_config(clock, lifetime=10)) as running:
            manager = manager_for(running, session, clock, Metrics(registry), secret_file=key)
            with capture_logs() as logs:
                async with refreshing(manager):
                    for step in range(320):
                        if step == 40:
                            running.sim.revoke_tokens()
                        if step == 80:
                            running.sim.set_secret(CLIENT, rotated)
                        if step == 160:
                            kubernetes_secret(tmp_path / "secret", rotated, 2)
                        if step == 200:
                            running.sim.token_endpoint_down(3)
                        calls = (get(session, running, manager, ME) for _ in range(2))
                        for outcome in await asyncio.gather(*calls, return_exceptions=True):
                            if isinstance(outcome, AuthError):
                                errors.append(outcome)
                            elif isinstance(outcome, BaseException):
                                raise outcome
                        shown.append(repr(manager))
                        clock.advance(0.25)
                        await asyncio.sleep(0)
            issued = set(running.sim._tokens)  # test-only look at the simulator's token table
        assert errors  # the refused secret and the outage did surface as AuthError
        assert {e.reason for e in errors} <= {"invalid_client", "token_endpoint_error"}
        assert any(e["event"] == "token_invalidated" for e in logs)
        assert any(e["event"] == "client_secret_reloaded" for e in logs)
        shown += [str(event) for event in logs]
        shown += [f"{e!s} {e!r}" for e in errors]
        shown += [str(_locals_of_our_frames(e)) for e in errors]
        shown.append(generate_latest(registry).decode())
        text = "\n".join(shown)
        assert len(issued) >= 6
        for value in [SECRET, rotated, *issued]:
            assert value not in text


def _locals_of_our_frames(error: BaseException) -> list[Any]:
    """The traceback of ``error`` from the first ``producer`` frame on, rendered with locals."""
    tb = error.__traceback__
    while tb is not None and f"{os.sep}producer{os.sep}" not in tb.tb_frame.f_code.co_filename:
        tb = tb.tb_next
    trace = structlog.tracebacks.extract(type(error), error, tb, show_locals=True)
    return [frame for stack in trace.stacks for frame in stack.frames]


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"domain": "telephony", **labels}) or 0.0
