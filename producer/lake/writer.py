"""Step 5, sink: one window's landed and dead-lettered lines → data parts + DLQ parts.

Owns part numbering and size, skipping parts whose identical bytes are already stored, and
removing stale parts of an earlier attempt, so after ``finish`` the window's objects are exactly
this attempt's. Each kind's window prefix is listed once, before its first part: a part whose key
was not there is put without asking the store about it first (one request a part, not two, for a
window written the first time); one that was there is compared by its ETag. Lines are compressed
in batches as they come and a part closes at a record or size bound, so memory does not grow
with the window. Every put is whole-object, so cancellation
leaves only whole parts; the checkpoint (committed later, by the worker) is what marks a window
complete. Given a ``Fence`` (the domain's writer lease), every put and delete runs through it, so
a writer that lost the domain to another cannot overwrite or delete what the other committed.
It must not touch checkpoints.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from producer.lake.encode import PartEncoder, require_codec
from producer.lake.keys import (
    OLDER_MAJOR_DLQ_PARTS,
    PRIMARY_DLQ_PARTS,
    STREAM_DLQ_PARTS,
    PartKind,
    data_key,
    dlq_key,
    parse_part_key,
    window_part_prefix,
)
from producer.lake.lease import Fence
from producer.lake.store import ObjectStore, md5_etag
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Window

__all__ = ["PART_MAX_BYTES", "BatchWriter", "WindowLanded", "WindowWrite"]

_KINDS: tuple[PartKind, ...] = ("data", "dlq")
# A part also closes at this much NDJSON (before compression): a window of a million records
# with a tenth dead-lettered (each line carrying its ~4 KB source) must not buffer gigabytes.
PART_MAX_BYTES = 32 * 1024 * 1024
# Lines are compressed in a worker thread a batch at a time: large enough that the hand-off
# costs nothing, small enough that the event loop's other tasks never wait long.
_BATCH_BYTES = 1024 * 1024
_T = TypeVar("_T")


@dataclass(frozen=True)
class WindowLanded:
    """What ``WindowWrite.finish`` left in the lake for one window.

    ``landed``/``dead_lettered`` count lines; ``bytes_written`` counts compressed bytes actually
    put (unchanged parts excluded); ``objects_unchanged`` parts were already there, byte for byte.
    """

    data_parts: int
    dlq_parts: int
    landed: int
    dead_lettered: int
    bytes_written: int
    objects_unchanged: int


class BatchWriter:
    """Writes windows of one domain's data product to its output port (prefix, major version).

    ``compression`` is checked now (``ConfigError`` if unknown or its library is missing).
    A part holds at most ``part_max_records`` lines and closes once it reaches
    ``part_max_bytes`` of NDJSON. ``object_metadata`` is attached to every part (e.g. the schema
    version), plus ``records``. ``older_major`` marks the writer of an older major written side
    by side with the newest: its DLQ parts are numbered from ``OLDER_MAJOR_DLQ_FIRST_PART``, and
    each writer removes stale DLQ parts of its own number range only (``stream_rejects`` gives
    the writer of the event stream's refusals, DLQ parts only, in their own range).
    ``fence``: every put and delete runs through it (``LeaseLostError``, nothing written, once
    the lease is gone).
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        prefix: str,
        domain: str,
        major: int,
        compression: str,
        part_max_records: int,
        metrics: DomainMetrics,
        object_metadata: Mapping[str, str] | None = None,
        part_max_bytes: int = PART_MAX_BYTES,
        older_major: bool = False,
        fence: Fence | None = None,
    ) -> None:
        require_codec(compression)
        if part_max_records <= 0:
            raise ValueError(f"part_max_records must be > 0, got {part_max_records}")
        if part_max_bytes <= 0:
            raise ValueError(f"part_max_bytes must be > 0, got {part_max_bytes}")
        self.store = store
        self.prefix = prefix
        self.domain = domain
        self.major = major
        self.compression = compression
        self.part_max_records = part_max_records
        self.part_max_bytes = part_max_bytes
        self.metrics = metrics
        self.object_metadata = dict(object_metadata or {})
        self.fence = fence
        self.dlq_parts = OLDER_MAJOR_DLQ_PARTS if older_major else PRIMARY_DLQ_PARTS
        self.kinds = _KINDS

    def stream_rejects(self) -> BatchWriter:
        """A writer of DLQ parts only, numbered in ``STREAM_DLQ_PARTS``: the records of a window
        the event stream refused for good (they stay landed; ``producer/bus/window.py``)."""
        writer = copy.copy(self)
        writer.object_metadata = dict(self.object_metadata)
        writer.dlq_parts = STREAM_DLQ_PARTS
        writer.kinds = ("dlq",)
        return writer

    def open_window(self, window: Window) -> WindowWrite:
        """Start writing ``window``; nothing touches the store until a part is full or finished."""
        return WindowWrite(self, window)

    async def guarded(self, what: str, operation: Callable[[], Awaitable[_T]]) -> _T:
        """``operation`` through the fence, if there is one."""
        if self.fence is None:
            return await operation()
        return await self.fence.guarded(what, operation)


class _OpenPart:
    """The part being filled: compressed batches so far, and the batch still being gathered."""

    def __init__(self, compression: str) -> None:
        self.encoder = PartEncoder(compression)
        self.batch: list[bytes] = []
        self.batch_bytes = 0
        self.lines = 0
        self.raw_bytes = 0

    def take_batch(self) -> list[bytes]:
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        return batch

    def finish(self, batch: list[bytes]) -> bytes:
        self.encoder.add(batch)
        return self.encoder.finish()


