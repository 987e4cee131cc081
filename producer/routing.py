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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from producer.contracts.derive import derive
from producer.contracts.registry import Contract
from producer.contracts.validate import Validator
from producer.domains import DomainSpec
from producer.domains.mapped import Mapped
from producer.envelope import dead_letter_line, envelope_line
from producer.seen import SeenIds
from producer.windows import Window

__all__ = ["Route", "Routed", "WindowRouter"]


class Route(Enum):
    """Where one source object went."""

    LANDED = "landed"
    DEAD_LETTERED = "dead_lettered"
    OUT_OF_WINDOW = "out_of_window"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Routed:
    """The route; for landed and dead-lettered objects the line; for the latter, the rules.

    ``also``: for a landed or dead-lettered object, its outcome in each version written beside
    the primary one (in the order the router was given them); empty otherwise.
    """

    route: Route
    line: bytes = b""
    rules: tuple[str, ...] = ()
    also: tuple[Routed, ...] = ()


class WindowRouter:
    """Routes the source objects of one window; one instance per window attempt.

    ``contract``/``validator`` are the primary version's; ``also`` the other versions written
    side by side (contract and validator each). ``seen`` remembers the window's record ids (a
    fresh ``SeenIds`` unless given; tests pass one with a small memory bound).
    """

    def __init__(
        self,
        *,
        spec: DomainSpec,
        contract: Contract,
        validator: Validator,
        window: Window,
        rejected_at: datetime,
        also: Sequence[tuple[Contract, Validator]] = (),
        seen: SeenIds | None = None,
    ) -> None:
        self._spec = spec
        self._contract = contract
        self._validator = validator
        self._window = window
        self._rejected_at = rejected_at
        self._seen = seen if seen is not None else SeenIds()
        self._also = tuple(also)

    def route(self, source: Any) -> Routed:
        """Route one source object (never raises on odd input)."""
        record_time = self._spec.record_time(source)
        if record_time is not None and not self._window.contains(record_time):
            return Routed(Route.OUT_OF_WINDOW)
        record_id = self._spec.record_id(source)
        if record_id is not None and not self._seen.add(record_id):
            return Routed(Route.DUPLICATE)
        mapped = self._spec.map_record(source)
        routed = self._version(self._contract, self._validator, mapped, source)
        if not self._also:
            return routed
        also = tuple(
            self._version(contract, validator, mapped, source) for contract, validator in self._also
        )
        return Routed(routed.route, routed.line, routed.rules, also)

    def _version(
        self, contract: Contract, validator: Validator, mapped: Mapped, source: Any
    ) -> Routed:
        """One version's outcome for a mapped object: its data line or its dead-letter line."""
        issues = mapped.issues
        stage = mapped.stage
        record = mapped.record
        if record is not None and not issues:
            if contract.rename:
                record = derive(record, contract.rename)
            issues = tuple(validator.check(record))
            if not issues:
                return Routed(Route.LANDED, envelope_line(contract, record))
            stage = "validation"
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
        return Routed(Route.DEAD_LETTERED, line, tuple(issue.rule for issue in issues))
