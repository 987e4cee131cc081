"""Quality source: the simulator's evaluation search over HTTP, and the extractor against it.

The simulator is served on 127.0.0.1 with a manual clock (its ``now`` only moves when a test
says so); the extractor runs through the real ``ApiClient``/``TokenManager``/limiter. Faults are
switched on in the simulator, never patched into our code.
"""

from __future__ import annotations

import base64
import itertools
import random
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from producer.api.client import ApiClient
from producer.api.retry import RetryPolicy
from producer.clock import SystemClock
from producer.errors import PermanentSourceError
from producer.platforms.genesys.evaluations import (
    MAX_SEARCH_RANGE,
    SEARCH_PATH,
    EvaluationSearch,
    search_ranges,
)
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig, evaluations
from producer.platforms.genesys.simulator.scorecards import ODD_STATUS
from producer.platforms.genesys.simulator.timeline import epoch_ms
from producer.windows import Window
from tests.fixtures.api import open_api_client
from tests.fixtures.clock import ManualClock

QUALITY = ("quality-client", "quality-secret")
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
STATUSES = {"PENDING", "INPROGRESS", "FINISHED", "INREVIEW", "RETRACTED"}


class FixedClock(SystemClock):
    """The extractor's clock: real sleeps, a fixed wall time (for availability)."""

    def now(self) -> datetime:
        return NOW


@pytest.fixture
def clock() -> ManualClock:
    """The simulator's clock for one test."""
    return ManualClock(NOW)


