"""Step 6, commit: the domain's checkpoint (watermark + counts), advanced by ETag compare-and-swap.

Owns the versioned checkpoint JSON at ``{prefix}/_state/checkpoint.json``, loading it, and
committing it conditionally so two replicas can never both own a domain (and, given the domain's
writer lease, only while that lease is held: ``producer.lake.lease``). It is called only after a
window's data and DLQ parts are written; it must not write lake data, and it never "repairs" a
corrupt or foreign checkpoint by starting over: that is an operator's decision.

Every change of a checkpoint is a method of ``Checkpoint``, run by production and by the tests
alike: ``committed`` (a window landed, or was re-exported by a re-sweep or ``backfill``),
``reswept`` (an unchanged re-sweep: its schedule only) and ``replay_moved`` (``dlq replay`` moved
dead letters to the data); ``empty`` is a domain's state before its first commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson

from producer.errors import (
    AccountingError,
    CheckpointConflictError,
    PreconditionFailedError,
    StoreError,
)
from producer.lake.keys import checkpoint_key
from producer.lake.lease import Fence
from producer.lake.store import ObjectStore, Precondition
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Window

__all__ = [
    "DEFAULT_PLATFORM",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointStore",
    "Counts",
    "RecentWindow",
    "WindowRecord",
    "is_committed",
]

FORMAT_VERSION = 1
DEFAULT_PLATFORM = "genesys"
"""A checkpoint that names no platform was written by a domain reading Genesys Cloud."""
_T = TypeVar("_T")
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
_JSON_OPTIONS |= orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True)
class Counts:
    """Records of a window (or in total) by outcome; ``balanced`` is the accounting invariant."""

    fetched: int = 0
    landed: int = 0
    dead_lettered: int = 0

    def __post_init__(self) -> None:
        if min(self.fetched, self.landed, self.dead_lettered) < 0:
            raise ValueError(f"counts cannot be negative: {self}")

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.fetched + other.fetched,
            self.landed + other.landed,
            self.dead_lettered + other.dead_lettered,
        )

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.fetched - other.fetched,
            self.landed - other.landed,
            self.dead_lettered - other.dead_lettered,
        )

    @property
    def balanced(self) -> bool:
        """True when ``fetched == landed + dead_lettered``."""
        return self.fetched == self.landed + self.dead_lettered

    def as_dict(self) -> dict[str, int]:
        """The three figures by name, in the order documents and reports write them."""
        return {
            "fetched": self.fetched,
            "landed": self.landed,
            "dead_lettered": self.dead_lettered,
        }


@dataclass(frozen=True)
class WindowRecord:
    """The last window landed: its bounds, its counts and how many parts of each kind it has."""

    start: datetime
    end: datetime
    counts: Counts
    data_parts: int
    dlq_parts: int

    @property
    def window(self) -> Window:
        """The window as a ``Window`` (raises ``ValueError`` if the bounds are not one)."""
        return Window(self.start, self.end)


@dataclass(frozen=True)
class RecentWindow:
    """A window inside the re-sweep horizon: its latest counts, when it was first exported and
    when it was last exported (its re-sweep schedule).

    ``first_exported_at`` is reused as the ``rejected_at`` of its dead letters on every later
    export, so an unchanged window produces byte-identical objects and is not rewritten.
    ``last_exported_at`` is when it was last exported or re-swept, changed or not: the window is
    due for a re-sweep once the re-sweep interval has passed since then. None (a checkpoint
    written before the schedule was kept) counts as ``first_exported_at``.
    """

    counts: Counts
    first_exported_at: datetime
    last_exported_at: datetime | None = None

    @property
    def exported_at(self) -> datetime:
        """When the window was last exported (``first_exported_at`` if that was not kept)."""
        return self.last_exported_at or self.first_exported_at


@dataclass(frozen=True)
class Checkpoint:
    """A domain's committed progress: every window ending at or before ``watermark`` is landed.

    ``totals`` are the counts of what the lake holds: the sum over every window committed, with a
    re-swept window's latest counts replacing its earlier ones. ``recent`` keeps the counts of the
    windows still inside the re-sweep horizon, and of those that ended in the 24 hours before the
    watermark (``Window.label`` → ``RecentWindow``), so that replacement is exact and ``status``
    can say what the last day amounted to. ``source_available`` is the source's availability date
    as the producer last saw it (None: unknown), for the lag ``status`` reports. ``replayed``
    says, per window (``Window.label``), how many records of
    its replay parts (``dlq replay``) the counts include: the lake's replay parts minus this is
    what a replay interrupted before its checkpoint still has to account for. ``platform`` is the
    source platform the domain reads now and ``platform_since`` the watermark at which it took
    over (None: from the start): windows before it were landed from another platform, so they
    are neither re-swept nor backfilled from this one (their records would be replaced by the
    other platform's, which has none of them). Datetimes must be aware.
    """

    domain: str
    watermark: datetime
    schema_version: str
    totals: Counts
    last_window: WindowRecord | None
    updated_at: datetime
    format_version: int = field(default=FORMAT_VERSION)
    recent: Mapping[str, RecentWindow] = field(default_factory=dict)
    replayed: Mapping[str, int] = field(default_factory=dict)
    source_available: datetime | None = None
    platform: str = DEFAULT_PLATFORM
    platform_since: datetime | None = None

    def __post_init__(self) -> None:
        instants = [self.watermark, self.updated_at]
        if self.last_window is not None:
            instants += [self.last_window.start, self.last_window.end]
        if self.platform_since is not None:
            instants.append(self.platform_since)
        if any(instant.tzinfo is None for instant in instants):
            raise ValueError("checkpoint datetimes must be timezone-aware (UTC)")

    @classmethod
    def empty(cls, domain: str, *, watermark: datetime, schema_version: str) -> Checkpoint:
        """A domain's progress before its first commit: nothing landed, starting at
        ``watermark`` (``updated_at`` is the watermark; the first commit replaces it)."""
        return cls(
            domain=domain,
            watermark=watermark,
            schema_version=schema_version,
            totals=Counts(),
            last_window=None,
            updated_at=watermark,
        )

    def on_platform(self, platform: str) -> Checkpoint:
        """The checkpoint as seen by a domain now reading ``platform``: itself when that is its
        platform; else the switch is recorded at the watermark (``platform_since``), so nothing
        landed before it is re-exported from the new platform. Stored by the next commit."""
        if platform == self.platform:
            return self
        return replace(self, platform=platform, platform_since=self.watermark)

    def exports_from_here(self, window: Window) -> bool:
        """Whether ``window`` was landed (or is to be) from the current platform."""
        return self.platform_since is None or window.start >= self.platform_since

    def committed(
        self,
        record: WindowRecord,
        *,
        first_exported_at: datetime,
        replaces: Counts | None,
        keep: timedelta,
        schema_version: str,
        source_available: datetime | None,
        at: datetime,
    ) -> Checkpoint:
        """The checkpoint after window ``record`` landed (written, accounted) at ``at``.

        The watermark moves to the window's end when the window continues it and is final: closed
        (it ended by ``at``) and fully available (by ``source_available``, the source's
        availability date, None: no such limit). A re-export behind the watermark, or a snapshot
        of a week still in progress (WFM), is committed (its counts and objects) without moving
        it. ``replaces`` (a re-export's earlier counts) is taken out of the totals
        before the window's counts are added. The ledger (``recent``) gets the window, exported
        first at ``first_exported_at`` and last at ``at``, and keeps only the windows that end
        within ``keep`` of the new watermark. The window's replay count is dropped: the export
        deleted its replay parts, so its counts include none of them now.
        """
        window = record.window
        watermark = self.watermark
        final = window.end <= at and (source_available is None or window.end <= source_available)
        if final and window.start <= self.watermark < window.end:
            watermark = window.end
        totals = self.totals if replaces is None else self.totals - replaces
        recent = dict(self.recent)
        recent[window.label] = RecentWindow(record.counts, first_exported_at, last_exported_at=at)
        horizon = watermark - keep
        return Checkpoint(
            domain=self.domain,
            watermark=watermark,
            schema_version=schema_version,
            totals=totals + record.counts,
            last_window=record,
            updated_at=at,
            recent={
                label: kept
                for label, kept in recent.items()
                if Window.from_label(label).end > horizon
            },
            replayed={label: n for label, n in self.replayed.items() if label != window.label},
            source_available=source_available,
            platform=self.platform,
            platform_since=self.platform_since,
        )

    def reswept(self, label: str, *, at: datetime) -> Checkpoint:
        """The checkpoint after an unchanged re-sweep of window ``label`` at ``at``: only that
        window's ``last_exported_at`` and ``updated_at`` move (``KeyError`` if not recent)."""
        recent = dict(self.recent)
        recent[label] = replace(recent[label], last_exported_at=at)
        return replace(self, recent=recent, updated_at=at)

    def replay_moved(
        self, window: Window, moved: int, *, replay_records: int, at: datetime
    ) -> Checkpoint:
        """The checkpoint after ``dlq replay`` moved ``moved`` of ``window``'s dead letters to its
        data at ``at``: they count as landed instead of dead-lettered in the totals and wherever
        the window's counts are kept (last window, ledger), and the window's counts now include
        ``replay_records`` records of its replay parts. ``AccountingError`` when fewer than
        ``moved`` dead letters are recorded for it."""

        def shift(counts: Counts) -> Counts:
            if counts.dead_lettered < moved:
                raise AccountingError(
                    f"window {window.label}: {moved} records left the DLQ but the checkpoint "
                    f"records only {counts.dead_lettered} dead-lettered"
                )
            return Counts(counts.fetched, counts.landed + moved, counts.dead_lettered - moved)

        last = self.last_window
        recent = dict(self.recent)
        if window.label in recent:
            entry = recent[window.label]
            recent[window.label] = replace(entry, counts=shift(entry.counts))
        return replace(
            self,
            totals=shift(self.totals),
            last_window=replace(last, counts=shift(last.counts))
            if last is not None and last.window == window
            else last,
            recent=recent,
            replayed={**self.replayed, window.label: replay_records},
            updated_at=at,
        )


def is_committed(checkpoint: Checkpoint | None, window: Window) -> bool:
    """True when the checkpoint accounts for ``window``: it ends at or before the watermark, or
    the re-export ledger holds it (an open WFM week). Other parts are an attempt in progress or
    an abandoned one, which the producer rewrites."""
    if checkpoint is None:
        return False
    return window.end <= checkpoint.watermark or window.label in checkpoint.recent


class CheckpointStore:
    """Loads and commits one domain's checkpoint in its data product's ``_state``.

    Not shared between tasks; one worker per domain owns it. ``fence``: commits run through it
    (the writer lease), so a writer that lost the domain cannot commit either.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        prefix: str,
        domain: str,
        metrics: DomainMetrics,
        fence: Fence | None = None,
    ) -> None:
        self.store = store
        self.fence = fence
        self.domain = domain
        self.metrics = metrics
        self.key = checkpoint_key(prefix)
        self._known: tuple[str, Checkpoint] | None = None  # the last state seen, with its ETag

    async def load(self) -> tuple[Checkpoint | None, str | None]:
        """The stored checkpoint and its ETag, or ``(None, None)`` when there is none yet.

        A checkpoint that cannot be read (bad JSON, missing field, another domain's, a newer
        format) raises ``StoreError`` naming the key: the domain must not silently restart.
        """
        found = await self.store.get(self.key)
        if found is None:
            self._known = None
            return None, None
        checkpoint = self._parse(found.data)
        self._known = (found.etag, checkpoint)
        return checkpoint, found.etag

    async def commit(self, checkpoint: Checkpoint, *, expect_etag: str | None) -> str:
        """Store ``checkpoint`` if the stored one still has ``expect_etag``; returns the new ETag.

        ``expect_etag=None`` creates the first checkpoint and fails if one exists. A lost
        condition raises ``CheckpointConflictError`` (another writer owns the domain).
        ``ValueError`` for another domain's checkpoint, unbalanced counts, or a watermark older
        than the stored one. If cancelled, the checkpoint is either the old or the new one.
        """
        self._check(checkpoint)
        if expect_etag is not None:
            previous = await self._expected(expect_etag)
            if checkpoint.watermark < previous.watermark:
                raise ValueError(
                    f"refusing to move the {self.domain} watermark back from "
                    f"{previous.watermark.isoformat()} to {checkpoint.watermark.isoformat()}"
                )
        body = _encode(checkpoint)
        try:
            etag = await self._put(body, expect_etag)
        except PreconditionFailedError:
            # botocore retries a put whose response was lost; the retry then fails its own
            # condition. Identical bytes (same updated_at) mean the first attempt was ours.
            current = await self.store.get(self.key)
            if current is None or current.data != body:
                raise self._conflict() from None
            etag = current.etag
        self.metrics.object_written("checkpoint", len(body))
        self._known = (etag, checkpoint)
        return etag

    async def _put(self, body: bytes, expect_etag: str | None) -> str:
        def put() -> Awaitable[str]:
            return self.store.put(self.key, body, only_if=Precondition(expect_etag))

        if self.fence is None:
            return await put()
        return await self.fence.guarded(f"commit {self.key}", put)

    def _check(self, checkpoint: Checkpoint) -> None:
        if checkpoint.domain != self.domain:
            raise ValueError(f"checkpoint of {checkpoint.domain!r} given to {self.domain!r}")
        windows = [] if checkpoint.last_window is None else [checkpoint.last_window.counts]
        for counts in [checkpoint.totals, *windows]:
            if not counts.balanced:
                raise ValueError(
                    f"refusing to commit unbalanced counts for {self.domain}: fetched "
                    f"{counts.fetched} != landed {counts.landed} + dead-lettered "
                    f"{counts.dead_lettered}"
                )

    async def _expected(self, expect_etag: str) -> Checkpoint:
        if self._known is not None and self._known[0] == expect_etag:
            return self._known[1]
        found = await self.store.get(self.key)
        if found is None or found.etag != expect_etag:
            raise self._conflict()
        checkpoint = self._parse(found.data)
        self._known = (found.etag, checkpoint)
        return checkpoint

    def _conflict(self) -> CheckpointConflictError:
        return CheckpointConflictError(
            f"{self.store.description}/{self.key} was changed by another writer: "
            f"{self.domain} is owned elsewhere"
        )

    def _parse(self, data: bytes) -> Checkpoint:
        where = f"{self.store.description}/{self.key}"
        try:
            checkpoint = _decode(data)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(
                f"checkpoint {where} is corrupt ({type(exc).__name__}: {exc}); fix or remove it"
            ) from None
        if checkpoint.domain != self.domain:
            raise StoreError(
                f"checkpoint {where} belongs to domain {checkpoint.domain!r}, not "
                f"{self.domain!r}: two domains share one prefix?"
            )
        return checkpoint


def _encode(checkpoint: Checkpoint) -> bytes:
    last = checkpoint.last_window
    document = {
        "format_version": checkpoint.format_version,
        "domain": checkpoint.domain,
        "watermark": _utc(checkpoint.watermark),
        "schema_version": checkpoint.schema_version,
        "totals": checkpoint.totals.as_dict(),
        "last_window": None
        if last is None
        else {
            "start": _utc(last.start),
            "end": _utc(last.end),
            "counts": last.counts.as_dict(),
            "data_parts": last.data_parts,
            "dlq_parts": last.dlq_parts,
        },
        "updated_at": _utc(checkpoint.updated_at),
        "recent_windows": {
            label: {
                "counts": recent.counts.as_dict(),
                "first_exported_at": _utc(recent.first_exported_at),
                "last_exported_at": _utc(recent.exported_at),
            }
            for label, recent in sorted(checkpoint.recent.items())
        },
    }
    if checkpoint.replayed:  # absent until a replay: older checkpoints read the same
        document["replayed_windows"] = dict(sorted(checkpoint.replayed.items()))
    if checkpoint.source_available is not None:  # absent: unknown (older checkpoints too)
        document["source_available"] = _utc(checkpoint.source_available)
    if checkpoint.platform != DEFAULT_PLATFORM or checkpoint.platform_since is not None:
        # absent: Genesys Cloud from the start (older checkpoints too)
        document["platform"] = checkpoint.platform
        if checkpoint.platform_since is not None:
            document["platform_since"] = _utc(checkpoint.platform_since)
    return orjson.dumps(document, option=_JSON_OPTIONS)


def _decode(data: bytes) -> Checkpoint:
    document = orjson.loads(data)
    version = document["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"format_version {version!r} is newer than this producer's")
    last = document["last_window"]
    return Checkpoint(
        domain=_typed(document["domain"], str),
        watermark=_instant(document["watermark"]),
        schema_version=_typed(document["schema_version"], str),
        totals=_counts_from(document["totals"]),
        last_window=None
        if last is None
        else WindowRecord(
            start=_instant(last["start"]),
            end=_instant(last["end"]),
            counts=_counts_from(last["counts"]),
            data_parts=_typed(last["data_parts"], int),
            dlq_parts=_typed(last["dlq_parts"], int),
        ),
        updated_at=_instant(document["updated_at"]),
        format_version=version,
        recent={
            _typed(label, str): RecentWindow(
                counts=_counts_from(recent["counts"]),
                first_exported_at=_instant(recent["first_exported_at"]),
                # absent in checkpoints written before the re-sweep schedule was kept
                last_exported_at=_instant(recent["last_exported_at"])
                if recent.get("last_exported_at") is not None
                else None,
            )
            for label, recent in _typed(document.get("recent_windows", {}), dict).items()
        },
        replayed={
            _typed(label, str): _typed(count, int)
            for label, count in _typed(document.get("replayed_windows", {}), dict).items()
        },
        source_available=_instant(document["source_available"])
        if document.get("source_available") is not None
        else None,
        platform=_typed(document.get("platform", DEFAULT_PLATFORM), str),
        platform_since=_instant(document["platform_since"])
        if document.get("platform_since") is not None
        else None,
    )


def _utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def _counts_from(value: Any) -> Counts:
    return Counts(
        fetched=_typed(value["fetched"], int),
        landed=_typed(value["landed"], int),
        dead_lettered=_typed(value["dead_lettered"], int),
    )


def _instant(value: Any) -> datetime:
    instant = datetime.fromisoformat(_typed(value, str))
    if instant.tzinfo is None:
        raise ValueError(f"{value!r} has no timezone")
    return instant.astimezone(UTC)


def _typed(value: Any, kind: type[_T]) -> _T:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value
