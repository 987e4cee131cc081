"""Step 5b, its memory: which events of a window its stream has already taken.

A re-sweep that changed a window must publish the records that changed (new event ids) and not
the ones that did not. For each window and major the stream was published to, a marker object
``{prefix}/_state/published/v{MAJOR}/{window label}.ids`` holds the event ids the stream took
for the window's lines as they are now: 16 bytes each (the first half of the event id), sorted.
It is written after the window's events are published and before its checkpoint commits; a
later export of the window publishes only the events whose id it does not hold.

At least once still holds: a process that dies after publishing and before the marker is
written publishes the window again (same ids); once the marker is written, the stream has
taken every event it lists. Events the stream refused (too large) are never listed, so they are
offered (and refused, and dead-lettered) the same way again. Markers of windows more than
``keep`` before the window written are removed as markers are written: a window that old is
not re-swept (a re-export past it, by ``backfill``, publishes its window whole again).
Writes and deletes run through the writer's fence. No publishing here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import timedelta

from producer.lake.keys import published_key, published_prefix
from producer.lake.writer import BatchWriter
from producer.windows import Window, format_instant

__all__ = ["ID_BYTES", "PublishedMarks", "short_id"]

ID_BYTES = 16


def short_id(event_id: str) -> bytes:
    """The part of a (hex SHA-256) event id a marker keeps."""
    return bytes.fromhex(event_id[: 2 * ID_BYTES])


class PublishedMarks:
    """The markers of one window, one per major (read and written with ``writer``'s store)."""

    def __init__(self, writer: BatchWriter, window: Window, *, keep: timedelta) -> None:
        self._writer = writer
        self._window = window
        self._keep = keep

    def key(self, version: str) -> str:
        """The marker's key for ``version``'s major."""
        return published_key(self._writer.prefix, _major(version), self._window)

    async def load(self, version: str) -> frozenset[bytes]:
        """The ids the stream took for this window and major (empty: none known)."""
        found = await self._writer.store.get(self.key(version))
        if found is None:
            return frozenset()
        data = found.data
        return frozenset(data[i : i + ID_BYTES] for i in range(0, len(data), ID_BYTES))

    async def save(self, version: str, ids: Iterable[bytes]) -> None:
        """Record ``ids`` as what the stream holds of the window; drop markers past ``keep``."""
        writer = self._writer
        key = self.key(version)
        body = b"".join(sorted(set(ids)))
        await writer.guarded(f"put {key}", functools.partial(writer.store.put, key, body))
        oldest = format_instant(self._window.start - self._keep)
        for old in await writer.store.list_keys(published_prefix(writer.prefix, _major(version))):
            end = old.rsplit("/", 1)[-1].partition("-")[2]  # the window's end, a sortable stamp
            if end < oldest:
                await writer.guarded(f"delete {old}", functools.partial(writer.store.delete, old))


def _major(version: str) -> int:
    return int(version.partition(".")[0])
