"""``WindowRouter.route_page`` routes a page exactly as ``route`` does each object in turn.

The worker routes, tallies, writes and keeps events a page at a time; the lines, their order,
the counts and the dead letters' rules must be those of the per-object path, in every major.
Built from the simulator's records plus odd objects (out of the window, repeats, no id, not an
object, still active), with an older major whose stricter schema rejects other records.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from producer.accounting import WindowTally
from producer.contracts.registry import Contract, load_domain_contracts, select_contract
from producer.contracts.validate import Validator
from producer.domains import domain_spec
from producer.platforms.genesys.simulator import data
from producer.platforms.genesys.simulator.timeline import epoch_ms
from producer.routing import MajorLines, Route, Routed, WindowRouter
from producer.settings import default_contracts_dir
from producer.windows import Window

_WINDOW = Window(datetime(2025, 3, 10, 9, tzinfo=UTC), datetime(2025, 3, 10, 9, 15, tzinfo=UTC))
_CONTRACT = select_contract(
    load_domain_contracts(default_contracts_dir(), "telephony"), "telephony", None
)


def _older() -> Contract:
    """An older major that also requires ``metadata``: some records land in one major only."""
    schema = dict(_CONTRACT.schema)
    schema["required"] = [*schema.get("required", ()), "metadata"]
    return dataclasses.replace(_CONTRACT, version="0.9", major=0, minor=9, schema=schema)


def _pages() -> list[list[Any]]:
    """What a job over the window returns, plus odd objects, in pages of 50."""
    available = epoch_ms(_WINDOW.end + timedelta(hours=1))
    chosen = data.select(11, 2000.0, epoch_ms(_WINDOW.start), epoch_ms(_WINDOW.end), available)
    sources: list[Any] = [data.record(arrival, available) for arrival in chosen]
    assert len(sources) > 200
    inside = [s for s in sources if s["conversationStart"] >= "2025-03-10T09:00:00"]
    odd: list[Any] = [
        inside[5],  # a repeat, many objects later
        inside[5],
        {**inside[7], "conversationId": ""},  # no usable id: mapped and dead-lettered
        {**inside[8], "conversationId": "active", "conversationEnd": None},
        "not an object",
        None,
        {"conversationId": "early", "conversationStart": "2025-03-10T08:59:59.999Z"},
        {"conversationId": "late", "conversationStart": "2025-03-10T09:15:00.000Z"},
        {"conversationId": "no start"},
    ]
    for offset, extra in enumerate(odd):
        sources.insert(40 + offset * 23, extra)
    return [sources[i : i + 50] for i in range(0, len(sources), 50)]


def _router(*, older: bool) -> WindowRouter:
    contracts = [_CONTRACT, _older()] if older else [_CONTRACT]
    return WindowRouter(
        spec=domain_spec("telephony"),
        validators=[Validator(contract) for contract in contracts],
        window=_WINDOW,
        rejected_at=_WINDOW.end,
    )


def _one_by_one(pages: list[list[Any]], majors: int) -> tuple[list[MajorLines], WindowTally]:
    """Each major's lines (and the ids events would keep) and the tally, object by object."""
    router, tally = _router(older=majors > 1), WindowTally(_WINDOW, ["1.0", "0.9"][:majors])
    lines = [MajorLines() for _ in range(majors)]
    spec = domain_spec("telephony")
    for source in (source for page in pages for source in page):
        routed = router.route(source)
        tally.add(routed)
        outcomes: tuple[Routed, ...] = (routed, *routed.also)
        for major, outcome in zip(lines, outcomes, strict=False):
            if outcome.route is Route.LANDED:
                major.landed.append(outcome.line)
                major.ids.append(spec.record_id(source) or "")
            elif outcome.route is Route.DEAD_LETTERED:
                major.dead.append(outcome.line)
    return lines, tally


@pytest.mark.parametrize("majors", [1, 2])
def test_a_page_is_routed_as_each_of_its_objects_would_be(majors: int) -> None:
    pages = _pages()
    expected, expected_tally = _one_by_one(pages, majors)
    router, tally = _router(older=majors > 1), WindowTally(_WINDOW, ["1.0", "0.9"][:majors])
    got = [MajorLines() for _ in range(majors)]
    for page in pages:
        routed = router.route_page(page)
        tally.add_page(routed)
        assert len(routed.majors) == majors
        for into, lines in zip(got, routed.majors, strict=True):
            into.landed += lines.landed
            into.ids += lines.ids
            into.dead += lines.dead
    assert got == expected
    assert tally.per_major == expected_tally.per_major
    assert tally.rules == expected_tally.rules
    routes = tally.routes
    assert min(routes.values()) > 0  # every route taken, so each is compared
    assert routes[Route.DUPLICATE] == 2
    assert routes[Route.OUT_OF_WINDOW] >= 2
    assert tally.rules["conversation_active"] >= 1
    if majors == 2:
        assert tally.per_major[1][Route.LANDED] < routes[Route.LANDED]  # the older rejects more
        assert (
            sum(tally.per_major[1].values()) == routes[Route.LANDED] + routes[Route.DEAD_LETTERED]
        )
        assert tally.rules == Counter(expected_tally.rules)  # the newest major's rules only
