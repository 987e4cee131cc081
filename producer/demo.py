"""``mesh-producer demo``: the embedded default, all in one command.

Starts the Genesys Cloud simulator in-process on a free loopback port, points the producer at it
with a ``file://`` lake in the current folder, lands the last few hours of Telephony and Quality
and snapshots this week's and next week's WFM schedules with ``run --once``, and prints what
landed and what was rejected per domain. Composition only:
the same daemon, simulator and lake code as production and tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from producer import daemon
from producer.logs import configure_logging
from producer.settings import (
    DOMAIN_NAMES,
    QualitySettings,
    Settings,
    TelephonySettings,
    WfmSettings,
)
from producer.simulator import SimulatorConfig, serve
from producer.worker import DomainReport

__all__ = ["run_demo"]

# The in-process simulator's fake OAuth clients: one per domain, as in production.
_CLIENTS: dict[str, tuple[str, str]] = {
    name: (f"demo-{name}", f"demo-{name}-secret") for name in DOMAIN_NAMES
}


async def run_demo(*, lake_dir: Path, hours: float) -> int:
    """Run the demo; returns the exit code (0 when every domain landed its windows)."""
    configure_logging("WARNING", "console")
    lake_dir = Path.cwd() / lake_dir if not lake_dir.is_absolute() else lake_dir
    # The simulator's per-token limit is raised so the demo takes seconds, not minutes; the
    # producer's own limiter still paces every request.
    config = SimulatorConfig(clients=dict(_CLIENTS.values()), rate_limit_per_minute=3000)
    async with serve(config) as simulator:
        common: dict[str, Any] = {"rate_limit_per_minute": 2400}
        settings = Settings(
            domains=DOMAIN_NAMES,
            genesys_api_url=simulator.base_url,
            genesys_login_url=simulator.base_url,
            lake_url=f"file://{lake_dir}",
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
            f"demo: simulator at {simulator.base_url}, lake at {lake_dir}, "
            f"exporting the last {hours:g} h (minus the source's availability lag)",
            flush=True,
        )
        result = await daemon.run(settings, once=True, install_signal_handlers=False)
    _print_table(result.reports.values(), settings, lake_dir)
    return result.exit_code


def _client(domain: str) -> dict[str, Any]:
    client_id, secret = _CLIENTS[domain]
    return {"client_id": client_id, "client_secret": SecretStr(secret)}


def _print_table(reports: Iterable[DomainReport], settings: Settings, lake_dir: Path) -> None:
    rows = [("domain", "windows", "fetched", "landed", "dead-lettered", "objects", "data under")]
    for report in reports:
        prefix = settings.domain(report.domain).prefix
        rows.append(
            (
                report.domain,
                str(report.windows),
                str(report.counts.fetched),
                str(report.counts.landed),
                str(report.counts.dead_lettered),
                str(report.data_parts + report.dlq_parts),
                str(lake_dir / prefix)
                + ("" if report.error is None else f"  ERROR {report.error}"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    sys.stdout.flush()
