"""A gateway that echoes the request's credentials: none of them reaches a log, error or metric.

The gateway (``tests/fixtures/gateway.py``) answers every API call 500, 429 and 400 in turn with
error bodies that quote the ``Authorization`` header, the bare token and the client secret. The
producer logs ``api_retry`` for the 500 and the 429, ``window_failed`` for the 400 (three times)
and ``domain_failed``; every one of them, the exception messages, tracebacks rendered with their
locals, the run's report and ``/metrics`` are scanned for the secret and every token issued. The
scrubbed text itself must still be there (``[redacted]``): the test sees the echo arrive.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import traceback
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr
from structlog.testing import capture_logs

from producer import daemon
from producer.api.client import ApiClient
from producer.api.http import DomainHttp
from producer.api.retry import RetryPolicy
from producer.auth import TokenManager
from producer.auth.grant import SecretSource, TokenEndpoint
from producer.clock import SystemClock
from producer.errors import SourceError
from producer.platforms.genesys.jobs import ConversationJobs
from producer.platforms.nice.auth import AccessKeyGrant
from producer.ratelimit import DomainLimiter
from producer.telemetry.metrics import Metrics
from producer.windows import align_down
from tests.fixtures.gateway import EchoGateway, serve_echo_gateway
from tests.fixtures.process import process_env, run_once_process
from tests.fixtures.runs import telephony_domain, telephony_settings

CLIENT, SECRET = "telephony-client", "s3cr3t-Value-9f2c7e"
_START = align_down(datetime.now(UTC), 900) - timedelta(hours=1)
_REDACTED = "[redacted]"


def _assert_clean(text: str, gateway: EchoGateway) -> None:
    assert gateway.issued, "no token was issued: the scenario did not run"
    for value in (SECRET, *gateway.issued):
        assert value not in text
    assert _REDACTED in text, "the echo never reached the text scanned: nothing was tested"


@pytest.mark.e2e
async def test_run_once_logs_no_echoed_credential(tmp_path: Path) -> None:
    """``run --once`` as a process: its whole output is free of the token and the secret."""
    async with serve_echo_gateway(CLIENT, SECRET) as gateway:
        env = process_env(
            api_url=gateway.base_url,
            lake_url=(tmp_path / "lake").as_uri(),
            start=_START,
            MESH_DOMAINS="telephony",
            MESH_TELEPHONY__CLIENT_ID=CLIENT,
            MESH_TELEPHONY__CLIENT_SECRET=SECRET,
            MESH_REQUEST_RETRY_SECONDS="5",
        )
        code, output = await run_once_process(env, timeout_s=60)
    assert code == 1, output
    assert {429, 500, 400} <= set(gateway.answered)
    for event in ("api_retry", "window_failed", "domain_failed"):
        assert f'"event": "{event}"' in output, output
    assert "domain telephony failed" in output
    _assert_clean(output, gateway)


async def test_logs_report_and_metrics_hold_no_echoed_credential(tmp_path: Path) -> None:
    """In process: every captured log event, the run's report and ``/metrics``."""
    registry = CollectorRegistry()
    async with serve_echo_gateway(CLIENT, SECRET) as gateway:
        settings = telephony_settings(
            gateway.base_url,
            (tmp_path / "lake").as_uri(),
            telephony=telephony_domain(client_id=CLIENT, client_secret=SecretStr(SECRET)),
            start_at=_START,
            request_retry_seconds=5,
        )
        with capture_logs() as logs:
            result = await daemon.run(
                settings, once=True, registry=registry, install_signal_handlers=False
            )
    assert not result.ok
    events = {entry["event"] for entry in logs}
    assert {"api_retry", "window_failed", "domain_failed"} <= events, events
    shown = [str(entry) for entry in logs]
    shown += [str(report) for report in result.reports.values()]
    shown.append(generate_latest(registry).decode())
    _assert_clean("\n".join(shown), gateway)


