"""Simulator data: which conversations exist, and which ones a job over an interval returns.

Deterministic for (seed, time): each UTC minute's arrivals come from their own ``Random`` seeded
by (seed, rate, minute), so any interval is generated independently and a conversation always
has the same id and content. A job selects every conversation whose lifetime overlaps its
interval, as the lake saw it at the availability date (reference §5.1/§5.2); records are built
lazily by ``conversations.build`` (or, for serving speed, re-stamped from a few built bodies).
Pure: no I/O, no clock reads (callers pass instants in ms).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import accumulate
from random import Random
from typing import Any, Literal

from producer.platforms.genesys.simulator.conversations import (
    KIND_WEIGHTS,
    MEDIAN_DURATION_SECONDS,
    build,
)
from producer.platforms.genesys.simulator.timeline import format_ms

__all__ = [
    "MAX_DURATION_MS",
    "MIN_DURATION_MS",
    "Arrival",
    "Order",
    "OrderBy",
    "arrivals_between",
    "order_arrivals",
    "poisson",
    "record",
    "select",
]

MIN_DURATION_MS = 20_000
MAX_DURATION_MS = 40 * 60_000
_MINUTE_MS = 60_000
_KINDS = tuple(kind for kind, _ in KIND_WEIGHTS)
_CUMULATIVE = tuple(accumulate(weight for _, weight in KIND_WEIGHTS))
_LOG_MEDIANS = {kind: math.log(seconds * 1000) for kind, seconds in MEDIAN_DURATION_SECONDS.items()}
_TEMPLATE_START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: where re-stamped bodies were built
_MASK_64 = 2**64 - 1

Order = Literal["asc", "desc", "unordered"]
OrderBy = Literal["conversationStart", "conversationEnd", "segmentStart", "segmentEnd"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """A conversation before its record is built: when, how long, what kind, and its seed."""

    start_ms: int
    duration_ms: int
    kind: str
    seed: int

    @property
    def end_ms(self) -> int:
        """conversationEnd in epoch ms (whether or not it is visible yet)."""
        return self.start_ms + self.duration_ms


@lru_cache(maxsize=4096)  # minutes; ~70 MB at 10,000 conversations/h
def _minute(seed: int, per_hour: float, minute: int) -> tuple[Arrival, ...]:
    """The arrivals of one UTC minute (``minute`` = epoch ms // 60000), by start time."""
    rng = Random(f"ccaas-sim:{seed}:{per_hour!r}:{minute}")
    count = poisson(rng, per_hour / 60.0)
    base = minute * _MINUTE_MS
    total = _CUMULATIVE[-1]
    found: list[Arrival] = []
    for _ in range(count):
        start = base + int(rng.random() * _MINUTE_MS)
        kind = _KINDS[bisect_right(_CUMULATIVE, rng.random() * total)]
        duration = int(math.exp(rng.gauss(_LOG_MEDIANS[kind], 0.9)))
        duration = min(MAX_DURATION_MS, max(MIN_DURATION_MS, duration))
        found.append(Arrival(start, duration, kind, rng.getrandbits(64)))
    found.sort(key=lambda a: (a.start_ms, a.seed))
    return tuple(found)


def poisson(rng: Random, lam: float) -> int:
    """A Poisson draw of mean ``lam`` (Knuth below 30, the normal approximation above)."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, product = math.exp(-lam), 0, rng.random()
        while product > limit:
            k += 1
            product *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def arrivals_between(seed: int, per_hour: float, start_ms: int, end_ms: int) -> Iterator[Arrival]:
    """Every arrival with ``start_ms <= conversationStart < end_ms``, by start time."""
    for minute in range(start_ms // _MINUTE_MS, -(-end_ms // _MINUTE_MS)):
        for arrival in _minute(seed, per_hour, minute):
            if start_ms <= arrival.start_ms < end_ms:
                yield arrival


def select(
    seed: int, per_hour: float, start_ms: int, end_ms: int, available_ms: int
) -> list[Arrival]:
    """What a job over ``[start_ms, end_ms)`` returns when data is available to ``available_ms``.

    Every conversation whose lifetime overlaps the interval, including ones that started before
    it; none that starts after ``available_ms``; one still running at ``available_ms`` counts as
    open-ended. Sorted by conversationStart ascending.
    """
    stop = min(end_ms, available_ms + 1)
    return [
        arrival
        for arrival in arrivals_between(seed, per_hour, start_ms - MAX_DURATION_MS, stop)
        if arrival.end_ms > start_ms or arrival.end_ms > available_ms
    ]


def order_arrivals(
    arrivals: list[Arrival], order: Order, order_by: OrderBy, available_ms: int
) -> list[Arrival]:
    """``arrivals`` (sorted by start) in the order a job asked for; open conversations sort
    last by end. ``unordered`` keeps start order."""
    if order_by in ("conversationEnd", "segmentEnd"):

        def by_end(a: Arrival) -> tuple[float, int, int]:
            end = a.end_ms if a.end_ms <= available_ms else math.inf
            return (end, a.start_ms, a.seed)

        ordered = sorted(arrivals, key=by_end)
    else:
        ordered = list(arrivals)
    if order == "desc":
        ordered.reverse()
    return ordered


def record(arrival: Arrival, available_ms: int, *, distinct: int = 0) -> dict[str, Any]:
    """The full conversation-detail record of ``arrival`` as seen at ``available_ms``.

    ``distinct`` 0 builds the record from the arrival's own seed. ``distinct`` N > 0 is a
    serving-speed mode for benchmarks (millions of records): only N bodies per kind are ever
    built, and each arrival gets one of them (by seed) with its own ``conversationId``,
    ``conversationStart`` and ``conversationEnd`` (absent while open); the rest of the body
    (participants, segments) is the stand-in's. Deterministic in both modes.
    """
    if distinct <= 0:
        return build(
            arrival.start_ms, arrival.duration_ms, arrival.kind, arrival.seed, available_ms
        )
    found = dict(_template(arrival.kind, arrival.seed % distinct))
    found["conversationId"] = _uuid_of(arrival.seed)
    found["conversationStart"] = format_ms(arrival.start_ms)
    if arrival.end_ms <= available_ms:
        found["conversationEnd"] = format_ms(arrival.end_ms)
    else:
        del found["conversationEnd"]
    return found


@cache
def _template(kind: str, slot: int) -> dict[str, Any]:
    """A complete body of ``kind`` (ended, every segment visible), the same for every run."""
    seed = Random(f"ccaas-sim-template:{kind}:{slot}").getrandbits(64)
    start = _TEMPLATE_START_MS + slot * _MINUTE_MS
    duration = round(MEDIAN_DURATION_SECONDS[kind] * 1000)
    return build(start, duration, kind, seed, start + MAX_DURATION_MS + 86_400_000)


def _uuid_of(seed: int) -> str:
    """A version-4-shaped UUID derived from a 64-bit seed (cheap; practically unique)."""
    text = f"{seed:016x}{(seed * 0x9E3779B97F4A7C15) & _MASK_64:016x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{text[17:20]}-{text[20:]}"
