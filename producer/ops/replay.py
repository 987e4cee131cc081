"""``dlq replay``: move dead letters that now pass into their original window's data.

Owns the move, window by window: re-map each DLQ line's ``source`` with the domain's current
mapper, re-validate with the current contract, write the records that now pass as a new replay
part of the window's data (part numbers from ``REPLAY_FIRST_PART``; the export's parts are not
touched), rewrite the DLQ parts without them, then move their counts from dead-lettered to landed
in the checkpoint by compare-and-swap. Data first, DLQ second, checkpoint last. The checkpoint
keeps, per window, how many replay-part records its counts include (``Checkpoint.replayed``), and
the accounting moves the difference between that and what the window's replay parts hold, so an
interrupted run is completed by the next: a record left in both places only leaves the DLQ (it
never lands twice), and records moved without their checkpoint update are accounted for then.

With ``include_recent`` the replay writes windows the producer also rewrites, so it takes the
domain's writer lease first (``producer.lake.lease``): a producer holding it makes the replay
refuse (``LeaseHeldError``), and while the replay holds it no producer writes the domain.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog

from producer.checkpoint import Checkpoint, CheckpointStore, RecentWindow, is_committed
from producer.clock import Clock
from producer.contracts.registry import Contract
from producer.contracts.validate import Validator
from producer.domains import domain_spec
from producer.domains.mapped import Mapped
from producer.envelope import envelope_line
from producer.errors import AccountingError, CheckpointConflictError
from producer.lake.encode import decode_part, encode_part
from producer.lake.inventory import (
    WindowParts,
    replay_key,
    take_inventory,
)
from producer.lake.lease import DomainLease, Fence, LeaseHeldError, new_owner
from producer.lake.store import ObjectStore
from producer.settings.ports import OutputPort
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Window

__all__ = ["ReplayReport", "WindowReplay", "replay_dead_letters"]

_log = structlog.get_logger("producer.replay")
_CAS_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class WindowReplay:
    """What replay did to one window's dead letters.

    ``moved`` landed now; ``already_landed`` were found in the window's replay parts already (an
    earlier run stopped before its DLQ rewrite) and only left the DLQ; ``kept`` still fail.
    ``replay_records``: what the window's replay parts hold after this run. ``accounted``: records
    this run moved from dead-lettered to landed in the checkpoint (more than ``removed`` when an
    earlier run stopped before its checkpoint update). ``skipped`` says why the window was left
    alone (then every count is 0).
    """

    window: Window
    moved: int = 0
    already_landed: int = 0
    kept: int = 0
    skipped: str | None = None
    replay_records: int = 0
    accounted: int = 0

    @property
    def removed(self) -> int:
        """Lines that left the DLQ: ``moved + already_landed``."""
        return self.moved + self.already_landed


@dataclass(frozen=True)
class ReplayReport:
    """Every window with dead letters in range, and the contract they were checked against."""

    domain: str
    contract_version: str
    windows: tuple[WindowReplay, ...]

    @property
    def moved(self) -> int:
        """Records that left the DLQ for the data in this run."""
        return sum(w.removed for w in self.windows)

    @property
    def kept(self) -> int:
        """Dead letters that still fail the current mapping or contract."""
        return sum(w.kept for w in self.windows)


@dataclass(frozen=True)
class _Split:
    """One DLQ part's lines split into those that stay and the records that now pass."""

    key: str
    compression: str
    kept: list[bytes]
    passed: list[dict[str, Any]]


