"""Completed contacts over real sockets: paging, 204, shapes, repeats, rows that move, limits.

Each test states the platform behaviour (simulator switch) and what the extractor must do; the
expected contacts are computed from the simulator's deterministic data, not from the answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from producer.clock import SystemClock
from producer.domains.telephony.nice import contact_start
from producer.errors import PermanentSourceError, TransientSourceError
from producer.platforms.genesys.simulator.faults import Fault
from producer.platforms.nice.contacts import CompletedContacts
from producer.platforms.nice.options import NiceOptions
from producer.platforms.nice.simulator import RunningNiceSimulator, data, serve
from producer.windows import Window
from tests.nice.conftest import Connect, connector, fast_retry, sim_config

EPOCH = datetime(2025, 3, 10, tzinfo=UTC)
WINDOW = Window(EPOCH + timedelta(hours=1), EPOCH + timedelta(hours=2))
LAG_S = 3600.0


def expected_ids(running: RunningNiceSimulator, window: Window) -> set[int]:
    """The contacts that started in ``window`` according to the simulator's data."""
    config = running.sim.config
    found = set()
    for index in data.indexes_between(
        config.epoch, config.contacts_per_hour, window.start, window.end
    ):
        item = data.contact(config.epoch, config.contacts_per_hour, config.seed, index)
        if window.contains(item.start):
            found.add(item.body["contactId"])
    return found


async def collect(
    extractor: CompletedContacts, window: Window = WINDOW
) -> tuple[list[int], list[int]]:
    """(page sizes, contact ids that started in the window, repeats included)."""
    sizes: list[int] = []
    ids: list[int] = []
    async for page in extractor.fetch(window):
        sizes.append(len(page))
        ids += [c["contactId"] for c in page if (s := contact_start(c)) and window.contains(s)]
    return sizes, ids


def extractor(clients: object, page_size: int = 10) -> CompletedContacts:
    from producer.platforms.nice.auth import NiceClients

    assert isinstance(clients, NiceClients)
    options = NiceOptions(page_size=page_size, completion_lag_seconds=LAG_S)
    return CompletedContacts(clients.reporting, clock=SystemClock(), options=options)


async def test_pages_follow_the_links_and_every_contact_of_the_window_arrives_once(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    async with connect() as clients:
        sizes, ids = await collect(extractor(clients, page_size=7))
    assert len(sizes) > 3
    assert all(size == 7 for size in sizes[:-1])
    assert sorted(ids) == sorted(expected_ids(nice_sim, WINDOW))
    queries = [r.query for r in nice_sim.sim.requests if "contacts/completed" in r.path]
    assert "skip=0" in queries[0]
    assert "skip=7" in queries[1]
    assert "orderBy=lastUpdateTime asc" in queries[0]


@pytest.mark.parametrize("date_filter", ["start", "end"])
async def test_each_contact_lands_in_exactly_one_window_whatever_the_dates_select(
    date_filter: str,
) -> None:
    async with serve(sim_config(date_filter=date_filter)) as running:
        windows = [
            Window(EPOCH + timedelta(minutes=30 * k), EPOCH + timedelta(minutes=30 * (k + 1)))
            for k in range(2, 6)
        ]
        async with connector(running)() as clients:
            landed = [(await collect(extractor(clients), w))[1] for w in windows]
    everything = Window(windows[0].start, windows[-1].end)
    flat = [contact for ids in landed for contact in ids]
    assert len(flat) == len(set(flat))  # no contact in two windows
    assert set(flat) == expected_ids(running, everything)  # none lost between windows


async def test_a_window_with_no_contacts_is_a_204_and_no_pages(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    before = Window(EPOCH - timedelta(days=2), EPOCH - timedelta(days=1))
    async with connect() as clients:
        sizes, _ = await collect(extractor(clients), before)
    assert sizes == []
    assert [r.status for r in nice_sim.sim.requests if "contacts/completed" in r.path] == [204]


async def test_a_204_before_the_announced_total_fails_the_window(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    nice_sim.sim.shift_next_pages(+1000)  # the second page finds nothing: rows vanished
    async with connect() as clients:
        with pytest.raises(TransientSourceError, match="announced"):
            await collect(extractor(clients))


async def test_a_row_lost_while_paging_fails_the_window(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    nice_sim.sim.shift_next_pages(+1)  # one page starts a row late: that row is never sent
    async with connect() as clients:
        with pytest.raises(TransientSourceError, match="rows moved"):
            await collect(extractor(clients))


async def test_a_contact_repeated_across_pages_is_passed_on_and_nothing_is_lost(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    # A contact inserted before the cursor: every later page starts one row earlier.
    nice_sim.sim.shift_next_pages(-1, n=1000)
    async with connect() as clients:
        _, ids = await collect(extractor(clients))
    assert len(ids) > len(set(ids))  # the repeats reach the worker, whose seen-set drops them
    assert set(ids) == expected_ids(nice_sim, WINDOW)


@pytest.mark.parametrize("kind", ["empty", "malformed", "not_json", "error_body", "truncate"])
async def test_a_200_page_without_the_documented_shape_is_asked_again(
    nice_sim: RunningNiceSimulator, connect: Connect, kind: str
) -> None:
    nice_sim.sim.faults.arm(Fault(kind, 1, "contacts/completed", skip=1))  # type: ignore[arg-type]
    async with connect() as clients:
        _, ids = await collect(extractor(clients))
    assert set(ids) == expected_ids(nice_sim, WINDOW)
    queries = [r.query for r in nice_sim.sim.requests if "contacts/completed" in r.path]
    assert queries[1] == queries[2]  # the bad second page was requested again


async def test_a_page_that_stays_malformed_fails_the_window(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    nice_sim.sim.faults.arm(Fault("empty", 1000, "contacts/completed", skip=1))
    async with connect(retry=fast_retry(budget_s=0.5)) as clients:
        with pytest.raises(TransientSourceError, match="bad_shape"):
            await collect(extractor(clients))


async def test_5xx_and_429_without_retry_after_are_retried(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    sim = nice_sim.sim
    sim.faults.arm(Fault("fail", 2, "contacts/completed", status=503))
    sim.faults.arm(Fault("throttle", 1, "contacts/completed", status=429, skip=1))
    async with connect() as clients:
        _, ids = await collect(extractor(clients))
    assert set(ids) == expected_ids(nice_sim, WINDOW)
    statuses = [r.status for r in sim.requests if "contacts/completed" in r.path]
    assert statuses[:2] == [503, 503]
    assert 429 in statuses


async def test_the_platform_budget_answers_429_until_the_window_gives_up() -> None:
    async with (
        serve(sim_config(rate_limit_per_minute=4)) as running,
        connector(running)(retry=fast_retry(budget_s=0.3)) as clients,
    ):
        with pytest.raises(TransientSourceError, match="throttled"):
            await collect(extractor(clients, page_size=5))
    throttled = [r for r in running.sim.requests if r.status == 429]
    assert throttled  # the platform's budget, not ours, stopped the window


async def test_an_unknown_api_version_is_a_permanent_error(
    nice_sim: RunningNiceSimulator,
) -> None:
    async with connector(nice_sim)(api_version="v99.0") as clients:
        with pytest.raises(PermanentSourceError, match="404"):
            await collect(extractor(clients))


async def test_availability_is_now_minus_the_completion_lag(connect: Connect) -> None:
    async with connect() as clients:
        before = datetime.now(UTC)
        available = await extractor(clients).availability()
    assert (
        before - timedelta(seconds=LAG_S + 5) <= available <= before - timedelta(seconds=LAG_S - 5)
    )
