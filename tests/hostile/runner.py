"""``run --once`` against a hostile source, bounded: in this loop, or as a real process.

``hostile_settings``/``hostile_env`` are the producer's settings for a hostile source: telephony
alone, small pages and parts, fast polls, a short request retry budget and grace so a window the
source cannot serve fails in seconds, no re-sweep. ``run_in_process`` runs the daemon once and
gives its exit code (None: it had not ended after ``timeout_s`` and was stopped) and its log
output; ``run_process`` does the same with ``python -m producer run --once``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from producer import daemon
from producer.settings import Settings, TelephonySettings
from tests.durability.process import Producer, producer_env
from tests.fixtures.runs import telephony_domain, telephony_settings

__all__ = ["hostile_env", "hostile_settings", "run_in_process", "run_process"]

PAGE_SIZE = 4
RETRY_SECONDS = 0.6  # one retry (the first backoff is 0.25-0.5 s), then the request gives up
JOB_WAIT_SECONDS = 2.0  # for a producer that bounds a job's wait by a setting of this name


def _job_wait() -> dict[str, float]:
    """The bound on a job's wait, for a producer that has that setting (none has it yet)."""
    name = "job_max_wait_seconds"
    return {name: JOB_WAIT_SECONDS} if name in TelephonySettings.model_fields else {}


def hostile_settings(api_url: str, lake_url: str, start: datetime, **extra: Any) -> Settings:
    """In-process settings for a hostile source at ``api_url``."""
    values: dict[str, Any] = {
        "start_at": start,
        "request_retry_seconds": RETRY_SECONDS,
        "shutdown_grace_seconds": 1.0,
        "resweep_hours": 0,
        "telephony": telephony_domain(
            job_poll_seconds=0.01,
            page_size=PAGE_SIZE,
            part_max_records=10,
            rate_limit_per_minute=60000,
            **_job_wait(),
        ),
    }
    return telephony_settings(api_url, lake_url, **(values | extra))


def hostile_env(
    api_url: str, lake_url: str, start: datetime, s3_endpoint: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a producer process for a hostile source at ``api_url``."""
    values = {
        "MESH_TELEPHONY__PAGE_SIZE": str(PAGE_SIZE),
        "MESH_TELEPHONY__PART_MAX_RECORDS": "10",
        "MESH_TELEPHONY__JOB_POLL_SECONDS": "0.01",
        "MESH_REQUEST_RETRY_SECONDS": str(RETRY_SECONDS),
        "MESH_SHUTDOWN_GRACE_SECONDS": "1",
        "MESH_RESWEEP_HOURS": "0",
    } | {f"MESH_TELEPHONY__{name.upper()}": str(value) for name, value in _job_wait().items()}
    return producer_env(
        api_url=api_url,
        lake_url=lake_url,
        start=start,
        s3_endpoint=s3_endpoint,
        **(values | extra),
    )


async def run_in_process(settings: Settings, *, timeout_s: float) -> tuple[int | None, str]:
    """``run --once`` in this loop: its exit code (None: stopped after ``timeout_s``) and the
    log lines it wrote plus its per-domain errors."""
    stopping = asyncio.Event()
    buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(buffer))
    try:
        running = asyncio.create_task(
            daemon.run(
                settings,
                once=True,
                stopping=stopping,
                registry=CollectorRegistry(),
                install_signal_handlers=False,
            ),
            name="hostile-run",
        )
        ended = True
        try:
            await asyncio.wait_for(asyncio.shield(running), timeout_s)
        except TimeoutError:
            ended = False
            stopping.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(running, 30)
        result = running.result() if running.done() and not running.exception() else None
    finally:
        structlog.reset_defaults()
    errors = {} if result is None else {n: r.error for n, r in result.reports.items() if r.error}
    output = buffer.getvalue() + f"\nreports with errors: {errors}"
    if not ended or result is None:
        return None, output
    return result.exit_code, output


async def run_process(env: dict[str, str], *, timeout_s: float) -> tuple[int | None, str]:
    """``python -m producer run --once``: its exit code (None: killed after ``timeout_s``)
    and everything it wrote."""
    async with await Producer.start(env) as producer:
        code = await producer.exited_within(timeout_s)
        if code is None:
            producer.kill()
        await producer.wait(timeout_s=30)
        return code, producer.output
