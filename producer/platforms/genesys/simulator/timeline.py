"""Simulator data: the building blocks of a record as seen at a cutoff instant.

``conversations.py`` lays a conversation out on a millisecond timeline and builds its pieces
through ``Timeline``, which leaves out whatever happened after the cutoff (the availability date):
segments not yet started, ``segmentEnd`` of open segments, metrics not yet emitted, and empty
sessions and participants. Also holds the fixed, deterministic directory (queues, agents, flows).
Pure: no I/O, no clock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

__all__ = [
    "DIRECTORY",
    "Agent",
    "Directory",
    "JsonDict",
    "Timeline",
    "epoch_ms",
    "format_ms",
    "new_uuid",
]

JsonDict = dict[str, Any]
"""A JSON object as the simulator builds and reads bodies (every module here shares this one)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_ms(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds and ``Z`` (analytics style)."""
    seconds, millis = divmod(ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def epoch_ms(when: datetime) -> int:
    """A timezone-aware datetime as whole epoch milliseconds (exact, no float rounding)."""
    if when.tzinfo is None:
        raise ValueError("expected a timezone-aware datetime")
    return (when - _EPOCH) // timedelta(milliseconds=1)


def new_uuid(rng: Random) -> str:
    """A version-4 UUID drawn from ``rng`` (so it is reproducible)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True, slots=True)
class Agent:
    """A user who answers interactions."""

    user_id: str
    name: str
    team_id: str | None


@dataclass(frozen=True, slots=True)
class Directory:
    """The simulated org's fixed configuration objects, referenced by id from records."""

    divisions: tuple[str, ...]
    queues: tuple[tuple[str, str], ...]
    agents: tuple[Agent, ...]
    wrapup_codes: tuple[str, ...]
    flows: tuple[tuple[str, str], ...]
    campaigns: tuple[tuple[str, str], ...]
    edges: tuple[str, ...]
    dnis: tuple[str, ...]


def _directory() -> Directory:
    rng = Random("ccaas-simulator-directory-v1")
    queue_names = ("Billing", "Support", "Sales", "Retention", "Technical Support", "VIP")
    first = ("Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jon")
    last = ("Silva", "Murphy", "Okafor", "Novak", "Tanaka", "Berg", "Rossi", "Khan")
    teams = tuple(new_uuid(rng) for _ in range(3))
    # every fourth agent has no team: teamId is an optional field
    agents = tuple(
        Agent(
            new_uuid(rng),
            f"{first[i % len(first)]} {last[i % len(last)]}",
            teams[i % len(teams)] if i % 4 else None,
        )
        for i in range(24)
    )
    flow_names = ("Main IVR", "After Hours", "Spanish IVR")
    return Directory(
        divisions=tuple(new_uuid(rng) for _ in range(2)),
        queues=tuple((new_uuid(rng), name) for name in queue_names),
        agents=agents,
        wrapup_codes=tuple(new_uuid(rng) for _ in range(8)),
        flows=tuple((new_uuid(rng), name) for name in flow_names),
        campaigns=tuple((new_uuid(rng), new_uuid(rng)) for _ in range(3)),
        edges=tuple(new_uuid(rng) for _ in range(2)),
        dnis=("tel:+18005550100", "tel:+18005550111", "tel:+13175550199"),
    )


DIRECTORY = _directory()


class Timeline:
    """Builds record pieces, dropping what lies after ``cutoff_ms``; ``None`` means "left out".

    Fields given as ``on_end`` (``disconnectType``, ``wrapUpCode``) only exist once a segment has
    ended. ``None`` and empty values are omitted, as the platform does.
    """

    def __init__(self, rng: Random, cutoff_ms: int) -> None:
        self.rng = rng
        self.cutoff_ms = cutoff_ms

    def segment(
        self,
        segment_type: str,
        start_ms: int,
        end_ms: int,
        fields: JsonDict | None = None,
        on_end: JsonDict | None = None,
    ) -> JsonDict | None:
        """A segment, open (no ``segmentEnd``) if it ends after the cutoff; None if not begun."""
        if start_ms > self.cutoff_ms:
            return None
        seg: JsonDict = {"segmentStart": format_ms(start_ms)}
        ended = end_ms <= self.cutoff_ms
        if ended:
            seg["segmentEnd"] = format_ms(end_ms)
        seg["segmentType"] = segment_type
        _put_all(seg, fields)
        if ended:
            _put_all(seg, on_end)
        return seg

    def metric(self, name: str, value: int, emit_ms: int) -> JsonDict | None:
        """A metric (integer value, ms for durations) if emitted by the cutoff."""
        if emit_ms > self.cutoff_ms:
            return None
        return {"name": name, "value": int(value), "emitDate": format_ms(emit_ms)}

    def session(
        self,
        media_type: str,
        segments: list[JsonDict | None],
        metrics: list[JsonDict | None] | None = None,
        fields: JsonDict | None = None,
    ) -> JsonDict | None:
        """A session with its visible segments and metrics; None if no segment is visible."""
        sess = self._holder(
            lambda session_id: {"mediaType": media_type, "sessionId": session_id},
            fields,
            "segments",
            segments,
        )
        shown = [m for m in metrics or [] if m is not None]
        if sess is not None and shown:
            sess["metrics"] = shown
        return sess

    def participant(
        self, purpose: str, sessions: list[JsonDict | None], fields: JsonDict | None = None
    ) -> JsonDict | None:
        """A participant with its visible sessions; None if none is visible."""
        return self._holder(
            lambda participant_id: {"participantId": participant_id, "purpose": purpose},
            fields,
            "sessions",
            sessions,
        )

    def _holder(
        self,
        head: Callable[[str], JsonDict],
        fields: JsonDict | None,
        key: str,
        children: list[JsonDict | None],
    ) -> JsonDict | None:
        """A session or participant: ``head(new id)``, its ``fields``, then its visible
        ``children`` under ``key``; None if none is visible. The id is drawn even when hidden:
        ids must not depend on the cutoff."""
        holder_id = new_uuid(self.rng)
        visible = [c for c in children if c is not None]
        if not visible:
            return None
        holder = head(holder_id)
        _put_all(holder, fields)
        holder[key] = visible
        return holder


def _put_all(target: JsonDict, fields: JsonDict | None) -> None:
    for key, value in (fields or {}).items():
        if value is None or (isinstance(value, list | dict | str) and not value):
            continue
        target[key] = value