@pytest.fixture
def simulator_config(clock: ManualClock) -> SimulatorConfig:
    """The quality client, 60 evaluations an hour, no rate limit, manual time."""
    return SimulatorConfig(
        clients=dict([QUALITY]),
        evaluations_per_hour=60.0,
        rate_limit_per_minute=0,
        now=clock.now,
        monotonic=clock.monotonic,
    )


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _body(start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    date_range = {
        "type": "DATE_RANGE",
        "field": "changedDate",
        "startValue": _stamp(start),
        "endValue": _stamp(end),
    }
    return {"query": [date_range]} | extra


@dataclass
class Reply:
    status: int
    body: Any


class Api:
    """A bare HTTP client for the served simulator, holding one quality token."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.token = ""

    async def login(self) -> None:
        basic = base64.b64encode(f"{QUALITY[0]}:{QUALITY[1]}".encode()).decode()
        async with self.http.post(
            self.base + "/oauth/token",
            headers={"Authorization": f"Basic {basic}"},
            data={"grant_type": "client_credentials"},
        ) as response:
            self.token = (await response.json())["access_token"]

    async def search(self, body: Any, *, token: bool = True) -> Reply:
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        async with self.http.post(self.base + SEARCH_PATH, json=body, headers=headers) as resp:
            return Reply(resp.status, await resp.json())

    async def all_pages(self, body: dict[str, Any], page_size: int) -> list[Reply]:
        pages: list[Reply] = []
        for number in range(1, 1000):
            reply = await self.search(body | {"pageSize": page_size, "pageNumber": number})
            assert reply.status == 200, reply.body
            pages.append(reply)
            if len(reply.body["results"]) < page_size:
                return pages
        raise AssertionError("the search never ended")


@pytest.fixture
async def api(simulator: RunningSimulator) -> AsyncIterator[Api]:
    """A logged-in HTTP client for the simulator."""
    async with aiohttp.ClientSession() as http:
        client = Api(http, simulator.base_url)
        await client.login()
        yield client


def assert_error(reply: Reply, status: int, code: str) -> None:
    """The platform's standard error body."""
    assert reply.status == status, reply.body
    assert reply.body["code"] == code
    assert reply.body["status"] == status
    assert reply.body["message"]


def _ids(results: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in results]


class TestSearchApi:
    async def test_pages_follow_page_number_and_match_ground_truth(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """pageNumber paging: full pages then a short one; together exactly the ground truth."""
        start, end = NOW - timedelta(hours=3), NOW - timedelta(hours=1)
        pages = await api.all_pages(_body(start, end), page_size=7)
        assert len(pages) > 3
        for number, page in enumerate(pages, start=1):
            assert set(page.body) == {"pageSize", "pageNumber", "results"}  # no total
            assert (page.body["pageSize"], page.body["pageNumber"]) == (7, number)
        assert all(len(p.body["results"]) == 7 for p in pages[:-1])
        got = [r for p in pages for r in p.body["results"]]
        truth = simulator.sim.evaluations(start, end)
        assert _ids(got) == _ids(truth)
        assert got == truth
        assert len(set(_ids(got))) == len(got)
        created = [r["createdDate"] for r in got]
        assert created == sorted(created)

    async def test_results_have_the_reference_shape(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """Results carry §6.3's fields: references, status, float scores once scored, dates."""
        start, end = NOW - timedelta(hours=12), NOW - timedelta(hours=1)
        results = [
            r for p in await api.all_pages(_body(start, end), 100) for r in p.body["results"]
        ]
        assert len(results) > 200
        statuses = {r["status"] for r in results}
        assert {"PENDING", "FINISHED"} <= statuses <= STATUSES | {ODD_STATUS}
        for result in results:
            conversation = result["conversation"]["id"]
            assert result["selfUri"] == (
                f"/api/v2/quality/conversations/{conversation}/evaluations/{result['id']}"
            )
            assert {"id", "name", "contextId"} <= set(result["evaluationForm"])
            assert result["evaluator"]["selfUri"].startswith("/api/v2/users/")
            assert _stamp(start) <= result["changedDate"] <= _stamp(end)
            for name in ("changedDate", "createdDate", "conversationDate"):
                assert STAMP.match(result[name])
            assert isinstance(result["version"], int)
            assert result["version"] >= 1
            assert isinstance(result["mediaType"], list)
            if "answers" in result:
                assert isinstance(result["answers"]["totalScore"], float)
                assert 0.0 <= result["answers"]["totalCriticalScore"] <= 100.0
                assert STAMP.match(result["submittedDate"])
            else:
                assert result["status"] in ("PENDING", "INPROGRESS", ODD_STATUS)
        assert any("agent" not in r for r in results), "some break the contract: no agent"

    async def test_index_lags_behind_now(self, api: Api, simulator: RunningSimulator) -> None:
        """A change is searchable only after the index lag (60 s by default)."""
        pages = await api.all_pages(_body(NOW - timedelta(hours=1), NOW), 100)
        changed = [r["changedDate"] for p in pages for r in p.body["results"]]
        assert changed
        assert max(changed) <= _stamp(NOW - timedelta(seconds=60))

    async def test_exact_filter_and_descending_sort(self, api: Api) -> None:
        """EXACT compares a field path; sortOrder DESC reverses the createdDate order."""
        start, end = NOW - timedelta(hours=6), NOW - timedelta(hours=1)
        body = _body(start, end, sortOrder="DESC")
        body["query"].append({"type": "EXACT", "field": "status", "value": "FINISHED"})
        results = [r for p in await api.all_pages(body, 50) for r in p.body["results"]]
        assert results
        assert {r["status"] for r in results} == {"FINISHED"}
        created = [r["createdDate"] for r in results]
        assert created == sorted(created, reverse=True)

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"query": []},
            {"query": [{"type": "EXACT", "field": "status", "value": "FINISHED"}]},
            {
                "query": [
                    {"type": "DATE_RANGE", "field": "changedDate", "operator": "NOT"}
                    | {
                        "startValue": "2025-03-10T00:00:00.000Z",
                        "endValue": "2025-03-10T01:00:00.000Z",
                    }
                ]
            },
        ],
    )
    async def test_a_date_range_is_mandatory(self, api: Api, body: dict[str, Any]) -> None:
        """No org-wide listing without a (positive) DATE_RANGE: 400 bad.request."""
        assert_error(await api.search(body), 400, "bad.request")

    @pytest.mark.parametrize(
        ("start", "end", "code"),
        [
            ("2025-03-10T00:00:00.000Z", "yesterday", "invalid.date"),
            ("2025-03-10T00:00:00", "2025-03-10T01:00:00", "invalid.date"),
            ("2025-03-10T01:00:00.000Z", "2025-03-10T00:00:00.000Z", "invalid.date"),
            ("2024-11-30T00:00:00.000Z", "2025-02-28T00:00:00.001Z", "invalid.value"),
            ("2024-12-01T00:00:00.000Z", "2025-06-01T00:00:00.000Z", "invalid.value"),
        ],
    )
    async def test_bad_or_too_long_date_ranges_are_400(
        self, api: Api, start: str, end: str, code: str
    ) -> None:
        """Unparseable, zone-less or reversed dates and ranges over 3 months are refused."""
        body = {"query": [{"type": "DATE_RANGE", "field": "changedDate"}]}
        body["query"][0] |= {"startValue": start, "endValue": end}
        assert_error(await api.search(body), 400, code)

    @pytest.mark.parametrize(
        ("extra", "code"),
        [
            ({"pageSize": 0}, "invalid.value"),
            ({"pageSize": 101}, "invalid.value"),
            ({"pageSize": "10"}, "invalid.value"),
            ({"pageSize": True}, "invalid.value"),
            ({"pageNumber": 0}, "invalid.value"),
            ({"sortBy": "changedDate"}, "invalid.value"),
            ({"sortOrder": "sideways"}, "invalid.value"),
        ],
    )
    async def test_bad_paging_and_sorting_are_400(
        self, api: Api, extra: dict[str, Any], code: str
    ) -> None:
        """pageSize outside 1..max (100 by default), pageNumber < 1 and unknown sorts: 400."""
        body = _body(NOW - timedelta(hours=2), NOW - timedelta(hours=1), **extra)
        assert_error(await api.search(body), 400, code)

    async def test_unsearchable_field_and_unknown_type_are_400(self, api: Api) -> None:
        """A DATE_RANGE on a field the search cannot filter, or an unknown type: invalid.value."""
        body = _body(NOW - timedelta(hours=2), NOW - timedelta(hours=1))
        body["query"][0]["field"] = "dueDate"
        assert_error(await api.search(body), 400, "invalid.value")
        body = _body(NOW - timedelta(hours=2), NOW - timedelta(hours=1))
        body["query"].append({"type": "FUZZY", "field": "status", "value": "x"})
        assert_error(await api.search(body), 400, "invalid.value")

    async def test_search_needs_a_token(self, api: Api) -> None:
        """Like every /api/v2 call, the search is 401 without a bearer token."""
        reply = await api.search(_body(NOW - timedelta(hours=2), NOW), token=False)
        assert_error(reply, 401, "authentication.required")


