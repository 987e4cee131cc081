"""What one data product holds in the lake: its parts, by window and series (audit and replay).

Owns the replay part series (data parts numbered from ``REPLAY_FIRST_PART`` in the window's own
key space, so every reader of ``v{MAJOR}/`` sees them and a re-export of the window deletes them
as stale) and ``take_inventory``, which lists a product's prefix once and sorts its keys into
windows. It lists keys only: it never reads or writes objects, and never judges what it finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from producer.lake.keys import (
    DLQ_DIR,
    MAX_PART,
    OLDER_MAJOR_DLQ_FIRST_PART,
    STREAM_DLQ_FIRST_PART,
    STREAM_DLQ_PARTS,
    PartKey,
    data_key,
    parse_part_key,
)
from producer.lake.store import ObjectStore
from producer.windows import Window

__all__ = [
    "REPLAY_FIRST_PART",
    "SERIES",
    "Inventory",
    "Part",
    "Series",
    "WindowParts",
    "replay_key",
    "take_inventory",
]

REPLAY_FIRST_PART = 90_000
"""Data parts from this number up hold records moved out of the DLQ by ``dlq replay``.

The export writes parts 0, 1, ... (50 000 records each by default, so it never gets near); the
writer's stale-part cleanup of a re-exported window removes replay parts with the rest.
"""

Series = Literal["export", "replay", "dlq", "stream_dlq", "older_dlq"]
SERIES: tuple[Series, ...] = ("export", "replay", "dlq", "stream_dlq", "older_dlq")
_OUR_FOLDER = re.compile(rf"^(?:v\d+|{DLQ_DIR})/")


@dataclass(frozen=True, slots=True)
class Part:
    """One part object: its key, what the key says, and the series it belongs to."""

    key: str
    parsed: PartKey

    @property
    def series(self) -> Series:
        """``dlq``, ``stream_dlq`` (DLQ parts in ``STREAM_DLQ_PARTS``: landed records the event
        stream refused), ``older_dlq`` (DLQ parts from ``OLDER_MAJOR_DLQ_FIRST_PART``),
        ``replay`` (data parts from ``REPLAY_FIRST_PART``) or ``export``."""
        if self.parsed.kind == "dlq":
            if self.parsed.part >= OLDER_MAJOR_DLQ_FIRST_PART:
                return "older_dlq"
            return "stream_dlq" if self.parsed.part in STREAM_DLQ_PARTS else "dlq"
        return "replay" if self.parsed.part >= REPLAY_FIRST_PART else "export"

    @property
    def number(self) -> int:
        """The part's position within its series (0 for the first part)."""
        offset = {
            "replay": REPLAY_FIRST_PART,
            "stream_dlq": STREAM_DLQ_FIRST_PART,
            "older_dlq": OLDER_MAJOR_DLQ_FIRST_PART,
        }
        return self.parsed.part - offset.get(self.series, 0)


@dataclass(slots=True)
class WindowParts:
    """The parts of one window, each series sorted by part number.

    ``export`` and ``replay`` hold the data parts of ``major`` (the newest major the window has
    data under); ``older_majors`` lists other majors that also hold data parts of it.
    ``dlq`` holds the rejections of the newest major, ``older_dlq`` those of an older major
    written side by side during a migration, ``stream_dlq`` the landed records the event stream
    refused (``too_large_for_stream``).
    """

    window: Window
    major: int | None = None
    export: list[Part] = field(default_factory=list)
    replay: list[Part] = field(default_factory=list)
    dlq: list[Part] = field(default_factory=list)
    stream_dlq: list[Part] = field(default_factory=list)
    older_dlq: list[Part] = field(default_factory=list)
    older_majors: list[int] = field(default_factory=list)

    def series(self, name: Series) -> list[Part]:
        """The parts of one series."""
        return {
            "export": self.export,
            "replay": self.replay,
            "dlq": self.dlq,
            "stream_dlq": self.stream_dlq,
            "older_dlq": self.older_dlq,
        }[name]


@dataclass(frozen=True, slots=True)
class Inventory:
    """A product's windows that have parts (sorted by window) and its stray keys.

    A stray is a key under ``v{N}/`` or ``failed-records/`` of the prefix that is not one of this
    domain's part keys (a foreign, renamed or hand-made object that readers would still pick up).
    """

    windows: dict[Window, WindowParts]
    strays: tuple[str, ...]

    @property
    def objects(self) -> int:
        """How many part objects the product holds."""
        return sum(len(w.series(name)) for w in self.windows.values() for name in SERIES)


def replay_key(
    prefix: str, major: int, domain: str, window: Window, index: int, *, compression: str
) -> str:
    """The key of the ``index``-th replay part of ``window`` (a data key, part 90000 + index).

    ``ValueError`` past the last part number or for what ``data_key`` refuses.
    """
    if not 0 <= index <= MAX_PART - REPLAY_FIRST_PART:
        raise ValueError(f"replay part index {index} outside 0..{MAX_PART - REPLAY_FIRST_PART}")
    return data_key(prefix, major, domain, window, REPLAY_FIRST_PART + index, compression)


async def take_inventory(store: ObjectStore, prefix: str, domain: str) -> Inventory:
    """List ``prefix`` once and sort ``domain``'s part keys by window and series.

    ``_state/`` and folders that are not ``v{N}/`` or ``failed-records/`` are skipped. Raises
    ``StoreError`` from the store.
    """
    cleaned = prefix.strip("/")
    base = f"{cleaned}/" if cleaned else ""
    windows: dict[Window, WindowParts] = {}
    data: dict[Window, dict[int, list[Part]]] = {}
    strays: list[str] = []
    for key in await store.list_keys(base):
        relative = key[len(base) :]
        if not _OUR_FOLDER.match(relative):
            continue
        try:
            parsed = parse_part_key(key)
        except ValueError:
            strays.append(key)
            continue
        if parsed.prefix != cleaned or parsed.domain != domain:
            strays.append(key)
            continue
        part = Part(key, parsed)
        entry = windows.setdefault(parsed.window, WindowParts(parsed.window))
        if parsed.major is None:
            entry.series(part.series).append(part)
        else:
            data.setdefault(parsed.window, {}).setdefault(parsed.major, []).append(part)
    for window, by_major in data.items():
        entry = windows[window]
        entry.major = max(by_major)
        entry.older_majors = sorted(m for m in by_major if m != entry.major)
        for part in by_major[entry.major]:
            entry.series(part.series).append(part)
    for entry in windows.values():
        for name in SERIES:
            entry.series(name).sort(key=lambda p: p.parsed.part)
    return Inventory(dict(sorted(windows.items())), tuple(strays))
