"""Simulator fault switches: which of the next requests misbehave, and how.

Pure bookkeeping used by ``Simulator`` (the switches) and the fault middleware in ``app.py``
(which applies them). A switch covers the next ``n`` requests whose URL path contains a given
substring, after letting the first ``skip`` of them through (so "the third results page" can be
hit); a periodic switch (``arm_every``) answers every ``k``-th matching request 429 until
cleared. This module does no I/O and knows nothing about aiohttp.

Outcome kinds: ``fail`` (an error status), ``throttle`` (429), ``reset`` (connection closed, no
answer), and the 200 answers a gateway or a broken upstream gives instead of the real one (the
``BAD_PAGES``): ``truncate`` (the real body cut in half, Content-Length of the cut), ``cut`` (the
real body's Content-Length, the connection closed half-way), ``malformed`` (an HTML error page),
``not_json`` (plain text labelled JSON), ``empty`` (``{}``), ``error_body`` (a gateway's JSON
error, ``{"message": "upstream request timeout", "status": 504}``) and ``not_objects`` (the real
answer with every item of its top-level arrays turned into a string).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["BAD_PAGES", "BadPage", "Fault", "FaultKind", "FaultPlan"]

BadPage = Literal["truncate", "cut", "malformed", "not_json", "empty", "error_body", "not_objects"]
FaultKind = Literal["fail", "throttle", "reset", BadPage]
BAD_PAGES: tuple[BadPage, ...] = get_args(BadPage)


@dataclass(slots=True)
class Fault:
    """One armed switch: ``kind`` applies to the next ``remaining`` matching requests, once
    ``skip`` matching requests have gone through untouched."""

    kind: FaultKind
    remaining: int
    path_contains: str
    status: int = 503
    retry_after: float | None = None
    skip: int = 0


@dataclass(slots=True)
class _Every:
    every: int
    path_contains: str
    retry_after: float | None
    seen: int = 0


@dataclass(slots=True)
class _Delay:
    remaining: int
    path_contains: str
    delay_seconds: float


class FaultPlan:
    """The armed switches, consumed in the order they were armed.

    A request takes at most one outcome fault (fail, throttle, reset or a bad page) and,
    independently, at most one delay, so ``slow_next`` composes with the others.
    """

    def __init__(self) -> None:
        self._outcomes: list[Fault] = []
        self._delays: list[_Delay] = []
        self._every: list[_Every] = []

    def arm(self, fault: Fault) -> None:
        """Add an outcome switch; ``remaining <= 0`` arms nothing."""
        if fault.remaining > 0:
            self._outcomes.append(fault)

    def arm_delay(self, n: int, delay_seconds: float, path_contains: str) -> None:
        """Delay the next ``n`` matching requests by ``delay_seconds`` before they are handled."""
        if n > 0 and delay_seconds > 0:
            self._delays.append(_Delay(n, path_contains, delay_seconds))

    def arm_every(self, k: int, retry_after: float | None, path_contains: str) -> None:
        """Throttle every ``k``-th request matching ``path_contains`` (429) until ``clear``."""
        if k > 0:
            self._every.append(_Every(k, path_contains, retry_after))

    def take_outcome(self, path: str) -> Fault | None:
        """The first armed outcome matching ``path``, with one use consumed; None if none.

        A matching switch that still has requests to skip counts this one and lets it pass.
        """
        for fault in self._outcomes:
            if fault.path_contains in path and fault.skip > 0:
                fault.skip -= 1
                continue
            if fault.path_contains in path:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._outcomes.remove(fault)
                return fault
        return self._take_every(path)

    def _take_every(self, path: str) -> Fault | None:
        """A 429 when ``path`` is the k-th match of a periodic switch (each switch counts)."""
        hit: Fault | None = None
        for every in self._every:
            if every.path_contains in path:
                every.seen += 1
                if every.seen % every.every == 0 and hit is None:
                    hit = Fault("throttle", 1, every.path_contains, 429, every.retry_after)
        return hit

    def take_delay(self, path: str) -> float:
        """Seconds to stall a request on ``path`` (0.0 when no delay switch matches)."""
        for delay in self._delays:
            if delay.path_contains in path:
                delay.remaining -= 1
                if delay.remaining <= 0:
                    self._delays.remove(delay)
                return delay.delay_seconds
        return 0.0

    def pending(self) -> int:
        """How many faulty requests are still armed (outcomes and delays; periodic ones not)."""
        return sum(f.remaining for f in self._outcomes) + sum(d.remaining for d in self._delays)

    def clear(self) -> None:
        """Disarm every switch."""
        self._outcomes.clear()
        self._delays.clear()
        self._every.clear()
