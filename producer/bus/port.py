"""The event output port's seam: what a bus publisher does, whatever the bus.

An ``EventPort`` takes ``Event``s (one contract-valid record each: its envelope with its
``event_id``, and its partition key, the record id) and publishes them in order, retrying what
the bus refused within its own budget. ``publish`` returns a ``PublishResult``; events the bus
can never take (too large) are returned, not raised. A bus that stays unavailable raises
``StreamError``: the window fails and its checkpoint does not advance. A Kafka publisher would be
one more module implementing this protocol (``docs/event-bus.md``).

``event_for`` builds the event of one lake data line: the event id is deterministic (domain,
record id, contract version and the SHA-256 of the line, the canonical bytes the lake holds), so
a republished record carries the same id and a consumer drops the repeat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Event", "EventPort", "PublishResult", "event_for", "event_id"]


@dataclass(frozen=True, slots=True)
class Event:
    """One message: ``data`` is the envelope with ``event_id``; ``key`` the partition key."""

    event_id: str
    key: str
    data: bytes


@dataclass(slots=True)
class PublishResult:
    """What one ``publish`` call amounted to.

    ``published``: events the bus accepted; ``retried``: entries sent again after the bus
    refused them (a partial batch failure, or a whole call that failed); ``throttled``: refusals
    for throughput; ``too_large``: events the bus can never take (kept in the lake, dead-lettered
    by the caller with the reason ``too_large_for_stream``).
    """

    published: int = 0
    retried: int = 0
    throttled: int = 0
    too_large: list[Event] = field(default_factory=list)

    def add(self, other: PublishResult) -> None:
        self.published += other.published
        self.retried += other.retried
        self.throttled += other.throttled
        self.too_large.extend(other.too_large)


class EventPort(Protocol):
    """A bus publisher for one domain and one major (one stream or topic)."""

    description: str

    async def publish(self, events: Sequence[Event]) -> PublishResult:
        """Publish ``events``, each at least once; raises ``StreamError`` past the budget."""
        ...

    async def close(self) -> None:
        """Release the client (idempotent)."""
        ...


def event_id(domain: str, record_id: str, version: str, line: bytes) -> str:
    """The deterministic id of one record's event (hex SHA-256)."""
    content = hashlib.sha256(line).hexdigest()
    return hashlib.sha256(f"{domain}\x1f{record_id}\x1f{version}\x1f{content}".encode()).hexdigest()


def event_for(domain: str, record_id: str, version: str, line: bytes) -> Event:
    """The event of a data line (``{"x-schema-version": ..., "domain": ..., "data": ...}``):
    the same envelope with ``event_id`` first, keyed by the record id."""
    ident = event_id(domain, record_id, version, line)
    return Event(ident, record_id, b'{"event_id":"' + ident.encode() + b'",' + line[1:])
