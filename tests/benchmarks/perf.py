"""Performance benchmark (not a test): producer CPU per record, memory, and the API limit.

Every figure comes from real processes on this machine in one invocation: the simulator and
moto's S3 each run in a process of their own, the producer is ``python -m producer run`` (its
CPU and peak RSS from ``wait4``), and the reference chains run in fresh processes on the very
pages the producer received. Sections (``--only``):

- ``backlog``: ``run --once`` over a large backlog (rate limit lifted) into moto S3 and
  ``file://``; CPU per record gross and net of start-up; the floor and naive chains; ratios.
  Also run: the producer with CPython's default collector (``untuned``) and, with
  ``--baseline DIR``, the producer of another checkout (before a change).
- ``memory``: peak RSS for a one-window backlog of a small and a large window, into ``file://``
  and moto S3 (``ru_maxrss`` through a small reaper, and the sampled ``VmHWM``: ``runs.py``).
- ``limit``: at the simulated API limit (300/min, the producer's default 240/min): CPU
  utilisation with every page full, and the time and CPU to catch up a 24 h backlog.
- ``freshness``: steady state on a live clock: seconds from availability to window landed, and
  the requests served per minute by kind.

    python -m tests.benchmarks.perf                  # everything, ~25 min on 2 cores
    python -m tests.benchmarks.perf --only backlog --repeat 3 --baseline /tmp/before
    python -m tests.benchmarks.perf --only memory    # the memory rows alone, ~5 min
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from producer.windows import align_down
from tests.benchmarks.chains import save_windows
from tests.benchmarks.lakes import Lake
from tests.benchmarks.report import Report
from tests.benchmarks.runs import CLIENT, Measured, producer_env, run_chain, run_producer
from tests.benchmarks.servers import Server
from tests.benchmarks.source import fetch_windows

__all__ = ["main"]

_DISTINCT = 256  # distinct bodies per kind the simulator builds (serving speed)
_SECTIONS = ("backlog", "memory", "limit", "freshness")
_SHIPPED, _UNTUNED, _BASELINE = "as shipped", "default GC", "baseline"
_MODULES = {_SHIPPED: "producer", _UNTUNED: "tests.benchmarks.untuned", _BASELINE: "producer"}
_FAST = {
    "MESH_TELEPHONY__JOB_POLL_SECONDS": "0.05",
    "MESH_TELEPHONY__RATE_LIMIT_PER_MINUTE": "100000",
    "MESH_REQUEST_TIMEOUT_SECONDS": "600",
    "MESH_SHUTDOWN_GRACE_SECONDS": "600",
}


def _simulator(
    per_hour: float, *, frozen: datetime | None, per_minute: int = 0, lag_s: float = 0.0
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "clients": {CLIENT[0]: CLIENT[1]},
        "conversations_per_hour": per_hour,
        "rate_limit_per_minute": per_minute,
        "availability_lag_seconds": lag_s,
        "distinct_conversations": _DISTINCT,
        "job_expiry_seconds": 4 * 3600.0,
    }
    if frozen is not None:
        config["frozen_now"] = frozen.isoformat()
    if per_minute == 0:
        config |= {"job_queued_seconds": 0.02, "job_pending_seconds": 0.05}
    return config


def _frozen_now() -> datetime:
    """A past hour boundary: every window before it is closed for the producer's real clock."""
    return align_down(datetime.now(UTC), 3600)


def _parsed(run: Measured) -> int:
    """Conversations the producer parsed: fetched plus those it routed elsewhere."""
    return sum(
        line["fetched"] + line["out_of_window"] + line["duplicates"]
        for line in run.events("window_landed")
    )


def _checked(run: Measured, what: str) -> Measured:
    if run.exit_code != 0:
        raise RuntimeError(f"{what}: producer exited {run.exit_code}\n{run.tail()}")
    return run


