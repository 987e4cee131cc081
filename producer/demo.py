"""``mesh-producer demo``: the embedded default, all in one command.

Starts the Genesys Cloud simulator in-process on a free loopback port, points the producer at it
with a ``file://`` lake in the current folder, lands the last few hours of every enabled domain
with ``run --once``, and prints what landed and what was rejected per domain. Composition only:
the same daemon, simulator and lake code as production and tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from producer import daemon
from producer.logs import configure_logging
from producer.settings import Settings, TelephonySettings
from producer.simulator import SimulatorConfig, serve
from producer.worker import DomainReport

__all__ = ["run_demo"]

_CLIENT_ID = "demo-telephony"
_CLIENT_SECRET = "demo-telephony-secret"  # noqa: S105 - the in-process simulator's fake client


async def run_demo(*, lake_dir: Path, hours: float) -> int:
    """Run the demo; returns the exit code (0 when every domain landed its windows)."""
    configure_logging("WARNING", "console")
    lake_dir = Path.cwd() / lake_dir if not lake_dir.is_absolute() else lake_dir
    # The simulator's per-token limit is raised so the demo takes seconds, not minutes; the
    # producer's own limiter still paces every request.
    config = SimulatorConfig(clients={_CLIENT_ID: _CLIENT_SECRET}, rate_limit_per_minute=3000)
    async with serve(config) as simulator:
        settings = Settings(
            domains=("telephony",),
            genesys_api_url=simulator.base_url,
            genesys_login_url=simulator.base_url,
            lake_url=f"file://{lake_dir}",
            start_at=datetime.now(UTC) - timedelta(hours=hours),
            http_port=0,
            http_host="127.0.0.1",
            telephony=TelephonySettings(
                client_id=_CLIENT_ID,
                client_secret=SecretStr(_CLIENT_SECRET),
                job_poll_seconds=0.05,
                rate_limit_per_minute=2400,
            ),
        )
        print(
            f"demo: simulator at {simulator.base_url}, lake at {lake_dir}, "
            f"exporting the last {hours:g} h (minus the source's availability lag)",
            flush=True,
        )
        result = await daemon.run(settings, once=True, install_signal_handlers=False)
    _print_table(result.reports.values(), settings, lake_dir)
    return 0 if result.ok else 1


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