class WindowWrite:
    """One attempt at writing one window: one open part per kind, compressed as lines arrive.

    Not safe for concurrent use by several tasks; ``add_*`` and ``finish`` are awaited in turn.
    Cancelled at any point, it leaves whole objects only (some new, maybe some stale): the window
    is simply written again by the next attempt.
    """

    def __init__(self, writer: BatchWriter, window: Window) -> None:
        self._writer = writer
        self.window = window
        self._kinds = writer.kinds
        self._open: dict[PartKind, _OpenPart | None] = dict.fromkeys(_KINDS)
        self._parts: dict[PartKind, int] = dict.fromkeys(_KINDS, 0)
        self._lines: dict[PartKind, int] = dict.fromkeys(_KINDS, 0)
        self._keys: set[str] = set()
        self._stored: dict[PartKind, set[str]] = {}  # each kind's keys before this attempt
        self._bytes = 0
        self._unchanged = 0
        self._finished = False

    async def add_landed(self, line: bytes) -> None:
        """Add one envelope line (serialised JSON, no newline); may write a full data part."""
        await self._add("data", (line,))

    async def add_dead_letter(self, line: bytes) -> None:
        """Add one DLQ line (serialised JSON, no newline); may write a full DLQ part."""
        await self._add("dlq", (line,))

    async def add_lines(self, landed: Sequence[bytes], dead: Sequence[bytes]) -> None:
        """Add envelope lines, then DLQ lines, in order: the same parts as adding each in turn
        (a kind's parts depend only on its own lines); may write full parts."""
        if landed:
            await self._add("data", landed)
        if dead:
            await self._add("dlq", dead)

    async def finish(self) -> WindowLanded:
        """Write the last parts, then delete this window's parts not written by this attempt.

        Stale parts are those of an earlier attempt that produced more parts (or used another
        compression); DLQ parts of another writer's number range are left alone. An empty kind
        writes no object. Raises ``StoreError`` from the store;
        may be called once.
        """
        self._check_open()
        self._finished = True
        for kind in self._kinds:
            if self._open[kind] is not None:
                await self._flush(kind)
        writer = self._writer
        for kind in self._kinds:
            for key in await self._stored_keys(kind):
                if key not in self._keys and (kind == "data" or self._owns_dlq(key)):
                    delete = functools.partial(writer.store.delete, key)
                    await writer.guarded(f"delete {key}", delete)
        return WindowLanded(
            data_parts=self._parts["data"],
            dlq_parts=self._parts["dlq"],
            landed=self._lines["data"],
            dead_lettered=self._lines["dlq"],
            bytes_written=self._bytes,
            objects_unchanged=self._unchanged,
        )

    async def _add(self, kind: PartKind, lines: Iterable[bytes]) -> None:
        self._check_open()
        if kind not in self._kinds:
            raise RuntimeError(f"this writer writes {' and '.join(self._kinds)} parts only")
        writer = self._writer
        max_lines, max_bytes = writer.part_max_records, writer.part_max_bytes
        part = self._open[kind]
        for line in lines:
            if part is None:
                part = self._open[kind] = _OpenPart(writer.compression)
            part.batch.append(line)
            size = len(line) + 1
            part.batch_bytes += size
            part.raw_bytes += size
            part.lines += 1
            if part.lines >= max_lines or part.raw_bytes >= max_bytes:
                await self._flush(kind)
                part = None
            elif part.batch_bytes >= _BATCH_BYTES:
                # Compressing in the event loop would stall the other domains: use a thread.
                await asyncio.to_thread(part.encoder.add, part.take_batch())

    async def _flush(self, kind: PartKind) -> None:
        writer = self._writer
        open_part = self._open[kind]
        assert open_part is not None
        self._open[kind] = None
        part = self._parts[kind]
        key = self._key(kind, part)
        body = await asyncio.to_thread(open_part.finish, open_part.take_batch())
        stored = key in await self._stored_keys(kind)
        if stored and await writer.store.etag(key) == md5_etag(body):
            writer.metrics.object_unchanged(kind)
            self._unchanged += 1
        else:
            metadata = {**writer.object_metadata, "records": str(open_part.lines)}
            await writer.guarded(
                f"put {key}", lambda: writer.store.put(key, body, metadata=metadata)
            )
            writer.metrics.object_written(kind, len(body))
            self._bytes += len(body)
        self._keys.add(key)
        self._parts[kind] = part + 1
        self._lines[kind] += open_part.lines

    async def _stored_keys(self, kind: PartKind) -> set[str]:
        """The keys under ``kind``'s window prefix when this attempt first looked (one listing
        a kind: the writer lease keeps any other writer from adding keys meanwhile)."""
        stored = self._stored.get(kind)
        if stored is None:
            writer = self._writer
            prefix = window_part_prefix(
                kind, writer.prefix, writer.domain, self.window, writer.major
            )
            stored = self._stored[kind] = set(await writer.store.list_keys(prefix))
        return stored

    def _key(self, kind: PartKind, part: int) -> str:
        writer = self._writer
        if kind == "data":
            return data_key(
                writer.prefix, writer.major, writer.domain, self.window, part, writer.compression
            )
        return dlq_key(
            writer.prefix, writer.domain, self.window, writer.dlq_parts[part], writer.compression
        )

    def _owns_dlq(self, key: str) -> bool:
        """A DLQ key in this writer's number range (a key that is no part key: stale too)."""
        try:
            return parse_part_key(key).part in self._writer.dlq_parts
        except ValueError:
            return True

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError(f"window {self.window.label} is already finished")
