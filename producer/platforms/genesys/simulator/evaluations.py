"""Simulator data: which quality evaluations exist, how each one changes, what a search sees.

Deterministic for (seed, time): each UTC hour's evaluations come from their own ``Random``, like
the conversations of ``data.py``, and each one is planned whole: created (PENDING) after one of
those conversations ended, maybe opened (INPROGRESS), submitted (FINISHED), and for some
disputed (INREVIEW), re-scored (FINISHED again) or retracted; every change is a revision with a
later ``changedDate`` and the next ``version``. The search index shows each evaluation's last
revision at its cutoff. ``scorecards.py`` builds the bodies. Pure: no I/O, no clock reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from random import Random
from typing import Literal

from producer.platforms.genesys.simulator import data
from producer.platforms.genesys.simulator.timeline import new_uuid

__all__ = [
    "DATE_FIELDS",
    "STATUSES",
    "DateRange",
    "Plan",
    "Population",
    "Quirk",
    "Revision",
    "date_ms",
    "order",
    "plans_created_between",
    "select",
]

_MINUTE_MS = 60_000
_HOUR_MS = 3_600_000
STATUSES = ("PENDING", "INPROGRESS", "FINISHED", "INREVIEW", "RETRACTED")
DATE_FIELDS = (
    "changedDate",
    "createdDate",
    "assignedDate",
    "submittedDate",
    "releaseDate",
    "conversationDate",
)
Quirk = Literal["no_agent", "odd_status"]

# Lifecycle delays (ms): (low, high) of a uniform draw. Their sum bounds an evaluation's life.
_OPEN = (5 * _MINUTE_MS, 2 * _HOUR_MS)
_SUBMIT = (10 * _MINUTE_MS, 6 * _HOUR_MS)
_DISPUTE = (1 * _HOUR_MS, 24 * _HOUR_MS)
_RESCORE = (30 * _MINUTE_MS, 48 * _HOUR_MS)
_RETRACT = (1 * _HOUR_MS, 24 * _HOUR_MS)
MAX_LIFETIME_MS = sum(high for _, high in (_OPEN, _SUBMIT, _DISPUTE, _RESCORE, _RETRACT))
# The evaluated conversation started 15 min to 36 h before the evaluation was created.
_CONVERSATION_LAG = (15 * _MINUTE_MS, 36 * _HOUR_MS)
_CONVERSATION_SPAN_MS = 10 * _MINUTE_MS
MAX_CONVERSATION_LAG_MS = _CONVERSATION_LAG[1]


@dataclass(frozen=True, slots=True)
class Population:
    """What decides the simulated org's evaluations: the seed and the rates (config knobs)."""

    seed: int
    evaluations_per_hour: float
    conversations_per_hour: float
    rescore_ratio: float
    quirk_ratio: float


@dataclass(frozen=True, slots=True)
class Revision:
    """One saved state of an evaluation. ``scored``: this save (re)scored it (new answers)."""

    changed_ms: int
    status: str
    version: int
    scored: bool
    disputes: int


@dataclass(frozen=True, slots=True)
class Plan:
    """An evaluation's whole life, decided when it is generated; ``at()`` is what is visible."""

    evaluation_id: str
    created_ms: int
    seed: int
    conversation: data.Arrival
    revisions: tuple[Revision, ...]
    never_release: bool
    quirk: Quirk | None

    def at(self, cutoff_ms: int) -> Revision | None:
        """The last revision saved by ``cutoff_ms``; None if the evaluation did not exist yet."""
        visible = None
        for revision in self.revisions:
            if revision.changed_ms > cutoff_ms:
                break
            visible = revision
        return visible

    def scored_ms(self, revision: Revision) -> int | None:
        """When the answers visible in ``revision`` were submitted (None: never scored yet)."""
        scored = [r.changed_ms for r in self.revisions[: revision.version] if r.scored]
        return scored[-1] if scored else None


@dataclass(frozen=True, slots=True)
class DateRange:
    """A DATE_RANGE predicate: ``start_ms <= field <= end_ms`` (``<`` when not inclusive)."""

    field: str
    start_ms: int
    end_ms: int
    inclusive_end: bool = True
    negate: bool = False

    def matches(self, value: int | None) -> bool:
        """Whether an evaluation whose ``field`` is ``value`` (None: absent) passes."""
        inside = value is not None and (
            self.start_ms <= value <= self.end_ms
            if self.inclusive_end
            else self.start_ms <= value < self.end_ms
        )
        return inside != self.negate


def _revisions(rng: Random, created_ms: int, rescore_ratio: float) -> tuple[Revision, ...]:
    revisions = [Revision(created_ms, "PENDING", 1, scored=False, disputes=0)]

    def save(delay: tuple[int, int], status: str, *, scored: bool = False) -> None:
        last = revisions[-1]
        disputes = last.disputes + (status == "INREVIEW")
        changed = last.changed_ms + int(rng.uniform(*delay))
        revisions.append(Revision(changed, status, last.version + 1, scored, disputes))

    if rng.random() < 0.25:
        save(_OPEN, "INPROGRESS")
    if rng.random() < 0.04:  # never finished: stays PENDING or INPROGRESS
        return tuple(revisions)
    save(_SUBMIT, "FINISHED", scored=True)
    if rng.random() < rescore_ratio:
        if rng.random() < 0.4:
            save(_DISPUTE, "INREVIEW")
        save(_RESCORE, "FINISHED", scored=True)
    if rng.random() < 0.02:
        save(_RETRACT, "RETRACTED")
    return tuple(revisions)


