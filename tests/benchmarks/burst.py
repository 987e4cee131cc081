"""Burst benchmark (not a test): three domains contend for a shared budget below their demand.

Campaign-launch scenario from the guide: conversation volume x3, and the org-wide request
budget (the simulator's and the producer's shared ``MESH_ORG_RATE_LIMIT_PER_MINUTE``) set below
what the three domains together ask for. The daemon runs for ``--minutes`` real minutes from a
backlog; then the benchmark prints, per domain, the requests served, the 429s received, requests
sent before their Retry-After (must be 0), and the export lag at the end.

    python -m tests.benchmarks.burst --minutes 4
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer import daemon
from producer.checkpoint import CheckpointStore
from producer.lake.store import open_store
from producer.logs import configure_logging
from producer.platforms.genesys.simulator import SimulatorConfig, serve
from producer.settings import (
    DOMAIN_NAMES,
    LakeLocation,
    QualitySettings,
    Settings,
    TelephonySettings,
    WfmSettings,
)
from producer.telemetry.metrics import Metrics

_WINDOW_S = 300


async def _main(minutes: float, org_per_minute: int, backlog_hours: float, share: float) -> None:
    configure_logging("WARNING", "console")
    clients: dict[str, tuple[str, str]] = {
        name: (f"{name}-client", f"{name}-secret") for name in DOMAIN_NAMES
    }
    config = SimulatorConfig(
        clients=dict(clients.values()),
        conversations_per_hour=3 * 240.0,
        evaluations_per_hour=3 * 20.0,
        rate_limit_per_minute=300,
        org_rate_limit_per_minute=org_per_minute,
        availability_lag_seconds=60.0,
        evaluation_index_lag_seconds=0.0,
    )
    lake = Path(tempfile.mkdtemp(prefix="burst-lake-"))
    started_at = datetime.now(UTC)
    async with serve(config) as simulator:
        common = {"rate_limit_per_minute": 240}
        settings = Settings(
            domains=DOMAIN_NAMES,
            genesys_api_url=simulator.base_url,
            genesys_login_url=simulator.base_url,
            lake_url=lake.as_uri(),
            start_at=started_at - timedelta(hours=backlog_hours),
            window_seconds=_WINDOW_S,
            http_port=0,
            http_host="127.0.0.1",
            org_rate_limit_per_minute=max(1, int(org_per_minute * share)),
            telephony=TelephonySettings(
                **_client(clients, "telephony"), job_poll_seconds=0.5, resweep_hours=0, **common
            ),
            quality=QualitySettings(**_client(clients, "quality"), settle_seconds=0, **common),
            wfm=WfmSettings(
                **_client(clients, "wfm"), horizon_weeks=2, snapshot_seconds=60, **common
            ),
        )
        stopping = asyncio.Event()
        run = asyncio.create_task(
            daemon.run(
                settings,
                once=False,
                stopping=stopping,
                registry=CollectorRegistry(),
                install_signal_handlers=False,
            )
        )
        await asyncio.sleep(minutes * 60)
        stopping.set()
        await run
        requests = list(simulator.sim.requests)
        ended_at = datetime.now(UTC)
    # Each domain's lag is measured against what its source has: Telephony's availability date
    # (now - the analytics lag), Quality's settle time (0 here).
    available = {
        "telephony": ended_at - timedelta(seconds=config.availability_lag_seconds),
        "quality": ended_at,
    }
    by_client: dict[str, list[tuple[float, int, str | None]]] = defaultdict(list)
    for record in requests:
        if record.client_id is not None and record.path.startswith("/api/"):
            by_client[record.client_id].append((record.time, record.status, record.retry_after))
    print(
        f"burst: {minutes:g} min, org budget {org_per_minute}/min (producer "
        f"{settings.org_rate_limit_per_minute}/min), volume x3, backlog {backlog_hours:g} h, "
        f"window {_WINDOW_S} s"
    )
    rows = [
        ("domain", "priority", "requests", "429s", "early", "windows", "lag at end", "lag/window")
    ]
    for name in DOMAIN_NAMES:
        log = by_client[clients[name][0]]
        watermark, windows = await _progress(lake, settings, name)
        if name == "wfm":
            lag_text = "n/a (snapshots)"
            ratio = "-"
        else:
            lag = (available[name] - watermark).total_seconds() if watermark else float("nan")
            lag_text = f"{lag:,.0f} s"
            ratio = f"{lag / _WINDOW_S:.2f}"
        rows.append(
            (
                name,
                settings.domain(name).priority,
                str(sum(1 for _, status, _ in log if status != 429)),
                str(sum(1 for _, status, _ in log if status == 429)),
                str(_early(log)),
                str(windows),
                lag_text,
                ratio,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _client(clients: dict[str, tuple[str, str]], name: str) -> dict[str, object]:
    client_id, secret = clients[name]
    return {"client_id": client_id, "client_secret": SecretStr(secret)}


def _early(log: list[tuple[float, int, str | None]]) -> int:
    """Requests sent before the Retry-After of the 429 that preceded them (must be 0)."""
    early = 0
    not_before = 0.0
    for when, status, retry_after in log:
        if when < not_before:
            early += 1
        if status == 429:
            not_before = max(not_before, when + float(retry_after or 3))
    return early


async def _progress(lake: Path, settings: Settings, name: str) -> tuple[datetime | None, int]:
    """The domain's watermark and how many window objects sets it landed (data parts' windows)."""
    prefix = settings.domain(name).prefix
    async with open_store(LakeLocation.parse(lake.as_uri())) as store:
        metrics = Metrics(CollectorRegistry()).for_domain(name)
        checkpoint, _ = await CheckpointStore(
            store, prefix=prefix, domain=name, metrics=metrics
        ).load()
        keys = await store.list_keys(f"{prefix}/")
    windows = {key.rsplit("/", 1)[-1].split("-part-")[0] for key in keys if "-part-" in key}
    return (checkpoint.watermark if checkpoint else None), len(windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--org-per-minute", type=int, default=30)
    parser.add_argument("--backlog-hours", type=float, default=2.0)
    parser.add_argument(
        "--producer-share",
        type=float,
        default=0.92,
        help="the producer's shared budget as a share of the platform's (above 1: 429s)",
    )
    args = parser.parse_args()
    asyncio.run(_main(args.minutes, args.org_per_minute, args.backlog_hours, args.producer_share))


if __name__ == "__main__":
    main()
