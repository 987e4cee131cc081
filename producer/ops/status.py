"""Operator tool: ``mesh-producer status`` — where each domain is, read from the lake alone.

Offline: it needs the lake's variables (``MESH_LAKE_URL``, the domains' prefixes, through
``settings.ports``) and no OAuth client. For each domain it reads the checkpoint and the writer
lease and reports the watermark, the lag behind now and behind the source's availability (as the
producer last saw it), the newest window landed and when (the window ending at the watermark, not
whichever a backfill or re-sweep committed last), the totals and the last 24 hours
(from the checkpoint's window ledger), the re-sweeps due, the contract version(s) written and the
lease holder. A domain is *behind* when it has landed nothing yet, or when its lag passes
``--max-lag-minutes`` (default 120): for incremental domains the lag of the watermark, for
snapshot domains (WFM, whose watermark is a week start) the age of the last commit. Exit 0 when
no domain is behind, 1 otherwise, 2 on bad input: usable as a Kubernetes Job or a cron check.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from producer.checkpoint import Checkpoint, CheckpointStore, Counts
from producer.domains import domain_spec
from producer.errors import ProducerError
from producer.lake.keys import checkpoint_key
from producer.lake.store import ObjectStore, open_store
from producer.settings import DOMAIN_NAMES
from producer.settings.ports import OutputPort, load_output_port
from producer.telemetry.metrics import Metrics
from producer.windows import Resweeps, Window

__all__ = ["DomainState", "add_parser", "domain_state"]

_DAY = timedelta(hours=24)
_SNAPSHOT_DOMAINS = frozenset({"wfm"})


@dataclass(frozen=True, slots=True)
class DomainState:
    """One domain's state as the lake records it."""

    domain: str
    product: str
    landed: bool
    behind: bool
    watermark: str | None = None
    lag_minutes: float | None = None
    source_available: str | None = None
    lag_behind_source_minutes: float | None = None
    last_window: str | None = None
    last_landed_at: str | None = None
    totals: dict[str, int] = field(default_factory=dict)
    last_24h: dict[str, int] = field(default_factory=dict)
    dead_letter_ratio_24h: float | None = None
    resweeps_due: int = 0
    contract_versions: tuple[str, ...] = ()
    writer: str | None = None


async def domain_state(
    store: ObjectStore, port: OutputPort, *, now: datetime, max_lag: timedelta
) -> DomainState:
    """Read the domain's checkpoint and lease and judge whether it is behind."""
    metrics = Metrics(CollectorRegistry()).for_domain(port.domain)
    checkpoint, _ = await CheckpointStore(
        store, prefix=port.prefix, domain=port.domain, metrics=metrics
    ).load()
    writer = await _writer(store, port.prefix)
    if checkpoint is None:
        return DomainState(port.domain, port.description, landed=False, behind=True, writer=writer)
    snapshots = port.domain in _SNAPSHOT_DOMAINS
    lag = now - (checkpoint.updated_at if snapshots else checkpoint.watermark)
    day = _last_day(checkpoint, now)
    available = checkpoint.source_available
    last = _last_window(checkpoint, snapshots=snapshots)
    return DomainState(
        domain=port.domain,
        product=port.description,
        landed=True,
        behind=lag > max_lag,
        watermark=_iso(checkpoint.watermark),
        lag_minutes=_minutes(now - checkpoint.watermark),
        source_available=_iso(available) if available else None,
        lag_behind_source_minutes=_minutes(available - checkpoint.watermark) if available else None,
        last_window=last[0] if last else None,
        last_landed_at=_iso(last[1]) if last else None,
        totals=checkpoint.totals.as_dict(),
        last_24h=day.as_dict(),
        dead_letter_ratio_24h=round(day.dead_lettered / day.fetched, 4) if day.fetched else None,
        resweeps_due=_resweeps_due(checkpoint, port, now),
        contract_versions=tuple(v.strip() for v in checkpoint.schema_version.split(",")),
        writer=writer,
    )


def _last_window(checkpoint: Checkpoint, *, snapshots: bool) -> tuple[str, datetime] | None:
    """The newest window landed and when it last landed (exported or re-swept).

    Not the checkpoint's ``last_window``: that is the last window *committed*, which after a
    backfill or a re-sweep is an older one. For an incremental domain the newest is the window
    ending at the watermark; for a snapshot domain (whose watermark is a week start) the latest
    week in the ledger. A checkpoint without a ledger falls back to its last commit.
    """
    ends = {label: Window.from_label(label).end for label in checkpoint.recent}
    if not snapshots:
        ends = {label: end for label, end in ends.items() if end <= checkpoint.watermark}
    if ends:
        label = max(ends, key=lambda key: ends[key])
        return label, checkpoint.recent[label].exported_at
    if checkpoint.last_window is None:
        return None
    return checkpoint.last_window.window.label, checkpoint.updated_at


