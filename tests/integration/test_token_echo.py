"""A gateway that echoes the request's credentials: none of them reaches a log, error or metric.

The gateway (``tests/fixtures/gateway.py``) answers every API call 500, 429 and 400 in turn with
error bodies that quote the ``Authorization`` header, the bare token and the client secret. The
producer logs ``api_retry`` for the 500 and the 429, ``window_failed`` for the 400 (three times)
and ``domain_failed``; every one of them, the exception messages, tracebacks rendered with their
locals, the run's report and ``/metrics`` are scanned for the secret and every token issued. The
scrubbed text itself must still be there (``[redacted]``): the test sees the echo arrive.
"""

from __future__ import annotations

import os
import random
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr
from structlog.testing import capture_logs

from producer import daemon
from producer.api.client import ApiClient
from producer.api.http import DomainHttp
from producer.api.retry import RetryPolicy
from producer.auth import TokenManager
from producer.clock import SystemClock
from producer.errors import SourceError
from producer.platforms.genesys.jobs import ConversationJobs
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