class TestLifecycle:
    @pytest.fixture
    def simulator_config(self, clock: ManualClock) -> SimulatorConfig:
        """20 evaluations an hour: three days of them stay cheap to build."""
        return SimulatorConfig(
            clients=dict([QUALITY]),
            evaluations_per_hour=20.0,
            rate_limit_per_minute=0,
            now=clock.now,
            monotonic=clock.monotonic,
        )

    async def test_later_changes_move_an_evaluation_to_a_later_changed_date(
        self, api: Api, simulator: RunningSimulator, clock: ManualClock
    ) -> None:
        """Re-saved (finished, re-scored...) evaluations leave their old changedDate range and
        are found again later with a higher version; some finished ones were re-scored."""
        start, end = NOW - timedelta(hours=6), NOW - timedelta(hours=1)
        before = {r["id"]: r for r in simulator.sim.evaluations(start, end)}
        clock.advance(3 * 86400)
        still = {r["id"] for r in simulator.sim.evaluations(start, end)}
        moved = set(before) - still
        assert moved
        later = {r["id"]: r for r in simulator.sim.evaluations(end, clock.now())}
        assert moved <= set(later)
        for evaluation_id in moved:
            old, new = before[evaluation_id], later[evaluation_id]
            assert new["version"] > old["version"]
            assert new["changedDate"] > old["changedDate"]
            assert new["createdDate"] == old["createdDate"]
        rescored = [i for i in moved if before[i]["status"] == "FINISHED" and later[i]["rescore"]]
        assert rescored, "some finished evaluations were re-scored"
        # and the search agrees with the ground truth about where one of them is now
        moved_to = later[rescored[0]]["changedDate"]
        await api.login()  # the first token expired during those three days
        around = datetime.fromisoformat(moved_to)
        reply = await api.search(
            _body(around - timedelta(seconds=1), around + timedelta(seconds=1), pageSize=100)
        )
        assert reply.status == 200
        assert rescored[0] in _ids(reply.body["results"])


