"""Steps 3 and 4 for one window: route each source object to the data, the DLQ, or elsewhere.

``WindowRouter`` keeps only objects whose record time lies in the window (the others belong to
the window they started in), drops repeats by record id, maps with the domain's mapper and
validates with the contract: valid records become envelope lines, everything else a dead-letter
line with every reason. Synchronous; no network or lake I/O.

Repeats: every record id of the window attempt is remembered, in whatever order the source sends
them (a page served again, a cursor that overlaps, a repeat many pages later), in a ``SeenIds``
(``producer/seen.py``): exact in memory up to a bound, spilled to an anonymous temporary file
beyond it, so a window of a million records stays within the memory target. The first copy of an
id wins: later copies with the same id are dropped as ``DUPLICATE`` (counted in the window's
``duplicates``), whatever their content, so an id lands at most once per window. Content is not
compared (that would cost a digest of every record): a later copy that differs is the source
changing under the export, and the next export of the window (Telephony's re-sweep) lands the
final state. An object without a usable id is not deduplicated; the mapper dead-letters it.

During a major migration a window is written in two versions: the record is mapped once, then
derived (``contracts.derive``), validated and serialised per version; ``Routed.also`` carries
the outcome for each older version, so every record ends in exactly one place per version.

``route_page`` routes a whole results page in one synchronous loop, with the same outcome as
``route`` on each object in turn: it returns each major's landed and dead-letter lines in order
(``RoutedPage``) and counts the rest, so the worker tallies, writes and keeps events once a page
instead of awaiting and allocating once a record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from producer.contracts.derive import derive
from producer.contracts.validate import Validator
from producer.domains import DomainSpec
from producer.domains.mapped import Mapped
from producer.envelope import dead_letter_line, envelope_line
from producer.issues import Issue
from producer.seen import SeenIds
from producer.windows import Window

__all__ = ["MajorLines", "Route", "Routed", "RoutedPage", "WindowRouter"]


class Route(Enum):
    """Where one source object went."""

    LANDED = "landed"
    DEAD_LETTERED = "dead_lettered"
    OUT_OF_WINDOW = "out_of_window"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Routed:
    """The route; for landed and dead-lettered objects the line; for the latter, the rules.

    ``also``: for a landed or dead-lettered object, its outcome in each older version written
    beside the newest (in the order the router was given them); empty otherwise.
    """

    route: Route
    line: bytes = b""
    rules: tuple[str, ...] = ()
    also: tuple[Routed, ...] = ()


@dataclass(slots=True)
class MajorLines:
    """One major's lines from a page, in the order of the page: ``landed`` data lines (and the
    record id of each, ``""`` when the object had none, in ``ids``) and ``dead`` DLQ lines."""

    landed: list[bytes] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    dead: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class RoutedPage:
    """Where a page's objects went: ``majors`` newest first (in the router's order);
    ``out_of_window`` and ``duplicates`` counted once (they are the same in every major);
    ``rules`` the rules of the newest major's dead letters, one per issue."""

    majors: tuple[MajorLines, ...]
    out_of_window: int = 0
    duplicates: int = 0
    rules: list[str] = field(default_factory=list)


class WindowRouter:
    """Routes the source objects of one window; one instance per window attempt.

    ``validators`` holds one per version written, each with its contract: first the newest
    major (the data prefix's), then the older ones written side by side during a migration.
    ``seen`` remembers the window's record ids (a fresh ``SeenIds`` unless given; tests pass one
    with a small memory bound).
    """

    def __init__(
        self,
        *,
        spec: DomainSpec,
        validators: Sequence[Validator],
        window: Window,
        rejected_at: datetime,
        seen: SeenIds | None = None,
    ) -> None:
        if not validators:
            raise ValueError("a window is routed into one major at least")
        self._spec = spec
        self._validators = tuple(validators)
        self._window = window
        self._rejected_at = rejected_at
        self._seen = seen if seen is not None else SeenIds()

    def route(self, source: Any) -> Routed:
        """Route one source object (never raises on odd input)."""
        record_time = self._spec.record_time(source)
        if record_time is not None and not self._window.contains(record_time):
            return Routed(Route.OUT_OF_WINDOW)
        record_id = self._spec.record_id(source)
        if record_id is not None and not self._seen.add(record_id):
            return Routed(Route.DUPLICATE)
        mapped = self._spec.map_record(source)
        newest, *older = (self._routed(validator, mapped, source) for validator in self._validators)
        return replace(newest, also=tuple(older)) if older else newest

    def route_page(self, page: Iterable[Any]) -> RoutedPage:
        """Route every object of ``page`` in order, as ``route`` would one at a time."""
        spec, window, seen_add = self._spec, self._window, self._seen.add
        record_time, record_id, map_record = spec.record_time, spec.record_id, spec.map_record
        start, end = window.start, window.end
        validators = self._validators
        routed = RoutedPage(tuple(MajorLines() for _ in validators))
        majors = tuple(zip(validators, routed.majors, strict=True))
        rules = routed.rules
        out_of_window = duplicates = 0
        for source in page:
            instant = record_time(source)
            if instant is not None and not start <= instant < end:
                out_of_window += 1
                continue
            key = record_id(source)
            if key is not None and not seen_add(key):
                duplicates += 1
                continue
            mapped = map_record(source)
            newest = True
            for validator, lines in majors:
                line, issues = self._outcome(validator, mapped, source)
                if issues is None:
                    lines.landed.append(line)
                    lines.ids.append(key or "")
                else:
                    lines.dead.append(line)
                    if newest:
                        rules.extend(issue.rule for issue in issues)
                newest = False
        routed.out_of_window, routed.duplicates = out_of_window, duplicates
        return routed

    def _routed(self, validator: Validator, mapped: Mapped, source: Any) -> Routed:
        """One version's outcome for a mapped object, as a ``Routed``."""
        line, issues = self._outcome(validator, mapped, source)
        if issues is None:
            return Routed(Route.LANDED, line)
        return Routed(Route.DEAD_LETTERED, line, tuple(issue.rule for issue in issues))

    def _outcome(
        self, validator: Validator, mapped: Mapped, source: Any
    ) -> tuple[bytes, tuple[Issue, ...] | None]:
        """One version's line for a mapped object: its data line and None, or its dead-letter
        line and the issues that rejected it."""
        contract = validator.contract
        issues = mapped.issues
        stage = mapped.stage
        record = mapped.record
        if record is not None and not issues:
            if contract.rename:
                record = derive(record, contract.rename)
            found = validator.check(record)
            if not found:
                return envelope_line(contract, record), None
            issues, stage = tuple(found), "validation"
        line = dead_letter_line(
            domain=self._spec.name,
            schema_version=contract.version,
            window=self._window,
            rejected_at=self._rejected_at,
            stage=stage,
            issues=issues,
            record=record,
            source=source,
        )
        return line, issues
