"""Step 5, sink: one window's landed and dead-lettered lines → data parts + DLQ parts.

Owns part numbering and size, skipping parts whose identical bytes are already stored, and
removing stale parts of an earlier attempt, so after ``finish`` the window's objects are exactly
this attempt's. Every put is whole-object, so cancellation leaves only whole parts; the checkpoint
(committed later, by the worker) is what marks a window complete. It must not touch checkpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from producer.lake.encode import encode_part, require_codec
from producer.lake.keys import PartKind, data_key, dlq_key, window_part_prefix
from producer.lake.store import ObjectStore, md5_etag
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Window

__all__ = ["BatchWriter", "WindowLanded", "WindowWrite"]

_KINDS: tuple[PartKind, ...] = ("data", "dlq")


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
    ``object_metadata`` is attached to every part (e.g. the schema version), plus ``records``.
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
    ) -> None:
        require_codec(compression)
        if part_max_records <= 0:
            raise ValueError(f"part_max_records must be > 0, got {part_max_records}")
        self.store = store
        self.prefix = prefix
        self.domain = domain
        self.major = major
        self.compression = compression
        self.part_max_records = part_max_records
        self.metrics = metrics
        self.object_metadata = dict(object_metadata or {})

    def open_window(self, window: Window) -> WindowWrite:
        """Start writing ``window``; nothing touches the store until a part is full or finished."""
        return WindowWrite(self, window)


class WindowWrite:
    """One attempt at writing one window: buffers up to ``part_max_records`` lines per kind.

    Not safe for concurrent use by several tasks; ``add_*`` and ``finish`` are awaited in turn.
    Cancelled at any point, it leaves whole objects only (some new, maybe some stale): the window
    is simply written again by the next attempt.
    """

    def __init__(self, writer: BatchWriter, window: Window) -> None:
        self._writer = writer
        self.window = window
        self._buffers: dict[PartKind, list[bytes]] = {kind: [] for kind in _KINDS}
        self._parts: dict[PartKind, int] = dict.fromkeys(_KINDS, 0)
        self._lines: dict[PartKind, int] = dict.fromkeys(_KINDS, 0)
        self._keys: set[str] = set()
        self._bytes = 0
        self._unchanged = 0
        self._finished = False

    async def add_landed(self, line: bytes) -> None:
        """Add one envelope line (serialised JSON, no newline); may write a full data part."""
        await self._add("data", line)

    async def add_dead_letter(self, line: bytes) -> None:
        """Add one DLQ line (serialised JSON, no newline); may write a full DLQ part."""
        await self._add("dlq", line)

    async def finish(self) -> WindowLanded:
        """Write the last parts, then delete this window's parts not written by this attempt.

        Stale parts are those of an earlier attempt that produced more parts (or used another
        compression). An empty kind writes no object. Raises ``StoreError`` from the store;
        may be called once.
        """
        self._check_open()
        self._finished = True
        for kind in _KINDS:
            if self._buffers[kind]:
                await self._flush(kind)
        writer = self._writer
        for kind in _KINDS:
            prefix = window_part_prefix(
                kind, writer.prefix, writer.domain, self.window, writer.major
            )
            for key in await writer.store.list_keys(prefix):
                if key not in self._keys:
                    await writer.store.delete(key)
        return WindowLanded(
            data_parts=self._parts["data"],
            dlq_parts=self._parts["dlq"],
            landed=self._lines["data"],
            dead_lettered=self._lines["dlq"],
            bytes_written=self._bytes,
            objects_unchanged=self._unchanged,
        )

    async def _add(self, kind: PartKind, line: bytes) -> None:
        self._check_open()
        buffer = self._buffers[kind]
        buffer.append(line)
        if len(buffer) >= self._writer.part_max_records:
            await self._flush(kind)

    async def _flush(self, kind: PartKind) -> None:
        writer = self._writer
        lines = self._buffers[kind]
        part = self._parts[kind]
        key = self._key(kind, part)
        # Compressing 50k lines takes long enough to stall other domains' loops: use a thread.
        body = await asyncio.to_thread(encode_part, lines, writer.compression)
        if await writer.store.etag(key) == md5_etag(body):
            writer.metrics.object_unchanged(kind)
            self._unchanged += 1
        else:
            metadata = {**writer.object_metadata, "records": str(len(lines))}
            await writer.store.put(key, body, metadata=metadata)
            writer.metrics.object_written(kind, len(body))
            self._bytes += len(body)
        self._buffers[kind] = []
        self._keys.add(key)
        self._parts[kind] = part + 1
        self._lines[kind] += len(lines)

    def _key(self, kind: PartKind, part: int) -> str:
        writer = self._writer
        if kind == "data":
            return data_key(
                writer.prefix, writer.major, writer.domain, self.window, part, writer.compression
            )
        return dlq_key(writer.prefix, writer.domain, self.window, part, writer.compression)

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError(f"window {self.window.label} is already finished")
