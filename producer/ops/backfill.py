"""``mesh-producer backfill``: re-export a chosen range of a domain's landed windows.

For a late fix upstream, a contract minor that added a field, or a new consumer. Each window of
``[--from, --to)`` goes through the worker's own window path (``DomainWorker.run_window`` and its
commit, as a re-sweep does): it rewrites only the objects whose content changed, replaces the
window's earlier counts in the checkpoint's totals, and never moves the watermark. A window the
checkpoint's re-export ledger no longer keeps is first read back from the lake (its data parts
of the primary major, replay parts included, and its DLQ parts of the primary major's number
range): those counts are what the totals hold for it, and its first DLQ line's ``rejected_at`` is
its first export time, so an unchanged window is byte-identical and commits nothing. Refused
(exit 2, one line): ``--to`` at or before ``--from``, a bound not on a window boundary, a range
past the watermark, a domain without a checkpoint, a snapshot domain (WFM).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson

from producer.checkpoint import Checkpoint, Counts, RecentWindow
from producer.clock import Clock, SystemClock
from producer.daemon import open_domain
from producer.domains import domain_spec
from producer.errors import ConfigError, ProducerError
from producer.lake.encode import decode_part
from producer.lake.keys import PRIMARY_DLQ_PARTS, parse_part_key, window_part_prefix
from producer.lake.store import ObjectStore
from producer.settings import DOMAIN_NAMES, Settings
from producer.windows import IncrementalPlanner, Window, align_down
from producer.worker import DomainWorker

__all__ = ["add_parser", "backfill", "lake_window", "plan_range"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``backfill``; it sets ``func(args) -> exit code``."""
    parser = subparsers.add_parser(
        "backfill",
        help="re-export the landed windows in [--from, --to) of a domain (idempotent)",
        description="Re-export the landed windows in [--from, --to) of a domain through the "
        "producer's own window path: only changed objects are rewritten, the checkpoint's "
        "totals stay those of the lake and its watermark never moves. Needs the domain's "
        "OAuth client (MESH_* variables, as run). Instants are ISO 8601 (UTC when no offset).",
    )
    parser.add_argument("--domain", required=True, choices=DOMAIN_NAMES, help="the domain")
    parser.add_argument(
        "--from", dest="start", required=True, metavar="T1", help="first window's start"
    )
    parser.add_argument("--to", dest="end", required=True, metavar="T2", help="last window's end")
    parser.set_defaults(func=_backfill)


def _backfill(args: argparse.Namespace) -> int:
    from producer.logs import configure_logging
    from producer.settings import load_settings

    start, end = _instant("--from", args.start), _instant("--to", args.end)
    settings = load_settings()
    # a refused range is said before any work
    plan_range(start, end, settings.window_seconds_of(args.domain))
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(backfill(settings, args.domain, start, end))
    except ConfigError:
        raise
    except ProducerError as exc:
        print(f"mesh-producer: backfill of {args.domain} failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _instant(option: str, text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: expected an ISO 8601 instant, e.g. 2026-12-01T00:00:00Z"
        ) from None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_range(start: datetime, end: datetime, window_seconds: int) -> list[Window]:
    """The windows of ``[start, end)``; ``ConfigError`` (naming the bound and the nearest
    aligned instants) when a bound is not a window boundary, or when ``end <= start``."""
    if end <= start:
        raise ConfigError(f"--to {_iso(end)} must be after --from {_iso(start)}")
    step = timedelta(seconds=window_seconds)
    for option, bound in (("--from", start), ("--to", end)):
        below = align_down(bound, window_seconds)
        if below != bound:
            raise ConfigError(
                f"{option} {_iso(bound)} is not on a {window_seconds} s window boundary: "
                f"use {_iso(below)} or {_iso(below + step)}"
            )
    windows = []
    at = start
    while at < end:
        windows.append(Window(at, at + step))
        at += step
    return windows


