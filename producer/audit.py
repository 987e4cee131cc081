"""``lake audit``: recount one data product in the lake and compare it with its checkpoint.

Owns the checks, all read-only: every part of the product is listed, read and decoded, its lines
counted and checked for shape; each window's part series must be numbered without gaps; the
checkpoint's per-window counts (last window, re-export ledger) and totals must equal what the lake
holds. It reports discrepancies and never repairs anything. What it can and cannot prove is in
``audit_product``'s docstring and ``docs/dead-letters.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from producer.checkpoint import Checkpoint, CheckpointStore, Counts
from producer.envelope import DLQ_STAGES, iso_instant
from producer.lake.encode import decode_part
from producer.lake.inventory import (
    SERIES,
    Part,
    Series,
    WindowParts,
    is_committed,
    take_inventory,
)
from producer.lake.store import ObjectStore
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Window, parse_instant

__all__ = ["AuditReport", "Discrepancy", "WindowCount", "audit_product"]

_READ_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One thing the lake and the checkpoint disagree on; ``where`` is a key or a window."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass(frozen=True, slots=True)
class WindowCount:
    """What the lake holds for one window: parts per series and lines (landed, dead-lettered)."""

    window: Window
    export_parts: int
    replay_parts: int
    dlq_parts: int
    landed: int
    dead_lettered: int
    committed: bool
    replayed: int = 0


@dataclass(frozen=True)
class AuditReport:
    """The recount of one product and every discrepancy found; ``consistent`` when none."""

    domain: str
    checkpoint: Checkpoint | None
    windows: tuple[WindowCount, ...]
    objects: int
    discrepancies: tuple[Discrepancy, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def consistent(self) -> bool:
        """True when no discrepancy was found (notes do not count)."""
        return not self.discrepancies

    @property
    def landed(self) -> int:
        """Data lines in committed windows (export and replay parts)."""
        return sum(w.landed for w in self.windows if w.committed)

    @property
    def dead_lettered(self) -> int:
        """DLQ lines in committed windows."""
        return sum(w.dead_lettered for w in self.windows if w.committed)


async def audit_product(
    store: ObjectStore,
    *,
    domain: str,
    prefix: str,
    metrics: DomainMetrics,
    start: datetime | None = None,
    end: datetime | None = None,
) -> AuditReport:
    """Recount ``domain``'s product under ``prefix`` (windows starting in ``[start, end)``).

    What it proves: every part is readable (a truncated or corrupt object is named) and every
    line is a well-formed line of this domain (envelope of the folder's major; dead letter of
    the key's window); no part is missing *inside* a series (part 2 without part 1); the last
    window and every window of the checkpoint's re-export ledger hold exactly the counts (and,
    for the last window, the part numbers) the checkpoint recorded; and, for a full audit (no
    range), the lines of all committed windows add up to the checkpoint totals, so a deleted or
    altered object anywhere shows even when its window cannot be named. What it cannot prove:
    which older window lost its only or last part (beyond the ledger, the checkpoint keeps no
    per-window counts), nor per-part counts (S3 object metadata is not read through the store).
    The checkpoint counts the newest major: during a major migration the older major's data is
    a note, and its rejections (DLQ parts from ``OLDER_MAJOR_DLQ_FIRST_PART``) are line-checked
    but not counted. Parts of windows the checkpoint does not account for yet are reported as
    notes (objects of several windows and no checkpoint at all is a discrepancy: it was lost).
    Raises ``StoreError`` if the lake cannot be listed or read, or the checkpoint is unreadable.
    """
    checkpoint, _ = await CheckpointStore(
        store, prefix=prefix, domain=domain, metrics=metrics
    ).load()
    inventory = await take_inventory(store, prefix, domain)
    selected = [
        parts
        for window, parts in inventory.windows.items()
        if (start is None or window.start >= start) and (end is None or window.start < end)
    ]
    problems: list[Discrepancy] = [
        Discrepancy(key, f"not a {domain} part key of this product") for key in inventory.strays
    ]
    notes: list[str] = []
    lines = await _count_all(store, domain, selected, problems)
    windows = [_window_count(parts, lines, checkpoint) for parts in selected]
    for parts in selected:
        problems.extend(_series_gaps(parts))
        if parts.older_majors:
            older = ", ".join(f"v{m}" for m in parts.older_majors)
            notes.append(
                f"{parts.window.label}: also has data under {older} (counted: v{parts.major})"
            )
    uncommitted = [w for w in windows if not w.committed]
    if checkpoint is None and len(inventory.windows) > 1:
        # One window at a time is exported and committed: objects of several windows without a
        # checkpoint mean it was lost or removed (the producer would start over at START_AT).
        problems.append(
            Discrepancy(
                "checkpoint",
                f"none under {prefix or 'the lake root'}, but {len(inventory.windows)} windows "
                "hold objects",
            )
        )
    elif uncommitted:
        notes.append(
            f"{len(uncommitted)} window(s) with objects not committed yet (an export in progress "
            f"or abandoned; the producer rewrites them): {uncommitted[0].window.label}"
            + (" ..." if len(uncommitted) > 1 else "")
        )
    if checkpoint is not None:
        ranged = start is not None or end is not None
        problems.extend(_against_checkpoint(checkpoint, windows, start, end, ranged=ranged))
        if ranged:
            notes.append("totals not compared: a range was given (audit without one to check them)")
    return AuditReport(
        domain=domain,
        checkpoint=checkpoint,
        windows=tuple(windows),
        objects=sum(len(p.series(name)) for p in selected for name in SERIES),
        discrepancies=tuple(problems),
        notes=tuple(notes),
    )


async def _count_all(
    store: ObjectStore, domain: str, selected: Sequence[WindowParts], problems: list[Discrepancy]
) -> dict[str, int]:
    """Lines per part key (a part that cannot be read counts 0 and adds a discrepancy)."""
    limit = asyncio.Semaphore(_READ_CONCURRENCY)
    parts = [p for w in selected for name in SERIES for p in w.series(name)]

    async def count(part: Part) -> tuple[str, int, Discrepancy | None]:
        async with limit:
            found = await store.get(part.key)
        if found is None:
            return part.key, 0, Discrepancy(part.key, "listed but gone when read")
        try:
            lines = await asyncio.to_thread(decode_part, found.data, part.parsed.compression)
        except ValueError as exc:
            return part.key, 0, Discrepancy(part.key, f"unreadable part ({exc})")
        return part.key, len(lines), _check_lines(part, domain, lines)

    counted: dict[str, int] = {}
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(count(part)) for part in parts]
    for task in tasks:
        key, number, problem = task.result()
        counted[key] = number
        if problem is not None:
            problems.append(problem)
    return counted


def _check_lines(part: Part, domain: str, lines: Sequence[bytes]) -> Discrepancy | None:
    """One discrepancy naming the first bad line and how many there are, or None."""
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        reason = _line_problem(part, domain, line)
        if reason is not None:
            bad.append((number, reason))
    if not bad:
        return None
    kind = "dead-letter" if part.parsed.kind == "dlq" else "data"
    first, reason = bad[0]
    return Discrepancy(
        part.key, f"{len(bad)} of {len(lines)} lines are not {kind} lines (line {first}: {reason})"
    )


def _line_problem(part: Part, domain: str, line: bytes) -> str | None:
    """Why ``line`` is not a line of this part's series, or None when it is one."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(document, dict) or document.get("domain") != domain:
        return f"not a JSON object of domain {domain}"
    version = document.get("x-schema-version")
    if not isinstance(version, str) or not version.partition(".")[0].isdigit():
        return f"x-schema-version {version!r}"
    if part.parsed.kind == "dlq":
        return _dead_letter_problem(part, document)
    if int(version.partition(".")[0]) != part.parsed.major:
        return f"x-schema-version {version} under v{part.parsed.major}"
    return None if isinstance(document.get("data"), dict) else "no data object"


