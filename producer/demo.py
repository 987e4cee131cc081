"""``mesh-producer demo``: the embedded default, all in one command.

Starts the Genesys Cloud simulator in-process on a free loopback port, points the producer at it
with a ``file://`` lake in the current folder, lands the last few hours of Telephony and Quality
and snapshots this week's and next week's WFM schedules with ``run --once``, and prints what
landed and what was rejected per domain. Composition only:
the same daemon, simulator and lake code as production and tests.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer import daemon
from producer.errors import ConfigError
from producer.logs import configure_logging
from producer.progress import Progress
from producer.settings import (
    DOMAIN_NAMES,
    LakeLocation,
    QualitySettings,
    Settings,
    TelephonySettings,
    WfmSettings,
)
from producer.simulator import SimulatorConfig, serve
from producer.summary import render_text, run_summary

__all__ = ["run_demo"]

# The in-process simulator's fake OAuth clients: one per domain, as in production.
_CLIENTS: dict[str, tuple[str, str]] = {
    name: (f"demo-{name}", f"demo-{name}-secret") for name in DOMAIN_NAMES
}


async def run_demo(*, lake_dir: Path, hours: float, lake_url: str | None = None) -> int:
    """Run the demo; returns the exit code (0 when every domain landed its windows).

    ``lake_url`` (``s3://``, ``az://``, ``gs://``, with the cloud's usual variables, e.g. an
    emulator's) replaces the ``file://`` lake in ``lake_dir``.
    """
    configure_logging("ERROR", "console")  # progress and the summary say what happened
    lake_dir = Path.cwd() / lake_dir if not lake_dir.is_absolute() else lake_dir
    lake = lake_url or f"file://{lake_dir}"
    try:
        LakeLocation.parse(lake)
    except ValueError as exc:
        raise ConfigError(f"--lake-url: {exc}") from None
    # The simulator's per-token limit is raised so the demo takes seconds, not minutes; the
    # producer's own limiter still paces every request.
    config = SimulatorConfig(clients=dict(_CLIENTS.values()), rate_limit_per_minute=3000)
    async with serve(config) as simulator:
        common: dict[str, Any] = {"rate_limit_per_minute": 2400}
        settings = Settings(
            domains=DOMAIN_NAMES,
            genesys_api_url=simulator.base_url,
            genesys_login_url=simulator.base_url,
            lake_url=lake,
            start_at=datetime.now(UTC) - timedelta(hours=hours),
            http_port=0,
            http_host="127.0.0.1",
            telephony=TelephonySettings(
                **_client("telephony"), job_poll_seconds=0.05, resweep_hours=0, **common
            ),
            quality=QualitySettings(**_client("quality"), settle_seconds=0, **common),
            wfm=WfmSettings(**_client("wfm"), horizon_weeks=1, **common),
        )
        print(
            f"demo: simulator at {simulator.base_url}, lake at {lake_url or lake_dir}, "
            f"exporting the last {hours:g} h (minus the source's availability lag)",
            flush=True,
        )
        registry = CollectorRegistry()
        progress = Progress(
            registry,
            settings.domains,
            window_seconds={
                name: settings.window_seconds for name in settings.domains if name != "wfm"
            },
            now=time.time,
        )
        shown = asyncio.create_task(progress.run(), name="demo:progress")
        try:
            result = await daemon.run(
                settings, once=True, registry=registry, install_signal_handlers=False
            )
        finally:
            shown.cancel()
            await asyncio.gather(shown, return_exceptions=True)
    summaries = await run_summary(settings, result.reports.values())
    if lake_url is None:
        steps = next_steps(lake_dir, settings.domain("telephony").prefix)
    else:  # no local files to query; status and the audit read any lake (same cloud variables)
        steps = [
            f"recount the lake:      MESH_LAKE_URL={lake_url} mesh-producer lake audit "
            "--domain telephony",
            f"where each domain is:  MESH_LAKE_URL={lake_url} mesh-producer status",
        ]
    print()
    print(render_text(summaries, next_steps=steps))
    sys.stdout.flush()
    return result.exit_code


def _client(domain: str) -> dict[str, Any]:
    client_id, secret = _CLIENTS[domain]
    return {"client_id": client_id, "client_secret": SecretStr(secret)}


def next_steps(lake_dir: Path, telephony_prefix: str) -> list[str]:
    """What to try on the demo lake, each runnable as printed."""
    lake_url = f"file://{lake_dir}"
    glob = f"{lake_dir}/{telephony_prefix}/v1/*/*/*.ndjson.gz"
    query = (
        "SELECT data.channel_type, count(*) AS records "  # noqa: S608 -- printed for a person
        f"FROM read_ndjson_auto('{glob}') GROUP BY 1 ORDER BY 1"
    )
    return [
        f'query it with DuckDB:  duckdb -c "{query}"',
        f"recount the lake:      MESH_LAKE_URL={lake_url} mesh-producer lake audit "
        "--domain telephony",
        f"where each domain is:  MESH_LAKE_URL={lake_url} mesh-producer status",
        f"see what replay would land once a fix is published:  MESH_LAKE_URL={lake_url} "
        "mesh-producer dlq replay --domain telephony --dry-run",
        "run it again: an up-to-date lake says so, and lands only what is new",
    ]
