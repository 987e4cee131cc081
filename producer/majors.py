"""Step 5, write, for every major of a window: the newest, and during a migration the older ones.

Above ``lake/`` (it composes a major's contract, validator, lake writer and event port), so
neither the lake nor the bus imports the other's side of a migration.

During a major migration (``MESH_{DOMAIN}__SCHEMA_VERSION=1.0,2.0``) a window is also written in
each older major (``OlderMajor``) for its remaining readers: the same records, mapped once, each
routed per version (``Routed.also``, ``producer/routing.py``). ``MajorWrites`` fans each routed
line (or a routed page's lines) out to the window's write of every major; a landed line goes to
the data, a dead-lettered one to the DLQ, other routes write nothing. The checkpoint is not
touched here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from producer.bus.port import EventPort
from producer.contracts.registry import Contract
from producer.contracts.validate import Validator
from producer.lake.writer import BatchWriter, WindowWrite
from producer.routing import Route, Routed, RoutedPage
from producer.windows import Window

__all__ = ["MajorWrites", "OlderMajor"]


@dataclass(frozen=True, slots=True)
class OlderMajor:
    """An older major written beside the newest during a migration, for its remaining readers."""

    contract: Contract
    validator: Validator
    writer: BatchWriter
    bus: EventPort | None = None  # its own stream, if configured


class MajorWrites:
    """One window being written in the newest major and in each older one.

    ``writes`` holds the window's write per major, newest first (``finish`` each in that order).
    """

    def __init__(self, writer: BatchWriter, older: Sequence[OlderMajor], window: Window) -> None:
        self.writes: tuple[WindowWrite, ...] = (
            writer.open_window(window),
            *(major.writer.open_window(window) for major in older),
        )

    async def add(self, routed: Routed) -> None:
        """``routed`` to the newest major's write, its ``also`` to each older major's."""
        await _write(self.writes[0], routed)
        for side, write in zip(routed.also, self.writes[1:], strict=False):
            await _write(write, side)

    async def add_page(self, page: RoutedPage) -> None:
        """A routed page's lines (``WindowRouter.route_page``) to each major's write."""
        for write, lines in zip(self.writes, page.majors, strict=False):
            await write.add_lines(lines.landed, lines.dead)


async def _write(write: WindowWrite, routed: Routed) -> None:
    """A landed line to the data, a dead-lettered one to the DLQ; other routes write nothing."""
    if routed.route is Route.LANDED:
        await write.add_landed(routed.line)
    elif routed.route is Route.DEAD_LETTERED:
        await write.add_dead_letter(routed.line)
