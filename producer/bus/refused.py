"""Step 5b, its dead letters: the landed records of a window the event stream refused for good.

A record whose event is larger than the bus takes in one message (Kinesis: 1 MiB) stays landed
in the lake and is written once more, as a dead letter with the reason ``too_large_for_stream``
(stage ``publish``), to its own DLQ series of the window (parts in ``STREAM_DLQ_PARTS``): not
counted as dead-lettered (fetched = landed + dead-lettered still holds), never replayed (the
record is already landed), and rewritten byte for byte when the window is published again (its
rejection time is the window's first export time). Written after the events are published and
before the checkpoint commits; a window published with no refusal removes the series' stale
parts. No publishing and no checkpoint here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from producer.bus.port import Event
from producer.envelope import PUBLISH_STAGE, dead_letter_line
from producer.issues import Issue
from producer.lake.writer import BatchWriter
from producer.windows import Window

__all__ = ["TOO_LARGE_REASON", "Refusal", "StreamRefusals"]

TOO_LARGE_REASON = "too_large_for_stream"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One event a stream can never take: its contract version and the stream's name."""

    version: str
    stream: str
    event: Event


class StreamRefusals:
    """Writes one window's refused events with ``writer`` (a ``BatchWriter.stream_rejects()``)."""

    def __init__(
        self, writer: BatchWriter, window: Window, *, domain: str, rejected_at: datetime
    ) -> None:
        self._writer = writer
        self._window = window
        self._domain = domain
        self._rejected_at = rejected_at

    async def write(self, refusals: Sequence[Refusal]) -> int:
        """Write ``refusals`` as the window's series (none: remove its stale parts); the count."""
        write = self._writer.open_window(self._window)
        for refusal in refusals:
            await write.add_dead_letter(self._line(refusal))
        return (await write.finish()).dead_lettered

    def _line(self, refusal: Refusal) -> bytes:
        event = refusal.event
        envelope = orjson.loads(event.data)
        message = (
            f"event {event.event_id} is {len(event.data)} bytes, more than {refusal.stream} "
            "takes in one record; the record is landed in the lake"
        )
        return dead_letter_line(
            domain=self._domain,
            schema_version=refusal.version,
            window=self._window,
            rejected_at=self._rejected_at,
            stage=PUBLISH_STAGE,
            issues=(Issue("$", TOO_LARGE_REASON, message),),
            record=envelope.get("data"),
            source=None,
        )