def _measure_backlog(args: argparse.Namespace, report: Report, moto: Server | None) -> None:
    frozen = _frozen_now()
    hours = args.backlog_hours
    per_hour = args.records / hours
    start = frozen - timedelta(hours=hours)
    extra = {**_FAST, "MESH_COMPRESSION": args.compression}
    kinds = ["s3", "file"] if moto is not None else ["file"]
    variants = [
        _SHIPPED,
        *([_UNTUNED] if args.untuned else []),
        *([_BASELINE] if args.baseline else []),
    ]
    with Server.start_simulator(_simulator(per_hour, frozen=frozen)) as sim:

        def once(kind: str, start_at: datetime, variant: str = _SHIPPED) -> tuple[Measured, Lake]:
            lake = Lake.new_s3(moto.url) if kind == "s3" and moto is not None else Lake.new_file()
            env = producer_env(
                simulator_url=sim.url,
                lake_url=lake.url,
                start_at=start_at,
                window_seconds=900,
                s3_endpoint=lake.s3_endpoint,
                extra=extra,
            )
            run = run_producer(
                env,
                module=_MODULES[variant],
                source=args.baseline if variant == _BASELINE else None,
            )
            return _checked(run, f"backlog {kind} {variant}"), lake

        windows = max(1, math.ceil(args.sample_records / (per_hour / 4)))
        sample = fetch_windows(sim.url, CLIENT, start, 900, min(windows, int(hours * 4)))
        with tempfile.TemporaryDirectory(prefix="perf-pages-") as folder:
            save_windows(Path(folder), sample)
            del sample
            for round_ in range(args.repeat):
                for kind in kinds:
                    idle, lake = once(kind, frozen)
                    lake.discard()
                    report.add_idle(kind, idle)
                    for variant in variants:
                        run, lake = once(kind, start, variant)
                        totals = lake.totals()
                        lake.discard()
                        if totals is None:
                            raise RuntimeError(f"backlog {kind}: nothing landed\n{run.tail()}")
                        report.add_backlog(kind, variant, run, totals, _parsed(run))
                chains = [("floor", "default"), ("floor", "tuned"), ("naive-once", "default")]
                if round_ < args.naive_repeat:
                    chains.append(("naive", "default"))
                for chain, collector in chains:
                    result = run_chain(chain, Path(folder), args.compression, collector)
                    report.add_chain(result)
                print(f"  backlog round {round_ + 1}/{args.repeat} done", flush=True)


def _measure_memory(args: argparse.Namespace, report: Report, moto: Server | None) -> None:
    frozen = _frozen_now()
    variants = [_SHIPPED, *([_BASELINE] if args.baseline else [])]
    kinds = ["file", "s3"] if moto is not None else ["file"]
    for records in (args.memory_small, args.memory_large):
        with Server.start_simulator(_simulator(float(records), frozen=frozen)) as sim:
            for kind in kinds:
                for variant in variants:
                    lake = Lake.new_s3(moto.url) if kind == "s3" and moto else Lake.new_file()
                    env = producer_env(
                        simulator_url=sim.url,
                        lake_url=lake.url,
                        start_at=frozen - timedelta(hours=1),
                        window_seconds=3600,
                        s3_endpoint=lake.s3_endpoint,
                        extra={**_FAST, "MESH_COMPRESSION": args.compression},
                    )
                    source = args.baseline if variant == _BASELINE else None
                    what = f"memory {records:,} {kind} {variant}"
                    run = _checked(run_producer(env, source=source), what)
                    totals = lake.totals()
                    lake.discard()
                    report.add_memory(f"{kind}, {variant}", records, run, totals)
                    print(f"  {what} done", flush=True)