async def replay_dead_letters(
    store: ObjectStore,
    port: OutputPort,
    *,
    contract: Contract,
    map_record: Callable[[Any], Mapped],
    metrics: DomainMetrics,
    clock: Clock,
    start: datetime | None = None,
    end: datetime | None = None,
    include_recent: bool = False,
    dry_run: bool = False,
    lease_seconds: float = 60.0,
) -> ReplayReport:
    """Replay the dead letters of ``port``'s committed windows starting in ``[start, end)``.

    ``port`` is the product as the producer writes it: its domain and prefix, the compression
    and part size of the replay parts, and its re-sweep horizon (None: the domain's default).
    Its lake is not opened here: ``store`` is that lake, open.

    Skipped (and reported): windows the checkpoint does not account for yet (the producer will
    rewrite them), windows still in the re-export ledger unless ``include_recent`` (the producer
    re-exports those itself; replaying them while it runs could race its rewrite, so pass it only
    with the domain's producer stopped), and windows whose data is under another major than
    ``contract``. Idempotent: a second run finds nothing more to move and writes nothing. Raises
    ``StoreError``, ``CheckpointConflictError`` (the CAS kept losing, or a window was re-exported
    meanwhile) or ``AccountingError`` (the checkpoint cannot absorb the move). ``dry_run``
    reports what would move and writes nothing. ``include_recent`` (unless ``dry_run``) holds
    the domain's writer lease (of ``lease_seconds``) for the run: ``LeaseHeldError`` while a
    producer holds it; a crashed holder's lease is waited out.
    """
    domain, prefix = port.domain, port.prefix
    resweep_hours = (
        port.resweep_hours
        if port.resweep_hours is not None
        else domain_spec(domain).default_resweep_hours
    )
    async with _writer_lease(
        store,
        prefix=prefix,
        domain=domain,
        clock=clock,
        ttl_s=lease_seconds,
        held=include_recent and not dry_run,
    ) as fence:
        checkpoints = CheckpointStore(
            store, prefix=prefix, domain=domain, metrics=metrics, fence=fence
        )
        checkpoint, _ = await checkpoints.load()
        inventory = await take_inventory(store, prefix, domain)
        mover = _Mover(
            store,
            port=port,
            contract=contract,
            map_record=map_record,
            metrics=metrics,
            dry_run=dry_run,
            fence=fence,
        )
        results: list[WindowReplay] = []
        for window, parts in inventory.windows.items():
            if not (parts.dlq or parts.replay) or (start is not None and window.start < start):
                continue
            if end is not None and window.start >= end:
                continue
            reason = _skip_reason(
                checkpoint,
                parts,
                contract,
                include_recent=include_recent,
                resweep_hours=resweep_hours,
            )
            if reason is not None:
                results.append(WindowReplay(window, skipped=reason))
                continue
            before = checkpoint.recent.get(window.label) if checkpoint is not None else None
            result = await mover.replay_window(parts)
            assert checkpoint is not None  # _skip_reason skips every window without one
            if not dry_run and (result.replay_records or window.label in checkpoint.replayed):
                accounted = await _account(
                    checkpoints, window, result.replay_records, clock, before=before
                )
                result = replace(result, accounted=accounted)
            _log.info(
                "dlq_replayed",
                window=window.label,
                moved=result.moved,
                already_landed=result.already_landed,
                kept=result.kept,
                accounted=result.accounted,
            )
            results.append(result)
        return ReplayReport(domain, contract.version, tuple(results))


@contextlib.asynccontextmanager
async def _writer_lease(
    store: ObjectStore,
    *,
    prefix: str,
    domain: str,
    clock: Clock,
    ttl_s: float,
    held: bool,
) -> AsyncIterator[DomainLease | None]:
    """The domain's writer lease for the ``async with`` when ``held``, else None."""
    if not held:
        yield None
        return
    lease = DomainLease(
        store, prefix=prefix, domain=domain, owner=new_owner("replay"), ttl_s=ttl_s, clock=clock
    )
    try:
        await lease.acquire()
    except LeaseHeldError as exc:
        raise LeaseHeldError(
            f"{exc}; --include-recent rewrites windows the producer writes: stop the "
            f"{domain} producer first"
        ) from None
    try:
        yield lease
    finally:
        await lease.release()


def _skip_reason(
    checkpoint: Checkpoint | None,
    parts: WindowParts,
    contract: Contract,
    *,
    include_recent: bool,
    resweep_hours: float,
) -> str | None:
    if not is_committed(checkpoint, parts.window):
        return "not committed yet (the producer rewrites it)"
    assert checkpoint is not None  # is_committed is False without one
    # The producer re-exports the ledger's windows inside its re-sweep horizon (and open ones).
    horizon = checkpoint.watermark - timedelta(hours=resweep_hours)
    reexported = parts.window.label in checkpoint.recent and parts.window.end > horizon
    if reexported and not include_recent:
        return "inside the re-export horizon (the producer re-exports it; --include-recent)"
    if parts.major is not None and parts.major != contract.major:
        return f"its data is under v{parts.major}, the contract is {contract.version}"
    return None


