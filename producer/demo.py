"""``mesh-producer demo``: the embedded default, all in one command.

Starts the Genesys Cloud simulator in-process on a free loopback port, points the producer at it
with a ``file://`` lake in the current folder, lands the last few hours of Telephony and Quality
and snapshots this week's and next week's WFM schedules with ``run --once``, and prints what
landed and what was rejected per domain. With ``--platform nice`` the source is the NICE CXone
simulator (Telephony and Quality, each with its own access key; WFM is skipped with a line
saying why) and the requests it answered are counted at the end. Composition only:
the same daemon, simulators and lake code as production and tests.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer import daemon
from producer.errors import ConfigError
from producer.logs import configure_logging
from producer.platforms.genesys.simulator import SimulatorConfig, serve
from producer.platforms.nice.simulator import NiceSimulatorConfig, RequestRecord
from producer.platforms.nice.simulator import data as nice_data
from producer.platforms.nice.simulator import serve as serve_nice
from producer.progress import Progress
from producer.settings import (
    DOMAIN_NAMES,
    LakeLocation,
    QualitySettings,
    Settings,
    TelephonySettings,
    WfmSettings,
)
from producer.summary import render_text, run_summary

__all__ = ["run_demo"]

# The in-process simulator's fake OAuth clients: one per domain, as in production.
_CLIENTS: dict[str, tuple[str, str]] = {
    name: (f"demo-{name}", f"demo-{name}-secret") for name in DOMAIN_NAMES
}


async def run_demo(
    *, lake_dir: Path, hours: float, lake_url: str | None = None, platform: str = "genesys"
) -> int:
    """Run the demo; returns the exit code (0 when every domain landed its windows).

    ``lake_url`` (``s3://``, ``az://``, ``gs://``, with the cloud's usual variables, e.g. an
    emulator's) replaces the ``file://`` lake in ``lake_dir``. ``platform`` ``nice`` serves the
    CXone simulator instead and lands Telephony and Quality from it (WFM is skipped: CXone
    documents no published-schedule source, docs/nice.md).
    """
    sources = {"genesys": _genesys_source, "nice": _nice_source}
    if platform not in sources:
        raise ConfigError(f"--platform: {platform} has no simulator")
    source = sources[platform]
    configure_logging("ERROR", "console")  # progress and the summary say what happened
    lake_dir = Path.cwd() / lake_dir if not lake_dir.is_absolute() else lake_dir
    lake = lake_url or f"file://{lake_dir}"
    try:
        LakeLocation.parse(lake)
    except ValueError as exc:
        raise ConfigError(f"--lake-url: {exc}") from None
    start_at = datetime.now(UTC) - timedelta(hours=hours)
    async with source(lake, start_at) as (settings, where, requests):
        print(
            f"demo: {where}, lake at {lake_url or lake_dir}, "
            f"exporting the last {hours:g} h (minus the source's availability lag)",
            flush=True,
        )
        if "wfm" not in settings.domains:
            print(f"demo: wfm skipped: {_WFM_SKIPPED}", flush=True)
        registry = CollectorRegistry()
        progress = Progress(
            registry,
            settings.domains,
            window_seconds={
                name: settings.window_seconds_of(name) for name in settings.domains if name != "wfm"
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
        made = requests()
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
    if made:
        print(f"\nrequests the simulator answered: {made}")
    sys.stdout.flush()
    return result.exit_code


_WFM_SKIPPED = (
    "NICE CXone documents no published-schedule source (docs/nice.md); "
    "`mesh-producer demo` lands WFM from Genesys Cloud"
)


@asynccontextmanager
async def _genesys_source(
    lake: str, start_at: datetime
) -> AsyncIterator[tuple[Settings, str, Callable[[], str]]]:
    """The Genesys Cloud simulator and settings for all three domains."""
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
            start_at=start_at,
            http_port=0,
            http_host="127.0.0.1",
            telephony=TelephonySettings(
                **_client("telephony"), job_poll_seconds=0.05, resweep_hours=0, **common
            ),
            quality=QualitySettings(**_client("quality"), settle_seconds=0, **common),
            wfm=WfmSettings(**_client("wfm"), horizon_weeks=1, **common),
        )
        yield settings, f"simulator at {simulator.base_url}", lambda: ""


@asynccontextmanager
async def _nice_source(
    lake: str, start_at: datetime
) -> AsyncIterator[tuple[Settings, str, Callable[[], str]]]:
    """The CXone simulator and settings for Telephony and Quality, each with its access key.

    The simulated tenant's Data Extraction rule is a quarter second instead of 30 s, so a
    Quality window's job takes about a second; the producer's tenant gate keeps to it.
    """
    interval = 0.25
    config = NiceSimulatorConfig(
        access_keys=dict(_NICE_KEYS.values()),
        contacts_per_hour=240.0,
        extraction_interval_seconds=interval,
        job_running_seconds=0.2,
    )
    async with serve_nice(config) as cxone:
        common: dict[str, Any] = {"rate_limit_per_minute": 2400, "platform": "nice"}
        settings = Settings(
            domains=("telephony", "quality"),
            lake_url=lake,
            start_at=start_at,
            http_port=0,
            http_host="127.0.0.1",
            telephony=TelephonySettings(
                **_nice_key("telephony", cxone.auth_url),
                nice_completion_lag_seconds=_NICE_COMPLETION_LAG_S,
                resweep_hours=0,
                **common,
            ),
            quality=QualitySettings(
                **_nice_key("quality", cxone.auth_url),
                nice_extraction_interval_seconds=interval,
                **common,
            ),
        )
        yield (
            settings,
            f"CXone simulator at {cxone.auth_url} (API host {cxone.api_url})",
            lambda: _request_counts(cxone.sim.requests),
        )


# A contact is complete (ended and reported) at most this long after its window's end.
_NICE_COMPLETION_LAG_S = float(nice_data.MAX_DURATION_S + 300)
_NICE_KEYS: dict[str, tuple[str, str]] = {
    name: (f"demo-{name}-key", f"demo-{name}-key-secret") for name in ("telephony", "quality")
}


def _nice_key(domain: str, auth_url: str) -> dict[str, Any]:
    key_id, secret = _NICE_KEYS[domain]
    return {
        "nice_auth_url": auth_url,
        "nice_discovery_url": auth_url,
        "nice_access_key_id": key_id,
        "nice_access_key_secret": SecretStr(secret),
    }


def _request_counts(requests: Sequence[RequestRecord]) -> str:
    """What the CXone simulator answered, by kind, e.g. ``2 token, 2 discovery, 30 contacts``."""
    kinds: Counter[str] = Counter()
    for request in requests:
        if request.path.endswith("/token/access-key"):
            kind = "token"
        elif request.path.startswith("/.well-known/"):
            kind = "discovery"
        elif request.path.startswith("/results/"):
            kind = "download"
        elif request.path.startswith("/data-extraction/"):
            kind = "job submit" if request.method == "POST" else "job status"
        elif "contacts/completed" in request.path.lower():
            kind = "contacts page"
        else:
            kind = "other"
        kinds[kind if request.status < 400 else f"{kind} ({request.status})"] += 1
    total = sum(kinds.values())
    return f"{total} ({', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items()))})"


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