def _conversation(pop: Population, rng: Random, created_ms: int) -> data.Arrival:
    """A conversation of ``data.py`` that ended before ``created_ms``, or a stand-in if none."""
    target = created_ms - int(rng.uniform(*_CONVERSATION_LAG))
    stand_in_seed = rng.getrandbits(64)
    found = data.arrivals_between(
        pop.seed, pop.conversations_per_hour, target, target + _CONVERSATION_SPAN_MS
    )
    for arrival in found:
        if arrival.end_ms <= created_ms - _MINUTE_MS:
            return arrival
    # Too few conversations simulated near ``target``: one of the same shape, not in analytics.
    return data.Arrival(target, 5 * _MINUTE_MS, "voice", stand_in_seed)


def _plan(pop: Population, created_ms: int, seed: int) -> Plan:
    rng = Random(seed)
    evaluation_id = new_uuid(rng)
    conversation = _conversation(pop, rng, created_ms)
    revisions = _revisions(rng, created_ms, pop.rescore_ratio)
    never_release = rng.random() < 0.1
    quirk: Quirk | None = None
    if rng.random() < pop.quirk_ratio:
        quirk = rng.choice(("no_agent", "odd_status"))
    return Plan(evaluation_id, created_ms, seed, conversation, revisions, never_release, quirk)


@lru_cache(maxsize=8192)  # hours: a 3-month search plus its look-back fits
def _hour(pop: Population, hour: int) -> tuple[Plan, ...]:
    """The evaluations created in one UTC hour (``hour`` = epoch ms // 3600000), by creation."""
    rng = Random(f"ccaas-sim-evaluations:{pop.seed}:{pop.evaluations_per_hour!r}:{hour}")
    count = data.poisson(rng, pop.evaluations_per_hour)
    draws = sorted(
        (hour * _HOUR_MS + int(rng.random() * _HOUR_MS), rng.getrandbits(64)) for _ in range(count)
    )
    return tuple(_plan(pop, created, seed) for created, seed in draws)


def plans_created_between(pop: Population, start_ms: int, end_ms: int) -> Iterator[Plan]:
    """Every evaluation with ``start_ms <= createdDate < end_ms``, by creation time."""
    for hour in range(start_ms // _HOUR_MS, -(-end_ms // _HOUR_MS)):
        for plan in _hour(pop, hour):
            if start_ms <= plan.created_ms < end_ms:
                yield plan


def date_ms(plan: Plan, revision: Revision, field: str) -> int | None:
    """The value of date ``field`` (one of ``DATE_FIELDS``) in ``revision``; None if absent."""
    if field in ("createdDate", "assignedDate"):
        return plan.created_ms
    if field == "changedDate":
        return revision.changed_ms
    if field == "conversationDate":
        return plan.conversation.start_ms
    scored = plan.scored_ms(revision)
    if field == "submittedDate":
        return scored
    if field == "releaseDate":
        return None if plan.never_release else scored
    raise ValueError(f"unknown date field {field!r}")


def _creation_bounds(date_range: DateRange) -> tuple[int, int]:
    """Creation times an evaluation needs for ``date_range.field`` to fall in the range."""
    start, end = date_range.start_ms, date_range.end_ms + 1
    if date_range.field in ("createdDate", "assignedDate"):
        return start, end
    if date_range.field == "conversationDate":
        return start, end + MAX_CONVERSATION_LAG_MS
    return start - MAX_LIFETIME_MS, end


def select(pop: Population, ranges: list[DateRange], cutoff_ms: int) -> list[tuple[Plan, Revision]]:
    """Evaluations as the index shows them at ``cutoff_ms`` that pass every range, by creation.

    At least one range must be positive (not negated): it bounds the scan.
    """
    bounds = [_creation_bounds(r) for r in ranges if not r.negate]
    if not bounds:
        raise ValueError("select needs at least one positive date range")
    low = max(start for start, _ in bounds)
    high = min(*(end for _, end in bounds), cutoff_ms + 1)
    # An evaluation whose last change precedes a changedDate range can never show in it.
    changed_from = max(
        (r.start_ms for r in ranges if r.field == "changedDate" and not r.negate), default=None
    )
    found: list[tuple[Plan, Revision]] = []
    for plan in plans_created_between(pop, low, high):
        if changed_from is not None and plan.revisions[-1].changed_ms < changed_from:
            continue
        revision = plan.at(cutoff_ms)
        if revision is None:
            continue
        if all(r.matches(date_ms(plan, revision, r.field)) for r in ranges):
            found.append((plan, revision))
    return found


def order(
    found: list[tuple[Plan, Revision]], sort_by: str, descending: bool
) -> list[tuple[Plan, Revision]]:
    """``found`` sorted by date field ``sort_by`` (ties by id); absent values sort last."""
    present = [(date_ms(p, r, sort_by), p.evaluation_id, p, r) for p, r in found]
    valued = sorted(
        ((v, i, p, r) for v, i, p, r in present if v is not None),
        key=lambda item: (item[0], item[1]),
        reverse=descending,
    )
    absent = sorted(((i, p, r) for v, i, p, r in present if v is None), key=lambda x: x[0])
    return [(p, r) for _, _, p, r in valued] + [(p, r) for _, p, r in absent]