def _dead_letter_problem(part: Part, document: dict[str, object]) -> str | None:
    window = part.parsed.window
    expected = {"start": iso_instant(window.start), "end": iso_instant(window.end)}
    if document.get("window") != expected:
        return f"window {document.get('window')!r} is not the key's"
    if document.get("stage") not in DLQ_STAGES:
        return f"stage {document.get('stage')!r}"
    if not isinstance(document.get("errors"), list) or "source" not in document:
        return "no errors list or no source"
    return None


def _window_count(
    parts: WindowParts, lines: dict[str, int], checkpoint: Checkpoint | None
) -> WindowCount:
    def total(name: Series) -> int:
        return sum(lines.get(p.key, 0) for p in parts.series(name))

    return WindowCount(
        window=parts.window,
        export_parts=len(parts.export),
        replay_parts=len(parts.replay),
        dlq_parts=len(parts.dlq),
        landed=total("export") + total("replay"),
        dead_lettered=total("dlq"),
        committed=is_committed(checkpoint, parts.window),
        replayed=total("replay"),
    )


def _series_gaps(parts: WindowParts) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    for name in SERIES:
        series = parts.series(name)
        numbers = [p.number for p in series]
        if numbers == list(range(len(numbers))):
            continue
        offset = series[0].parsed.part - series[0].number
        missing = sorted(set(range(max(numbers) + 1)) - set(numbers))
        repeated = sorted({n for n in numbers if numbers.count(n) > 1})
        what = []
        if missing:
            what.append("missing part(s) " + ", ".join(f"{n + offset:05d}" for n in missing))
        if repeated:
            what.append(
                "part number(s) stored twice " + ", ".join(f"{n + offset:05d}" for n in repeated)
            )
        found.append(Discrepancy(f"{parts.window.label} {name}", "; ".join(what)))
    return found