def _measure_limit(args: argparse.Namespace, report: Report) -> None:
    frozen = _frozen_now()
    # Every page full: at most one window's overhead requests (submit, polls, delete) per ~70.
    config = _simulator(args.saturated_per_hour, frozen=frozen, per_minute=300)
    for variant in [_SHIPPED, *([_UNTUNED] if args.untuned else [])]:
        with Server.start_simulator(config) as sim:
            lake = Lake.new_file()
            env = producer_env(
                simulator_url=sim.url,
                lake_url=lake.url,
                start_at=frozen - timedelta(hours=24),
                window_seconds=900,
                extra={"MESH_COMPRESSION": args.compression},
            )
            warmup, span = 20.0, args.saturated_seconds
            run = run_producer(
                env,
                once=False,
                stop_after_s=warmup + span + 1,
                sample=(warmup, span),
                module=_MODULES[variant],
            )
            lake.discard()
        report.add_saturated(variant, args.saturated_per_hour, run)
        print(f"  limit: saturated, {variant} done", flush=True)
    config = _simulator(args.catchup_per_hour, frozen=frozen, per_minute=300)
    with Server.start_simulator(config) as sim:
        lake = Lake.new_file()
        env = producer_env(
            simulator_url=sim.url,
            lake_url=lake.url,
            start_at=frozen - timedelta(hours=args.catchup_hours),
            window_seconds=900,
            extra={"MESH_COMPRESSION": args.compression},
        )
        run = _checked(run_producer(env), "catch-up")
        totals = lake.totals()
        lake.discard()
        report.add_catchup(args.catchup_per_hour, args.catchup_hours, run, totals)
        print("  limit: catch-up done", flush=True)


def _measure_freshness(args: argparse.Namespace, report: Report) -> None:
    lag_s, window_s = args.freshness_lag, 60
    config = _simulator(args.catchup_per_hour, frozen=None, per_minute=300, lag_s=lag_s)
    with Server.start_simulator(config) as sim:
        lake = Lake.new_file()
        started = datetime.now(UTC)
        env = producer_env(
            simulator_url=sim.url,
            lake_url=lake.url,
            start_at=started - timedelta(seconds=lag_s + 2 * window_s),
            window_seconds=window_s,
            extra={"MESH_COMPRESSION": args.compression},
        )
        run = run_producer(env, once=False, stop_after_s=args.freshness_seconds)
        lake.discard()
    report.add_freshness(
        run, lag_s, steady_after=started + timedelta(seconds=window_s), served=sim.served
    )
    print("  freshness done", flush=True)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default=",".join(_SECTIONS), help="sections, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the backlog section")
    parser.add_argument("--naive-repeat", type=int, default=2, help="rounds with the naive chain")
    parser.add_argument("--records", type=int, default=200_000, help="backlog conversations")
    parser.add_argument("--backlog-hours", type=float, default=8.0)
    parser.add_argument("--sample-records", type=int, default=50_000, help="for the chains")
    parser.add_argument("--no-s3", dest="s3", action="store_false", help="file:// only")
    parser.add_argument(
        "--no-untuned", dest="untuned", action="store_false", help="skip the default-GC variant"
    )
    parser.add_argument("--compression", choices=("gzip", "zstd"), default="gzip")
    parser.add_argument("--memory-small", type=int, default=10_000)
    parser.add_argument("--memory-large", type=int, default=1_000_000)
    parser.add_argument("--saturated-per-hour", type=float, default=200_000.0)
    parser.add_argument("--saturated-seconds", type=float, default=60.0)
    parser.add_argument("--catchup-per-hour", type=float, default=10_000.0)
    parser.add_argument("--catchup-hours", type=float, default=24.0)
    parser.add_argument("--freshness-seconds", type=float, default=300.0)
    parser.add_argument("--freshness-lag", type=float, default=30.0)
    parser.add_argument(
        "--baseline", type=Path, help="also run the producer of this checkout (backlog section)"
    )
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chosen sections, then print the table (and write ``--json``)."""
    args = _arguments(argv)
    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(sections) - set(_SECTIONS)
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {sorted(unknown)}; use {_SECTIONS}")
    report = Report(load_before=os.getloadavg(), cores=os.cpu_count() or 0)
    moto = Server.start_moto() if args.s3 and {"backlog", "memory"} & set(sections) else None
    steps: dict[str, Callable[[], None]] = {
        "backlog": lambda: _measure_backlog(args, report, moto),
        "memory": lambda: _measure_memory(args, report, moto),
        "limit": lambda: _measure_limit(args, report),
        "freshness": lambda: _measure_freshness(args, report),
    }
    try:
        for section in sections:
            print(f"{section} ...", flush=True)
            steps[section]()
    finally:
        if moto is not None:
            moto.close()
    report.load_after = os.getloadavg()
    report.harness_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(report.table(compression=args.compression))
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_json(), indent=2, default=str))


if __name__ == "__main__":
    main()
