"""Repeat ``run --once`` benchmark (not a test): what a cron-style run costs the platform.

Three domains (Telephony with its 24 h re-sweep horizon, Quality, WFM) export a 24 h backlog
with ``run --once`` into a fresh ``file://`` lake, then ``run --once`` runs again at once, with
nothing new at the source (its clock is frozen) and nothing due for a re-sweep. The simulator
serves in this process and counts the requests of each domain's OAuth client; each producer is
a process of its own (``runs.run_producer``). Prints, per domain and run, the requests, the
jobs submitted (Telephony) and the windows landed. Target: the repeat run costs <= 2 requests
per domain (a token and the availability check).

    python -m tests.benchmarks.repeat_once [--source OTHER_CHECKOUT]

``--source`` runs the producer of another checkout (a baseline) against the same servers.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from producer.platforms.genesys.simulator import SimulatorConfig, serve
from producer.settings import DOMAIN_NAMES
from producer.windows import align_down
from tests.benchmarks.runs import Measured, producer_env, run_producer

_WINDOW_S = 900
_JOBS = "/api/v2/analytics/conversations/details/jobs"


def _clients() -> dict[str, tuple[str, str]]:
    return {name: (f"{name}-client", f"{name}-secret") for name in DOMAIN_NAMES}


def _env(simulator_url: str, lake: Path, start_at: datetime) -> dict[str, str]:
    extra = {
        "MESH_DOMAINS": ",".join(DOMAIN_NAMES),
        "MESH_TELEPHONY__RESWEEP_HOURS": "24",
        "MESH_TELEPHONY__JOB_POLL_SECONDS": "0.05",
        "MESH_QUALITY__SETTLE_SECONDS": "0",
        "MESH_WFM__HORIZON_WEEKS": "1",
    }
    for name, (client_id, secret) in _clients().items():
        upper = name.upper()
        extra[f"MESH_{upper}__CLIENT_ID"] = client_id
        extra[f"MESH_{upper}__CLIENT_SECRET"] = secret
        extra[f"MESH_{upper}__RATE_LIMIT_PER_MINUTE"] = "6000"
    return producer_env(
        simulator_url=simulator_url,
        lake_url=lake.as_uri(),
        start_at=start_at,
        window_seconds=_WINDOW_S,
        extra=extra,
    )


async def _main(backlog_hours: float, source: Path | None) -> None:
    now = align_down(datetime.now(UTC), _WINDOW_S)
    config = SimulatorConfig(
        clients=dict(_clients().values()),
        rate_limit_per_minute=6000,
        job_queued_seconds=0.01,
        job_pending_seconds=0.02,
        availability_lag_seconds=0.0,
        evaluation_index_lag_seconds=0.0,
        now=lambda: now,
    )
    lake = Path(tempfile.mkdtemp(prefix="repeat-once-lake-"))
    rows = [("run", "domain", "requests", "jobs submitted", "windows landed", "exit")]
    async with serve(config) as simulator:
        env = _env(simulator.base_url, lake, now - timedelta(hours=backlog_hours))
        for run in ("fresh", "repeat"):
            before = len(simulator.sim.requests)
            measured: Measured = await asyncio.to_thread(run_producer, env, source=source)
            requests = simulator.sim.requests[before:]
            by_client = Counter(r.client_id for r in requests)
            jobs = Counter(r.client_id for r in requests if r.method == "POST" and r.path == _JOBS)
            landed = Counter(line.get("domain") for line in measured.events("window_landed"))
            for name, (client_id, _) in _clients().items():
                rows.append(
                    (
                        run,
                        name,
                        str(by_client[client_id]),
                        str(jobs[client_id]) if name == "telephony" else "-",
                        str(landed[name]),
                        str(measured.exit_code),
                    )
                )
    print(
        f"repeat run --once: {backlog_hours:g} h backlog, {_WINDOW_S} s windows, Telephony "
        "re-sweep horizon 24 h (interval 1 h), source frozen between the runs"
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog-hours", type=float, default=24.0)
    parser.add_argument("--source", type=Path, help="the producer of this checkout instead")
    args = parser.parse_args()
    asyncio.run(_main(args.backlog_hours, args.source))


if __name__ == "__main__":
    main()