def _replay_ledger(checkpoint: Checkpoint, windows: Sequence[WindowCount]) -> list[Discrepancy]:
    """Committed windows whose replay parts hold other than the checkpoint says it includes."""
    found: list[Discrepancy] = []
    for held in windows:
        included = checkpoint.replayed.get(held.window.label, 0)
        if held.committed and held.replayed != included:
            found.append(
                Discrepancy(
                    held.window.label,
                    f"the checkpoint includes {included} replayed records, the window's replay "
                    f"parts hold {held.replayed} (an interrupted replay: run it again)",
                )
            )
    return found


def _against_checkpoint(
    checkpoint: Checkpoint,
    windows: Sequence[WindowCount],
    start: datetime | None,
    end: datetime | None,
    *,
    ranged: bool,
) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    for label, counts in (("totals", checkpoint.totals), ("last window", _last_counts(checkpoint))):
        if counts is not None and not counts.balanced:
            found.append(Discrepancy(f"checkpoint {label}", f"unbalanced counts {counts}"))
    by_window = {w.window: w for w in windows}
    expected: dict[Window, Counts] = {}
    last = checkpoint.last_window
    if last is not None:
        expected[last.window] = last.counts
    for label, recent in checkpoint.recent.items():
        begin, finish = label.split("-")
        expected[Window(parse_instant(begin), parse_instant(finish))] = recent.counts
    for window, counts in sorted(expected.items()):
        if (start is not None and window.start < start) or (
            end is not None and window.start >= end
        ):
            continue
        held = by_window.get(window)
        landed, dead = (held.landed, held.dead_lettered) if held else (0, 0)
        if (landed, dead) != (counts.landed, counts.dead_lettered):
            found.append(
                Discrepancy(
                    window.label,
                    f"checkpoint records {counts.landed} landed + {counts.dead_lettered} "
                    f"dead-lettered, the lake holds {landed} + {dead}",
                )
            )
    found.extend(_replay_ledger(checkpoint, windows))
    if last is not None and last.window in by_window:
        held = by_window[last.window]
        if (held.export_parts, held.dlq_parts) != (last.data_parts, last.dlq_parts):
            found.append(
                Discrepancy(
                    last.window.label,
                    f"checkpoint records {last.data_parts} data + {last.dlq_parts} DLQ parts, "
                    f"the lake holds {held.export_parts} + {held.dlq_parts}",
                )
            )
    if not ranged:
        landed = sum(w.landed for w in windows if w.committed)
        dead = sum(w.dead_lettered for w in windows if w.committed)
        totals = checkpoint.totals
        for what, recorded, held_lines in (
            ("landed", totals.landed, landed),
            ("dead-lettered", totals.dead_lettered, dead),
        ):
            if recorded != held_lines:
                found.append(
                    Discrepancy(
                        "totals",
                        f"checkpoint records {recorded} {what}, committed windows hold "
                        f"{held_lines} ({held_lines - recorded:+d})",
                    )
                )
    return found


def _last_counts(checkpoint: Checkpoint) -> Counts | None:
    return None if checkpoint.last_window is None else checkpoint.last_window.counts
