"""``lake audit``: recount one data product in the lake and compare it with its checkpoint.

Owns the checks, all read-only: every part of the product is listed, read and decoded, its lines
counted and checked for shape; each window's part series must be numbered without gaps; the
checkpoint's per-window counts (last window, re-export ledger) and totals must equal what the lake
holds; and no record appears twice in the committed data of one major (identity: ``IDENTITY``,
checked with a bounded ``SeenIds`` per major, then the repeated ids located in a second read of
the data parts). It reports discrepancies and never repairs anything. What it can and cannot
prove is in ``audit_product``'s docstring and ``docs/dead-letters.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from producer.checkpoint import Checkpoint, CheckpointStore, Counts, is_committed
from producer.clock import iso_instant
from producer.envelope import DLQ_STAGES, PUBLISH_STAGE
from producer.lake.encode import decode_part
from producer.lake.inventory import (
    SERIES,
    Part,
    Series,
    WindowParts,
    take_inventory,
)
from producer.lake.store import ObjectStore
from producer.seen import SeenIds
from producer.settings.ports import OutputPort
from producer.telemetry.metrics import DomainMetrics
from producer.windows import Window, parse_instant

__all__ = ["IDENTITY", "AuditReport", "Discrepancy", "WindowCount", "audit_product"]

_READ_CONCURRENCY = 16
_NAMED_REPEATS = 20  # repeated ids named one by one; beyond, one line says how many more
_LOCATIONS = 5  # where a repeated id is, at most this many places named


def _telephony_identity(data: Mapping[str, object]) -> str | None:
    value = data.get("interaction_id")
    return value if isinstance(value, str) else None


def _quality_identity(data: Mapping[str, object]) -> str | None:
    """A saved state of an evaluation: a re-scored one lands again with a higher version."""
    evaluation = data.get("evaluation_id")
    if not isinstance(evaluation, str):
        return None
    version = data.get("version")
    if version is None:
        return f"{evaluation} changed_at {data.get('changed_at')}"
    return f"{evaluation} version {version}"


def _wfm_identity(data: Mapping[str, object]) -> str | None:
    parts = (data.get("business_unit_id"), data.get("agent_id"), data.get("shift_id"))
    if not all(isinstance(part, str) for part in parts):
        return None
    return "/".join(str(part) for part in parts)


IDENTITY: dict[str, Callable[[Mapping[str, object]], str | None]] = {
    "telephony": _telephony_identity,
    "quality": _quality_identity,
    "wfm": _wfm_identity,
}
"""What makes a landed record unique within a domain's committed data of one major (read from the
contract record, ``data``): Telephony one conversation (``interaction_id``); Quality one saved
state of an evaluation (``evaluation_id`` and ``version``, ``changed_at`` when there is no
version: a re-scored evaluation lands again, with a higher version, by design); WFM one shift
(``business_unit_id``/``agent_id``/``shift_id``: a changed week overwrites its own objects)."""


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
    port: OutputPort,
    *,
    metrics: DomainMetrics,
    start: datetime | None = None,
    end: datetime | None = None,
) -> AuditReport:
    """Recount ``port``'s product (windows starting in ``[start, end)``) as ``store`` holds it.

    ``port`` names the product (its domain and prefix); its lake is not opened here: ``store``
    is that lake, open.

    What it proves: every part is readable (a truncated or corrupt object is named) and every
    line is a well-formed line of this domain (envelope of the folder's major; dead letter of
    the key's window); no part is missing *inside* a series (part 2 without part 1); the last
    window and every window of the checkpoint's re-export ledger hold exactly the counts (and,
    for the last window, the part numbers) the checkpoint recorded; and, for a full audit (no
    range), the lines of all committed windows add up to the checkpoint totals, so a deleted or
    altered object anywhere shows even when its window cannot be named; and no record identity
    (``IDENTITY``) appears twice in the committed data of one major (in one part, in two parts
    of a window, or in two windows; within the range given), each repeat named with where it is.
    What it cannot prove: which older window lost its only or last part (beyond the ledger, the
    checkpoint keeps no per-window counts), nor per-part counts (S3 object metadata is not read
    through the store).
    The checkpoint counts the newest major: during a major migration the older major's data is
    a note, and its rejections (DLQ parts from ``OLDER_MAJOR_DLQ_FIRST_PART``) are line-checked
    but not counted. Parts of windows the checkpoint does not account for yet are reported as
    notes (objects of several windows and no checkpoint at all is a discrepancy: it was lost).
    Raises ``StoreError`` if the lake cannot be listed or read, or the checkpoint is unreadable.
    """
    domain, prefix = port.domain, port.prefix
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
    identities = _Identities(domain, checkpoint)
    lines = await _count_all(store, domain, selected, problems, identities)
    problems.extend(await _locate_repeats(store, domain, selected, identities))
    if identities.unidentified:
        problems.append(
            Discrepancy(
                "identity",
                f"{identities.unidentified} committed data line(s) without the domain's record "
                "identity",
            )
        )
    windows = [_window_count(parts, lines, checkpoint) for parts in selected]
    for parts in selected:
        problems.extend(_series_gaps(parts))
        if parts.older_majors:
            older = ", ".join(f"v{m}" for m in parts.older_majors)
            notes.append(
                f"{parts.window.label}: also has data under {older} (counted: v{parts.major})"
            )
    refused = sum(len(parts.stream_dlq) for parts in selected)
    if refused:
        notes.append(
            f"{refused} part(s) of records the event stream refused (too_large_for_stream): "
            "landed, not counted as dead-lettered, not replayed"
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


class _Identities:
    """The record identities of committed data lines, one bounded ``SeenIds`` per major; the
    identities met more than once (at most ``_NAMED_REPEATS`` kept, the rest counted)."""

    def __init__(self, domain: str, checkpoint: Checkpoint | None) -> None:
        self._identity = IDENTITY.get(domain)
        self._checkpoint = checkpoint
        self._seen: dict[int, SeenIds] = {}
        self.repeated: dict[int, set[str]] = {}
        self.more_repeats = 0
        self.unidentified = 0

    def checks(self, part: Part) -> bool:
        """Whether ``part``'s lines are checked: data of a window the checkpoint accounts for."""
        return (
            self._identity is not None
            and part.parsed.kind != "dlq"
            and is_committed(self._checkpoint, part.parsed.window)
        )

    def add(self, major: int, data: Mapping[str, object]) -> None:
        assert self._identity is not None
        identity = self._identity(data)
        if identity is None:
            self.unidentified += 1
            return
        seen = self._seen.get(major)
        if seen is None:
            seen = self._seen[major] = SeenIds()
        if seen.add(identity):
            return
        repeated = self.repeated.setdefault(major, set())
        if identity in repeated:
            return
        if sum(len(ids) for ids in self.repeated.values()) < _NAMED_REPEATS:
            repeated.add(identity)
        else:
            self.more_repeats += 1

    def identity(self, data: Mapping[str, object]) -> str | None:
        return None if self._identity is None else self._identity(data)

    def close(self) -> None:
        for seen in self._seen.values():
            seen.close()
        self._seen.clear()