class TestThreeMonthLimit:
    @pytest.fixture
    def simulator_config(self, clock: ManualClock) -> SimulatorConfig:
        """Few evaluations, so that a 3-month search stays cheap."""
        return SimulatorConfig(
            clients=dict([QUALITY]),
            evaluations_per_hour=0.2,
            rate_limit_per_minute=0,
            now=clock.now,
            monotonic=clock.monotonic,
        )

    async def test_exactly_three_calendar_months_is_accepted(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """Nov 30 + 3 months is Feb 28 (day clamped): that range is allowed, as the truth says."""
        start = datetime(2024, 11, 30, tzinfo=UTC)
        end = datetime(2025, 2, 28, tzinfo=UTC)
        pages = await api.all_pages(_body(start, end), 100)
        got = [r for p in pages for r in p.body["results"]]
        assert got
        assert got == simulator.sim.evaluations(start, end)


@dataclass
class Harness:
    api: ApiClient
    search: EvaluationSearch
    registry: CollectorRegistry
    simulator: RunningSimulator

    def retries(self, reason: str) -> float:
        value = self.registry.get_sample_value(
            "mesh_api_retries_total", {"domain": "quality", "reason": reason}
        )
        return value or 0.0

    def searches(self) -> list[int]:
        """Statuses of the search requests the simulator saw, in order."""
        return [r.status for r in self.simulator.sim.requests if r.path == SEARCH_PATH]


@pytest.fixture
async def harness(simulator: RunningSimulator) -> AsyncIterator[Harness]:
    """The extractor wired like the daemon wires it: own token, limiter, retry policy."""
    registry = CollectorRegistry()
    clock = FixedClock()
    async with open_api_client(
        simulator,
        QUALITY,
        domain="quality",
        priority="normal",
        clock=clock,
        retry=RetryPolicy(base_s=0.05, cap_s=0.2, budget_s=30.0, rng=random.Random(5)),
        registry=registry,
    ) as api:
        search = EvaluationSearch(api, clock=clock, page_size=10, settle_seconds=120.0)
        yield Harness(api, search, registry, simulator)


async def _collect(search: EvaluationSearch, window: Window) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async for page in search.fetch(window):
        found.extend(page)
    return found


WINDOW = Window(NOW - timedelta(hours=2), NOW - timedelta(hours=1))


class TestEvaluationSearch:
    async def test_fetch_returns_the_ground_truth(self, harness: Harness) -> None:
        """A window's fetch yields exactly the evaluations changed in it, each once."""
        found = await _collect(harness.search, WINDOW)
        truth = harness.simulator.sim.evaluations(WINDOW.start, WINDOW.end)
        assert len(truth) > 20
        assert _ids(found) == _ids(truth)
        assert harness.searches().count(200) > len(truth) // 10

    async def test_fetch_under_503(self, harness: Harness) -> None:
        """503s on the search are retried; nothing is lost or repeated."""
        harness.simulator.sim.fail_next(2, 503, path_contains="/quality/")
        found = await _collect(harness.search, WINDOW)
        truth = harness.simulator.sim.evaluations(WINDOW.start, WINDOW.end)
        assert _ids(found) == _ids(truth)
        assert harness.searches()[:2] == [503, 503]
        assert harness.retries("server_error") == 2

    async def test_fetch_under_429(self, harness: Harness) -> None:
        """A 429 with Retry-After pauses the domain and the same page is asked again."""
        harness.simulator.sim.throttle_next(1, retry_after=0.2, path_contains="/quality/")
        found = await _collect(harness.search, WINDOW)
        truth = harness.simulator.sim.evaluations(WINDOW.start, WINDOW.end)
        assert _ids(found) == _ids(truth)
        assert harness.searches()[0] == 429
        assert harness.retries("throttled") == 1

    async def test_a_record_leaving_mid_paging_does_not_hide_another(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        """An evaluation re-saved between two pages shifts the offsets; a re-read finds the
        record that slid onto a page already read, so nothing still in the window is missed."""
        sim = harness.simulator.sim
        truth = sim.evaluations(WINDOW.start, WINDOW.end)
        date_range = evaluations.DateRange(
            "changedDate", epoch_ms(WINDOW.start), epoch_ms(WINDOW.end)
        )
        cutoff = sim.evaluation_index_ms()
        on_first_page = {e["id"] for e in truth[:10]}
        found_now = evaluations.select(sim.evaluation_population(), [date_range], cutoff)
        next_change = min(
            r.changed_ms
            for plan, _ in found_now
            if plan.evaluation_id in on_first_page
            for r in plan.revisions
            if r.changed_ms > cutoff
        )
        found: list[dict[str, Any]] = []
        async for page in harness.search.fetch(WINDOW):
            found.extend(page)
            if len(found) == 10:  # first page read: one of its evaluations changes now
                clock.advance((next_change - cutoff) / 1000 + 1)
        remaining = {e["id"] for e in sim.evaluations(WINDOW.start, WINDOW.end)}
        left_from_first_page = on_first_page - remaining
        assert left_from_first_page, "the offsets did shift under the reader"
        assert left_from_first_page <= set(_ids(found))
        assert remaining <= set(_ids(found)), "an evaluation still in the window was skipped"
        assert set(_ids(found)) <= set(_ids(truth))
        assert len(set(_ids(found))) == len(found)
        first_pass = -(-len(truth) // 10)
        assert len(harness.searches()) > first_pass, "the search was read again"

    async def test_closing_early_stops_paging(self, harness: Harness) -> None:
        """A reader that stops after the first page (a shutdown) ends the search there."""
        async with aclosing(harness.search.fetch(WINDOW)) as pages:
            async for page in pages:
                assert len(page) == 10
                break
        assert harness.searches() == [200]

    async def test_a_refused_search_fails_the_window(self, harness: Harness) -> None:
        """A 400 (here a page size above the platform's maximum) is not retried: it raises."""
        search = EvaluationSearch(harness.api, clock=FixedClock(), page_size=101)
        with pytest.raises(PermanentSourceError, match=r"400 invalid\.value"):
            await _collect(search, WINDOW)
        assert harness.searches() == [400]

    async def test_availability_is_now_minus_settle(self, harness: Harness) -> None:
        """The search index lags: windows are available up to now - settle_seconds."""
        assert await harness.search.availability() == NOW - timedelta(seconds=120)
        assert harness.searches() == []


class TestLongWindows:
    @pytest.fixture
    def simulator_config(self, clock: ManualClock) -> SimulatorConfig:
        """Few evaluations, so that 200 days stay cheap."""
        return SimulatorConfig(
            clients=dict([QUALITY]),
            evaluations_per_hour=0.1,
            rate_limit_per_minute=0,
            now=clock.now,
            monotonic=clock.monotonic,
        )

    async def test_a_window_over_three_months_is_searched_in_ranges(self, harness: Harness) -> None:
        """A 200-day window becomes three accepted searches; together the ground truth."""
        window = Window(NOW - timedelta(days=200), NOW - timedelta(hours=1))
        found = await _collect(harness.search, window)
        truth = harness.simulator.sim.evaluations(window.start, window.end)
        assert len(truth) > 100
        assert sorted(_ids(found)) == sorted(_ids(truth))
        assert len(set(_ids(found))) == len(found)
        assert set(harness.searches()) == {200}


def test_search_ranges_tile_the_window() -> None:
    """Ranges are consecutive, cover [start, end) exactly and none exceeds 89 days."""
    start = datetime(2025, 1, 31, tzinfo=UTC)
    for days in (0.5, 89, 90, 365):
        end = start + timedelta(days=days)
        ranges = search_ranges(start, end)
        assert ranges[0][0] == start
        assert ranges[-1][1] == end
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
        assert all(timedelta(0) < stop - begin <= MAX_SEARCH_RANGE for begin, stop in ranges)
    assert timedelta(days=89) == MAX_SEARCH_RANGE