async def lake_window(
    store: ObjectStore, prefix: str, domain: str, major: int, window: Window, *, now: datetime
) -> RecentWindow:
    """What the lake holds of ``window`` in ``major``: its counts (replay parts count as landed;
    an older major's DLQ parts and the stream's refusals are not counted) and its first export
    time (the ``rejected_at`` of its first dead letter; ``now`` when it has none)."""
    landed = dead = 0
    first: datetime | None = None
    for key in sorted(
        await store.list_keys(window_part_prefix("data", prefix, domain, window, major))
    ):
        landed += len(await _lines(store, key))
    for key in sorted(await store.list_keys(window_part_prefix("dlq", prefix, domain, window))):
        if parse_part_key(key).part not in PRIMARY_DLQ_PARTS:
            continue
        lines = await _lines(store, key)
        dead += len(lines)
        if first is None and lines:
            first = datetime.fromisoformat(orjson.loads(lines[0])["rejected_at"])
    return RecentWindow(Counts(landed + dead, landed, dead), first or now)


async def _lines(store: ObjectStore, key: str) -> list[bytes]:
    found = await store.get(key)
    if found is None:  # deleted since it was listed: nothing of it is held
        return []
    try:
        return decode_part(found.data, parse_part_key(key).compression)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc} (run lake audit)") from None


async def backfill(
    settings: Settings,
    domain: str,
    start: datetime,
    end: datetime,
    *,
    clock: Clock | None = None,
    out: Callable[[str], None] = lambda line: print(line, flush=True),
) -> Counts:
    """Re-export ``domain``'s windows in ``[start, end)``, one ``out`` line per window; returns
    the counts of what was re-exported. ``ConfigError`` for a refused range or domain."""
    if domain not in settings.domains:
        raise ConfigError(f"--domain {domain}: not enabled in MESH_DOMAINS")
    config = settings.domain(domain)
    spec = domain_spec(domain)
    window_seconds = settings.window_seconds_of(domain)
    if not isinstance(spec.make_planner(window_seconds, config), IncrementalPlanner):
        raise ConfigError(
            f"--domain {domain}: a snapshot domain is re-exported by run, not backfill"
        )
    windows = plan_range(start, end, window_seconds)
    clock = clock or SystemClock()
    total = Counts()
    async with open_domain(settings, domain, clock=clock) as built:
        stopping = asyncio.Event()
        # The OAuth client and the lease are kept fresh beside the windows, as ``run`` does;
        # each put and commit is fenced by the lease anyway.
        helpers = [
            asyncio.create_task(built.tokens.run_refresher(), name=f"{domain}:token"),
            asyncio.create_task(built.lease.keep_renewed(), name=f"{domain}:lease"),
        ]
        try:
            checkpoint = await _landed_checkpoint(built.worker, domain, start, end, stopping)
            for window in windows:
                earlier = None
                if window.label not in checkpoint.recent:  # else the ledger has its counts
                    earlier = await lake_window(
                        built.store,
                        config.prefix,
                        domain,
                        built.contract.major,
                        window,
                        now=clock.now(),
                    )
                # An unchanged window commits nothing: a second run leaves the checkpoint as is.
                result = await built.worker.run_window(
                    window, earlier=earlier, record_resweep=False
                )
                total = total + result.counts
                out(_line(domain, window, result.counts, unchanged=result.unchanged))
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
    return total


async def _landed_checkpoint(
    worker: DomainWorker, domain: str, start: datetime, end: datetime, stopping: asyncio.Event
) -> Checkpoint:
    """The domain's checkpoint, read under its writer lease; ``ConfigError`` when there is none,
    ``end`` is past its watermark (only landed windows are backfilled), or ``start`` is before
    the domain's switch to its current platform (those windows came from the other one)."""
    checkpoint = await worker.open(stopping)
    if checkpoint is None:
        raise ConfigError(
            f"--domain {domain}: no checkpoint in the lake, nothing landed to "
            "backfill (run it first)"
        )
    if end > checkpoint.watermark:
        raise ConfigError(
            f"--to {_iso(end)} is beyond {domain}'s watermark "
            f"{_iso(checkpoint.watermark)}: only landed windows are backfilled"
        )
    since = checkpoint.platform_since
    if since is not None and start < since:
        raise ConfigError(
            f"--from {_iso(start)} is before {_iso(since)}, when {domain} moved to "
            f"{checkpoint.platform}: earlier windows were landed from another platform and "
            "cannot be re-exported from this one"
        )
    return checkpoint


def _line(domain: str, window: Window, counts: Counts, *, unchanged: bool) -> str:
    return (
        f"{domain} {window.label}: fetched {counts.fetched} = {counts.landed} "
        f"landed + {counts.dead_lettered} dead-lettered, "
        f"{'unchanged' if unchanged else 'changed'}"
    )
