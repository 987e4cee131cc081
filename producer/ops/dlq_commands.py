"""``mesh-producer lake audit`` and ``mesh-producer dlq replay``: the command line.

Wires ``audit`` and ``replay`` to argparse. Both read only ``MESH_LAKE_URL``,
``MESH_CONTRACTS_DIR``, ``MESH_COMPRESSION`` and the domain's ``MESH_{DOMAIN}__PREFIX``,
``__BUCKET``, ``__SCHEMA_VERSION`` (``settings/ports.py``), never OAuth variables. Exit codes:
0 consistent / replayed, 1 a discrepancy or a lake failure (one line each), 2 bad input
(``ConfigError``, printed by ``cli``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from producer.clock import SystemClock
from producer.contracts.registry import load_domain_contracts, select_contracts
from producer.errors import ConfigError, ProducerError
from producer.lake.store import ObjectStore, open_store
from producer.logs import configure_logging
from producer.ops.audit import AuditReport, audit_product
from producer.ops.replay import replay_dead_letters
from producer.settings import DOMAIN_NAMES
from producer.settings.ports import OutputPort, load_output_port
from producer.telemetry.metrics import DomainMetrics, Metrics

__all__ = ["add_parser"]

_R = TypeVar("_R")


def add_parser(subparsers: Any) -> None:
    """Add ``lake audit`` and ``dlq replay`` to ``subparsers``; each sets ``func``."""
    lake = subparsers.add_parser("lake", help="check a domain's data product in the lake")
    lake_commands = lake.add_subparsers(dest="lake_command", required=True)
    audit = lake_commands.add_parser(
        "audit", help="recount objects and lines and compare them with the checkpoint"
    )
    _common(audit)
    audit.add_argument("--windows", action="store_true", help="also print each window's counts")
    audit.set_defaults(func=_audit)
    dlq = subparsers.add_parser("dlq", help="dead letters (failed-records/)")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    replay = dlq_commands.add_parser(
        "replay",
        help="re-validate dead letters with the current mapping and contract; land those "
        "that now pass in their original windows",
    )
    _common(replay)
    replay.add_argument(
        "--include-recent",
        action="store_true",
        help="also windows the producer still re-exports (only with its producer stopped)",
    )
    replay.add_argument("--dry-run", action="store_true", help="report, write nothing")
    replay.set_defaults(func=_replay)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", required=True, choices=DOMAIN_NAMES)
    parser.add_argument(
        "--from", dest="start", metavar="ISO", help="first window start to include (UTC if naive)"
    )
    parser.add_argument(
        "--to", dest="end", metavar="ISO", help="windows starting before this (UTC if naive)"
    )


def _instant(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not an ISO 8601 time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _range(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    start, end = _instant("--from", args.start), _instant("--to", args.end)
    if start is not None and end is not None and end <= start:
        raise ConfigError("--to: must be after --from")
    return start, end


def _metrics(domain: str) -> DomainMetrics:
    """Throwaway metrics: a command is not scraped, but the lake classes count what they do."""
    return Metrics(CollectorRegistry()).for_domain(domain)


def _on_lake(
    port: OutputPort, command: str, work: Callable[[ObjectStore], Awaitable[_R]]
) -> _R | None:
    """``work`` on the port's lake, run to the end; None once a one-line message says why the
    lake (or the work) failed it."""

    async def run() -> _R:
        async with open_store(port.lake, bucket=port.bucket) as store:
            return await work(store)

    try:
        return asyncio.run(run())
    except ProducerError as exc:
        print(f"mesh-producer: {command} {port.domain}: {exc}", file=sys.stderr)
        return None


def _audit(args: argparse.Namespace) -> int:
    port = load_output_port(args.domain)
    start, end = _range(args)
    configure_logging("WARNING", "console")

    report = _on_lake(
        port,
        "lake audit",
        lambda store: audit_product(
            store, port, metrics=_metrics(port.domain), start=start, end=end
        ),
    )
    if report is None:
        return 1
    _print_audit(report, port, show_windows=args.windows)
    return 0 if report.consistent else 1


def _print_audit(report: AuditReport, port: OutputPort, *, show_windows: bool) -> None:
    if show_windows:
        for w in report.windows:
            state = "committed" if w.committed else "uncommitted"
            print(
                f"window {w.window.label}  landed {w.landed:>7}  dead-lettered "
                f"{w.dead_lettered:>6}  parts {w.export_parts}+{w.replay_parts} replay"
                f"+{w.dlq_parts} dlq  {state}"
            )
    for discrepancy in report.discrepancies:
        print(f"DISCREPANCY {discrepancy}")
    for note in report.notes:
        print(f"note: {note}")
    checkpoint = report.checkpoint
    recorded = (
        "no checkpoint"
        if checkpoint is None
        else f"checkpoint totals {checkpoint.totals.landed} + {checkpoint.totals.dead_lettered}, "
        f"watermark {checkpoint.watermark.isoformat()}"
    )
    verdict = "consistent" if report.consistent else f"{len(report.discrepancies)} discrepancy(ies)"
    print(
        f"lake audit {report.domain} ({port.description}): {len(report.windows)} window(s), "
        f"{report.objects} object(s), {report.landed} landed + {report.dead_lettered} "
        f"dead-lettered in committed windows; {recorded}: {verdict}"
    )


def _replay(args: argparse.Namespace) -> int:
    port = load_output_port(args.domain)
    start, end = _range(args)
    # During a major migration the DLQ series replayed is the newest major's (the primary).
    contract = select_contracts(
        load_domain_contracts(port.contracts_dir, port.domain), port.domain, port.schema_version
    )[0]
    from producer.domains import domain_spec

    try:
        spec = domain_spec(port.domain, port.platform)  # the mapper of the platform it reads
    except KeyError:
        raise ConfigError(f"--domain: {port.domain} has no mapper in this version") from None
    configure_logging("INFO", "console")

    report = _on_lake(
        port,
        "dlq replay",
        lambda store: replay_dead_letters(
            store,
            port,
            contract=contract,
            map_record=spec.map_record,
            metrics=_metrics(port.domain),
            clock=SystemClock(),
            start=start,
            end=end,
            include_recent=args.include_recent,
            dry_run=args.dry_run,
        ),
    )
    if report is None:
        return 1
    for window in report.windows:
        if window.skipped is not None:
            print(f"skipped {window.window.label}: {window.skipped}")
        elif window.removed:
            print(
                f"{'would move' if args.dry_run else 'moved'} {window.removed:>6}  "
                f"{window.window.label}  (still failing: {window.kept})"
            )
    verb = "would move" if args.dry_run else "moved"
    print(
        f"dlq replay {report.domain} against contract {report.contract_version} "
        f"({port.description}): {verb} {report.moved} record(s) to the data, "
        f"{report.kept} still fail, {sum(1 for w in report.windows if w.skipped)} window(s) skipped"
    )
    return 0