async def _locate_repeats(
    store: ObjectStore, domain: str, selected: Sequence[WindowParts], identities: _Identities
) -> list[Discrepancy]:
    """One discrepancy per repeated identity, naming where it is (a second read of the data
    parts of the majors concerned); one more for the repeated identities not named."""
    identities.close()
    if not identities.repeated:
        return []
    places: dict[tuple[int, str], list[str]] = {
        (major, identity): [] for major, ids in identities.repeated.items() for identity in ids
    }
    for parts in selected:
        if parts.major not in identities.repeated:
            continue
        for part in (*parts.export, *parts.replay):
            if not identities.checks(part):
                continue
            found = await store.get(part.key)
            if found is None:
                continue  # already reported as gone
            try:
                lines = await asyncio.to_thread(decode_part, found.data, part.parsed.compression)
            except ValueError:
                continue  # already reported as unreadable
            for number, line in enumerate(lines, start=1):
                try:
                    data = orjson.loads(line).get("data")
                except (orjson.JSONDecodeError, AttributeError):
                    continue
                identity = identities.identity(data) if isinstance(data, dict) else None
                spots = places.get((parts.major, identity or ""))
                if spots is not None:
                    spots.append(f"{part.key} line {number}")
    found_problems = []
    for (major, identity), spots in sorted(places.items()):
        shown = "; ".join(spots[:_LOCATIONS]) + (" ..." if len(spots) > _LOCATIONS else "")
        found_problems.append(
            Discrepancy(
                f"v{major} {domain} record {identity}",
                f"landed {len(spots)} times in committed data: {shown}",
            )
        )
    if identities.more_repeats:
        found_problems.append(
            Discrepancy(
                "identity",
                f"{identities.more_repeats} more repeated record(s) in committed data, not named",
            )
        )
    return found_problems