def _last_day(checkpoint: Checkpoint, now: datetime) -> Counts:
    """The counts of the ledger's windows that ended in the last 24 hours."""
    total = Counts()
    for label, recent in checkpoint.recent.items():
        if Window.from_label(label).end > now - _DAY:
            total = total + recent.counts
    return total


def _resweeps_due(checkpoint: Checkpoint, port: OutputPort, now: datetime) -> int:
    spec = domain_spec(port.domain)
    hours = port.resweep_hours if port.resweep_hours is not None else spec.default_resweep_hours
    last = {label: recent.exported_at for label, recent in checkpoint.recent.items()}
    resweeps = Resweeps(hours, port.resweep_interval_s)
    return len(
        resweeps.due(last, watermark=checkpoint.watermark, now=now, since=checkpoint.platform_since)
    )


async def _writer(store: ObjectStore, prefix: str) -> str | None:
    """The writer lease's holder (``owner on machine, expires ...``), if a lease exists."""
    key = checkpoint_key(prefix).rpartition("/")[0] + "/lease.json"
    stored = await store.get(key)
    if stored is None:
        return None
    try:
        lease = orjson.loads(stored.data)
    except orjson.JSONDecodeError:
        return "unreadable lease"
    if not isinstance(lease, dict):
        return "unreadable lease"
    if lease.get("released"):
        return f"none (released by {lease.get('owner', '?')})"
    return f"{lease.get('owner', '?')}, lease until {lease.get('expires_at', '?')}"


def add_parser(subparsers: Any) -> None:
    """Register ``status``; it sets ``func(args) -> exit code``."""
    parser = subparsers.add_parser(
        "status", help="where each domain is: watermark, lag, rejections (offline, from the lake)"
    )
    parser.add_argument("--domain", choices=DOMAIN_NAMES, help="only this domain")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument(
        "--max-lag-minutes",
        type=float,
        default=120.0,
        help="a domain lagging more is behind (exit 1)",
    )
    parser.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    domains = [args.domain] if args.domain else list(DOMAIN_NAMES)
    ports = [load_output_port(name) for name in domains]
    now = datetime.now(UTC)
    max_lag = timedelta(minutes=args.max_lag_minutes)

    async def run() -> list[DomainState]:
        states = []
        for port in ports:
            async with open_store(port.lake, bucket=port.bucket) as store:
                states.append(await domain_state(store, port, now=now, max_lag=max_lag))
        return states

    try:
        states = asyncio.run(run())
    except ProducerError as exc:
        print(f"mesh-producer: status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(orjson.dumps([asdict(s) for s in states], option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(states, args.max_lag_minutes))
    return 1 if any(state.behind for state in states) else 0


def render(states: list[DomainState], max_lag_minutes: float) -> str:
    """The human table: one block per domain."""
    lines = []
    for s in states:
        verdict = "BEHIND" if s.behind else "ok"
        if not s.landed:
            lines.append(f"{s.domain}: BEHIND, nothing landed yet in {s.product}")
            continue
        lines.append(f"{s.domain}: {verdict} ({s.product})")
        if s.domain in _SNAPSHOT_DOMAINS:
            lines.append(
                f"  watermark       {s.watermark}  (weekly snapshots: the last closed week)"
            )
        else:
            lines.append(f"  watermark       {s.watermark}  ({_ago(s.lag_minutes)} behind now)")
        if s.source_available:
            lines.append(
                f"  source          available until {s.source_available} "
                f"({_ago(s.lag_behind_source_minutes)} not landed yet)"
            )
        lines.append(f"  last window     {s.last_window}, landed at {s.last_landed_at}")
        t, d = s.totals, s.last_24h
        ratio = f"{s.dead_letter_ratio_24h:.1%}" if s.dead_letter_ratio_24h is not None else "n/a"
        lines.append(
            f"  totals          fetched {t['fetched']} = landed {t['landed']} + "
            f"dead-lettered {t['dead_lettered']}"
        )
        lines.append(
            f"  last 24 h       fetched {d['fetched']}, dead-lettered {d['dead_lettered']} "
            f"({ratio})"
        )
        lines.append(f"  re-sweeps due   {s.resweeps_due}")
        lines.append(f"  contracts       {', '.join(s.contract_versions)}")
        lines.append(f"  writer          {s.writer or 'none'}")
    lines.append(f"(behind: nothing landed, or more than {max_lag_minutes:g} min of lag)")
    return "\n".join(lines)


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


def _ago(minutes: float | None) -> str:
    if minutes is None:
        return "?"
    if abs(minutes) < 120:
        return f"{minutes:g} min"
    return f"{minutes / 60:.1f} h"


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