@dataclass
class _Mover:
    """Moves the now-valid dead letters of one window at a time (lake writes only)."""

    store: ObjectStore
    _: KW_ONLY
    port: OutputPort
    contract: Contract
    map_record: Callable[[Any], Mapped]
    metrics: DomainMetrics
    dry_run: bool
    fence: Fence | None = None
    validator: Validator = field(init=False)

    def __post_init__(self) -> None:
        self.validator = Validator(self.contract)

    async def replay_window(self, parts: WindowParts) -> WindowReplay:
        """Data (new replay parts), then the rewritten DLQ parts. Returns what moved."""
        landed = Counter(_identity(r) for r in await self._replayed_records(parts))
        split_parts = [await self._split(part.key, part.parsed.compression) for part in parts.dlq]
        new_records: list[dict[str, Any]] = []
        already = 0
        for part in split_parts:
            for record in part.passed:
                identity = _identity(record)
                if landed[identity] > 0:  # landed by a run that stopped before its DLQ rewrite
                    landed[identity] -= 1
                    already += 1
                else:
                    new_records.append(record)
        kept = sum(len(part.kept) for part in split_parts)
        total = landed.total() + already + len(new_records)  # replay records after this run
        if self.dry_run:
            return WindowReplay(parts.window, len(new_records), already, kept, None, total)
        if new_records:
            await self._write_replay_parts(parts, new_records)
        for part in split_parts:
            if part.passed:
                await self._put(part.key, part.kept, part.compression, "dlq", versioned=False)
        return WindowReplay(parts.window, len(new_records), already, kept, None, total)

    async def _replayed_records(self, parts: WindowParts) -> list[dict[str, Any]]:
        """The records of the window's replay parts (lines that are not envelopes are skipped:
        the audit reports them)."""
        records: list[dict[str, Any]] = []
        for part in parts.replay:
            for line in await self._lines(part.key, part.parsed.compression):
                try:
                    data = orjson.loads(line).get("data")
                except (orjson.JSONDecodeError, AttributeError):
                    continue
                if isinstance(data, dict):
                    records.append(data)
        return records

    async def _split(self, key: str, compression: str) -> _Split:
        kept: list[bytes] = []
        passed: list[dict[str, Any]] = []
        for line in await self._lines(key, compression):
            record = self._now_valid(line)
            if record is None:
                kept.append(line)
            else:
                passed.append(record)
        return _Split(key, compression, kept, passed)

    def _now_valid(self, line: bytes) -> dict[str, Any] | None:
        """The record ``line``'s source maps to, if it now passes the contract; else None."""
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None  # the audit reports it; replay leaves what it cannot read
        if not isinstance(document, dict) or document.get("domain") != self.port.domain:
            return None
        if "source" not in document:
            return None
        mapped = self.map_record(document["source"])
        if not mapped.ok or mapped.record is None or self.validator.check(mapped.record):
            return None
        return mapped.record

    async def _write_replay_parts(
        self, parts: WindowParts, records: Sequence[dict[str, Any]]
    ) -> None:
        first = parts.replay[-1].number + 1 if parts.replay else 0
        lines = [envelope_line(self.contract, record) for record in records]
        port = self.port
        for index, offset in enumerate(range(0, len(lines), port.part_max_records), start=first):
            key = replay_key(
                port.prefix,
                self.contract.major,
                port.domain,
                parts.window,
                index,
                compression=port.compression,
            )
            chunk = lines[offset : offset + port.part_max_records]
            await self._put(key, chunk, port.compression, "data", versioned=True)

    async def _lines(self, key: str, compression: str) -> list[bytes]:
        found = await self.store.get(key)
        if found is None:
            return []
        return await asyncio.to_thread(decode_part, found.data, compression)

    async def _put(
        self, key: str, lines: Sequence[bytes], compression: str, kind: str, *, versioned: bool
    ) -> None:
        body = await asyncio.to_thread(encode_part, lines, compression)
        metadata = {"domain": self.port.domain, "records": str(len(lines))}
        if versioned:
            metadata["x-schema-version"] = self.contract.version

        def put() -> Awaitable[str]:
            return self.store.put(key, body, metadata=metadata)

        if self.fence is None:
            await put()
        else:
            await self.fence.guarded(f"put {key}", put)
        self.metrics.object_written(kind, len(body))


def _identity(record: dict[str, Any]) -> bytes:
    """A record's content, canonical (sorted keys): equal records land once per DLQ line."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


async def _account(
    checkpoints: CheckpointStore,
    window: Window,
    replay_records: int,
    clock: Clock,
    *,
    before: RecentWindow | None,
) -> int:
    """Make the checkpoint include the window's ``replay_records``, by CAS; returns the number
    of records moved from dead-lettered to landed (0 when it already did).

    The totals change, and so do the window's counts where the checkpoint keeps them (last
    window, re-export ledger), and its replay count. A lost CAS reloads and retries, unless the
    window itself was re-exported since the replay read it (its ledger entry is no longer
    ``before``): that raises ``CheckpointConflictError`` (run ``lake audit``, then the replay
    again). ``AccountingError`` if the checkpoint already includes more replay records than the
    window holds (replay parts were removed by hand).
    """
    for attempt in range(1, _CAS_ATTEMPTS + 1):
        checkpoint, etag = await checkpoints.load()
        if checkpoint is None:
            raise AccountingError(f"{checkpoints.key} vanished during the replay")
        if checkpoint.recent.get(window.label) != before:
            raise CheckpointConflictError(
                f"window {window.label} was re-exported during the replay; audit, then run again"
            )
        included = checkpoint.replayed.get(window.label, 0)
        moved = replay_records - included
        if moved == 0:
            return 0
        if moved < 0:
            raise AccountingError(
                f"window {window.label}: the checkpoint includes {included} replayed records, "
                f"its replay parts hold {replay_records}; run lake audit"
            )
        updated = checkpoint.replay_moved(
            window, moved, replay_records=replay_records, at=clock.now()
        )
        try:
            await checkpoints.commit(updated, expect_etag=etag)
        except CheckpointConflictError:
            if attempt == _CAS_ATTEMPTS:
                raise
            continue
        return moved
    raise AssertionError("unreachable")  # the loop returns or raises
