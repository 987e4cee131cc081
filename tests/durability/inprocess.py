"""Durability harness, in-process: the daemon run in the test's loop until a watermark.

``daemon_settings`` builds small, fast ``Settings`` for one telephony domain; ``run_daemon`` runs
the daemon (not ``--once``) until its watermark metric reaches a target, calling a hook as soon
as a window has failed (to end an injected fault), then stops it and returns its result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry

from producer import daemon
from producer.settings import Settings
from tests.fixtures.runs import daemon_running, telephony_domain, telephony_settings

__all__ = ["daemon_settings", "run_daemon", "sample"]


def daemon_settings(*, api_url: str, lake_url: str, start: datetime, **extra: Any) -> Settings:
    """``Settings`` for an in-process daemon: telephony only, no re-sweep, fast polls, small parts.

    ``extra`` overrides top-level settings (``request_retry_seconds``, ``resweep_hours``…).
    """
    values: dict[str, Any] = {
        "start_at": start,
        "request_retry_seconds": 30,
        "resweep_hours": 0,
        "telephony": telephony_domain(
            job_poll_seconds=0.02, page_size=25, part_max_records=10, rate_limit_per_minute=60000
        ),
    }
    return telephony_settings(api_url, lake_url, **(values | extra))


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A telephony metric's value (0.0 when it has no sample yet)."""
    return registry.get_sample_value(name, {"domain": "telephony", **labels}) or 0.0


async def run_daemon(
    settings: Settings,
    registry: CollectorRegistry,
    *,
    until_watermark: datetime,
    on_first_failure: Callable[[], None] | None = None,
    timeout_s: float = 60,
) -> daemon.RunResult:
    """Run the daemon (not ``--once``) until its watermark reaches ``until_watermark``, then stop.

    ``on_first_failure`` is called as soon as a window has failed (``mesh_windows_total`` with
    outcome failed), e.g. to end an injected fault; the daemon must then retry and land it.
    """
    async with daemon_running(settings, registry) as running, asyncio.timeout(timeout_s):
        while not running.done():
            failed = sample(registry, "mesh_windows_total", outcome="failed")
            if on_first_failure is not None and failed:
                on_first_failure()
                on_first_failure = None
            watermark = sample(registry, "mesh_watermark_timestamp_seconds")
            if watermark >= until_watermark.timestamp():
                break
            await asyncio.sleep(0.01)
    return running.result()