async def _count_all(
    store: ObjectStore,
    domain: str,
    selected: Sequence[WindowParts],
    problems: list[Discrepancy],
    identities: _Identities,
) -> dict[str, int]:
    """Lines per part key (a part that cannot be read counts 0 and adds a discrepancy); the
    identities of committed data lines go to ``identities``."""
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
        checked = identities if identities.checks(part) else None
        return part.key, len(lines), _check_lines(part, domain, lines, checked)

    counted: dict[str, int] = {}
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(count(part)) for part in parts]
    for task in tasks:
        key, number, problem = task.result()
        counted[key] = number
        if problem is not None:
            problems.append(problem)
    return counted


def _check_lines(
    part: Part, domain: str, lines: Sequence[bytes], identities: _Identities | None
) -> Discrepancy | None:
    """One discrepancy naming the first bad line and how many there are, or None; the data of
    good lines goes to ``identities`` when given."""
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        reason, data = _line_problem(part, domain, line)
        if reason is not None:
            bad.append((number, reason))
        elif identities is not None and data is not None and part.parsed.major is not None:
            identities.add(part.parsed.major, data)
    if not bad:
        return None
    kind = "dead-letter" if part.parsed.kind == "dlq" else "data"
    first, reason = bad[0]
    return Discrepancy(
        part.key, f"{len(bad)} of {len(lines)} lines are not {kind} lines (line {first}: {reason})"
    )


def _line_problem(
    part: Part, domain: str, line: bytes
) -> tuple[str | None, dict[str, object] | None]:
    """Why ``line`` is not a line of this part's series (None when it is one), and for a good
    data line its ``data`` object."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not JSON", None
    if not isinstance(document, dict) or document.get("domain") != domain:
        return f"not a JSON object of domain {domain}", None
    version = document.get("x-schema-version")
    if not isinstance(version, str) or not version.partition(".")[0].isdigit():
        return f"x-schema-version {version!r}", None
    if part.parsed.kind == "dlq":
        return _dead_letter_problem(part, document), None
    if int(version.partition(".")[0]) != part.parsed.major:
        return f"x-schema-version {version} under v{part.parsed.major}", None
    data = document.get("data")
    return (None, data) if isinstance(data, dict) else ("no data object", None)


def _dead_letter_problem(part: Part, document: dict[str, object]) -> str | None:
    window = part.parsed.window
    expected = {"start": iso_instant(window.start), "end": iso_instant(window.end)}
    if document.get("window") != expected:
        return f"window {document.get('window')!r} is not the key's"
    stage = document.get("stage")
    if stage not in DLQ_STAGES or (stage == PUBLISH_STAGE) != (part.series == "stream_dlq"):
        return f"stage {stage!r} in the {part.series} series"
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