@pytest.mark.parametrize("statuses", [(429, 500, 400), (500,), (429,)])
async def test_raised_errors_and_their_tracebacks_hold_no_echoed_credential(
    statuses: tuple[int, ...],
) -> None:
    """The error the extractor raises: its text, its traceback, its frames' locals."""
    registry = CollectorRegistry()
    metrics = Metrics(registry).for_domain("telephony")
    clock = SystemClock()
    async with (
        serve_echo_gateway(CLIENT, SECRET, statuses) as gateway,
        aiohttp.ClientSession() as session,
    ):
        retry = RetryPolicy(base_s=0.01, cap_s=0.05, budget_s=0.3, rng=random.Random(7))
        http = DomainHttp("telephony", session, metrics, clock, retry)
        tokens = TokenManager(
            http,
            token_url=f"{gateway.base_url}/oauth/token",
            client_id=CLIENT,
            client_secret=SecretStr(SECRET),
            client_secret_file=None,
        )
        api = ApiClient(
            http,
            base_url=gateway.base_url,
            tokens=tokens,
            limiter=DomainLimiter(per_minute=6000, priority="high", clock=clock, metrics=metrics),
        )
        with capture_logs() as logs, pytest.raises(SourceError) as raised:
            await ConversationJobs(api, clock=clock).availability()
    error = raised.value
    shown = [str(error), repr(error), "".join(traceback.format_exception(error))]
    shown += [str(frame) for frame in _frames_with_locals(error)]
    shown += [str(entry) for entry in logs]
    shown.append(generate_latest(registry).decode())
    _assert_clean("\n".join(shown), gateway)


def _frames_with_locals(error: BaseException) -> Iterable[Any]:
    """The traceback of ``error`` from the first ``producer`` frame on, rendered with locals."""
    tb = error.__traceback__
    while tb is not None and f"{os.sep}producer{os.sep}" not in tb.tb_frame.f_code.co_filename:
        tb = tb.tb_next
    trace = structlog.tracebacks.extract(type(error), error, tb, show_locals=True)
    return [frame for stack in trace.stacks for frame in stack.frames]


async def _grant_cancelled_mid_request(grant: Callable[[str], Coroutine[Any, Any, Any]]) -> str:
    """``grant(url)`` against a token endpoint that does not answer, cancelled once the request
    arrived (a shutdown during a grant): every local of the producer's frames of the traceback
    it raised, as ``repr`` shows them (what a traceback rendered with locals prints). aiohttp's
    own frames hold what it sends; the producer's must not keep a copy under a name."""
    arrived, release = asyncio.Event(), asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await request.read()
        arrived.set()
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/{tail:.*}", stall)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        task = asyncio.create_task(grant(f"http://127.0.0.1:{port}"))
        await asyncio.wait_for(arrived.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError) as raised:
            await task
    finally:
        release.set()
        await runner.cleanup()
    shown, names = [], []
    tb = raised.value.__traceback__
    while tb is not None:
        if f"{os.sep}producer{os.sep}" in tb.tb_frame.f_code.co_filename:
            names.append(tb.tb_frame.f_code.co_name)
            shown += [f"{name}={value!r}" for name, value in tb.tb_frame.f_locals.items()]
        tb = tb.tb_next
    assert "post_grant" in names, names  # the scan went through the request's own frame
    return "\n".join(shown)


async def test_a_grant_cancelled_mid_request_shows_no_secret_in_its_frames() -> None:
    """Genesys: the HTTP Basic header (the secret in base64) is in no frame's locals."""
    basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()

    async def grant(url: str) -> Any:
        async with aiohttp.ClientSession() as session:
            endpoint = TokenEndpoint(
                domain="telephony",
                url=f"{url}/oauth/token",
                client_id=CLIENT,
                secret=SecretSource(SecretStr(SECRET), None),
                session=session,
                timeout_s=30,
            )
            return await endpoint.grant()

    shown = await _grant_cancelled_mid_request(grant)
    assert SECRET not in shown
    assert basic not in shown


async def test_a_cxone_grant_cancelled_mid_request_shows_no_secret_in_its_frames() -> None:
    """CXone: the access-key secret (in the JSON body) is in no frame's locals."""

    async def grant(url: str) -> Any:
        async with aiohttp.ClientSession() as session:
            access = AccessKeyGrant(
                domain="telephony",
                auth_url=url,
                access_key_id="telephony-key",
                secret=SecretStr(SECRET),
                secret_file=None,
                session=session,
            )
            return await access.grant()

    shown = await _grant_cancelled_mid_request(grant)
    assert SECRET not in shown
