"""Throttle benchmark (not a test): a platform that refuses a steady share of calls with 429.

A shared org quota (another app on the same org) answers 429 + ``Retry-After`` on every k-th
results request, whatever our rate. The Telephony producer (``python -m producer run``, its
production quota, 240/min) catches up a backlog against the simulator for ``--minutes`` real
minutes; the simulator runs in a process of its own (this module with ``--serve``) and reports
what it saw. Printed: the configured quota, the requests sent (accepted and refused), the share
of the quota they used over the span of the run, the 429s, the time the platform's pauses took,
and the requests sent before a ``Retry-After`` had elapsed (must be 0).

The scenario is production's page size (1,000) at 2,000 conversations/h in 15-minute windows
(one page a window), with job polls every 0.5 s: without 429s, demand is above the quota
(``--every 0`` shows it), so what is measured is what the 429s cost. Every pause stops the
domain, and Telephony reads one window at a time, so the pauses have a price no limiter can
avoid: with ``n`` requests between two 429s, a cycle takes at least the pause plus the time the
``n`` requests take, whatever the quota. Pages of 100 (``--page-size 100``) put ~9 requests in a
cycle instead of ~30, and the share falls accordingly.

    python -m tests.benchmarks.throttle --minutes 10
    python -m tests.benchmarks.throttle --minutes 2 --every 0    # no 429s: what demand allows
    python -m tests.benchmarks.throttle --source /tmp/before     # another checkout's producer
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.benchmarks.lakes import Lake
from tests.benchmarks.runs import CLIENT, producer_env, run_producer

__all__ = ["main"]

_READY = "READY "
_SERVED = "SERVED "
_RESULTS = "/results"


async def _serve(raw: dict[str, Any]) -> None:
    """Serve the simulator with the periodic 429 armed; on SIGTERM print what it observed."""
    from producer.platforms.genesys.simulator import SimulatorConfig, serve

    every, retry_after = int(raw.pop("every")), float(raw.pop("retry_after"))
    config = SimulatorConfig(**raw)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    async with serve(config) as running:
        sim = running.sim
        if every > 0:
            sim.throttle_every(every, retry_after=retry_after, path_contains=_RESULTS)
        print(_READY + running.base_url, flush=True)
        await stopping.wait()
        api = sorted((r for r in sim.requests if r.path.startswith("/api/")), key=lambda r: r.time)
        refused = [r for r in api if r.status == 429]
        observed = {
            "sent": len(api),
            "throttled": len(refused),
            "results": sum(1 for r in api if r.path.endswith(_RESULTS)),
            "span_s": (api[-1].time - api[0].time) if len(api) > 1 else 0.0,
            "asked_pause_s": sum(float(r.retry_after or 3) for r in refused),
            "early": len(sim.retry_after_violations(CLIENT[0])),
        }
        print(_SERVED + json.dumps(observed), flush=True)


def _start_simulator(config: dict[str, Any]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.throttle", "--serve", json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(_READY):
        process.kill()
        process.wait()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return process, line[len(_READY) :].strip()


def _stop_simulator(process: subprocess.Popen[str]) -> dict[str, Any]:
    process.terminate()
    out, _ = process.communicate(timeout=60)
    for line in out.splitlines():
        if line.startswith(_SERVED):
            observed: dict[str, Any] = json.loads(line[len(_SERVED) :])
            return observed
    raise RuntimeError("the simulator reported nothing")


def _run(args: argparse.Namespace) -> None:
    quota = args.quota
    config = {
        "clients": {CLIENT[0]: CLIENT[1]},
        "conversations_per_hour": args.per_hour,
        "distinct_conversations": 256,  # serving speed: the simulator must not be the limit
        "availability_lag_seconds": 60.0,
        "job_expiry_seconds": 4 * 3600.0,
        "every": args.every,
        "retry_after": args.retry_after,
    }
    started = datetime.now(UTC)
    process, url = _start_simulator(config)
    lake = Lake.new_file()
    try:
        env = producer_env(
            simulator_url=url,
            lake_url=lake.url,
            start_at=started - timedelta(days=args.backlog_days),
            window_seconds=900,
            extra={
                "MESH_TELEPHONY__RATE_LIMIT_PER_MINUTE": str(quota),
                "MESH_TELEPHONY__JOB_POLL_SECONDS": str(args.job_poll_seconds),
                "MESH_TELEPHONY__PAGE_SIZE": str(args.page_size),
            },
        )
        run = run_producer(env, once=False, stop_after_s=args.minutes * 60, source=args.source)
    finally:
        observed = _stop_simulator(process)
        lake.discard()
    span_s = observed["span_s"] or 1.0
    allowed = quota * span_s / 60.0
    sent, throttled = observed["sent"], observed["throttled"]
    what = (
        f"429 + Retry-After: {args.retry_after:g} on every {args.every}th results request"
        if args.every
        else "no 429s"
    )
    print(
        f"throttle: {args.minutes:g} min, telephony, {what}; "
        f"{args.per_hour:,.0f} conversations/h, 900 s windows, pages of {args.page_size}, "
        f"job poll {args.job_poll_seconds:g} s"
    )
    accepted, paused = sent - throttled, observed["asked_pause_s"]
    rows = [
        ("configured quota", f"{quota:,.0f}/min ({allowed:,.0f} over {span_s:,.0f} s)"),
        ("requests sent", f"{sent:,} ({accepted:,} accepted, {observed['results']:,} results)"),
        ("share of quota used", f"{sent / allowed:.1%} (accepted only: {accepted / allowed:.1%})"),
        ("429s", f"{throttled:,}"),
        ("pauses the 429s asked for", f"{paused:,.0f} s ({paused / span_s:.0%} of the span)"),
        ("sent before a Retry-After elapsed", f"{observed['early']:,}"),
        ("windows landed", f"{len(run.events('window_landed')):,}"),
        ("producer exit code", f"{run.exit_code}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--quota", type=int, default=240, help="the producer's requests/min")
    parser.add_argument("--every", type=int, default=6, help="every k-th results request 429s")
    parser.add_argument("--retry-after", type=float, default=2.0)
    parser.add_argument("--per-hour", type=float, default=2_000.0, help="conversations/hour")
    parser.add_argument("--backlog-days", type=float, default=5.0)
    parser.add_argument("--page-size", type=int, default=1000, help="results page size")
    parser.add_argument("--job-poll-seconds", type=float, default=0.5)
    parser.add_argument("--source", type=Path, help="run the producer of this checkout instead")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(json.loads(args.serve)))
    else:
        _run(args)


if __name__ == "__main__":
    main()
