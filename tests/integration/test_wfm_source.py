"""WFM source side over real sockets: the simulator's WFM API and the ``ScheduleSearch`` extractor.

The simulator runs on 127.0.0.1 (port 0) with a manual clock, so weeks, DST and download expiry
are fixed; the extractor goes through the real ``ApiClient`` and ``TokenManager``.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from producer.api.client import ApiClient
from producer.api.retry import RetryPolicy
from producer.clock import SystemClock
from producer.errors import TransientSourceError
from producer.platforms.genesys.schedules import ScheduleSearch
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import Window
from tests.fixtures.api import open_api_client
from tests.fixtures.clock import ManualClock

UNITS = "/api/v2/workforcemanagement/businessunits"
WFM = ("wfm-client", "wfm-secret")
NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)  # a Thursday; Berlin's DST starts 2025-03-30
DST_WEEK = Window(datetime(2025, 3, 24, tzinfo=UTC), datetime(2025, 3, 31, tzinfo=UTC))
OTHER_WEEK = Window(datetime(2025, 3, 17, tzinfo=UTC), datetime(2025, 3, 24, tzinfo=UTC))


@pytest.fixture
def clock() -> ManualClock:
    """The simulator's clock for one test."""
    return ManualClock(NOW)


@pytest.fixture
def simulator_config(clock: ManualClock) -> SimulatorConfig:
    """A WFM client, inline answers unless a test says otherwise, manual time."""
    return SimulatorConfig(
        clients=dict([WFM]),
        wfm_search_shape="inline",
        now=clock.now,
        monotonic=clock.monotonic,
    )


@dataclass
class Reply:
    status: int
    raw: bytes
    headers: dict[str, str]

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class Api:
    """A thin HTTP client for the served simulator, holding one bearer token."""

    def __init__(self, http: aiohttp.ClientSession, running: RunningSimulator) -> None:
        self.http = http
        self.base = running.base_url
        self.token = ""

    async def call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        url = path if path.startswith("http") else self.base + path
        async with self.http.request(method, url, headers=headers, **kwargs) as resp:
            return Reply(resp.status, await resp.read(), dict(resp.headers))

    async def search(self, unit: str, start: datetime, end: datetime, query: str = "") -> Reply:
        body = {"startDate": f"{start:%Y-%m-%dT%H:%M:%SZ}", "endDate": f"{end:%Y-%m-%dT%H:%M:%SZ}"}
        return await self.call("POST", f"{UNITS}/{unit}/agentschedules/search{query}", json=body)


@pytest.fixture
async def api(simulator: RunningSimulator) -> AsyncIterator[Api]:
    """An aiohttp session with a token of the WFM client."""
    async with aiohttp.ClientSession() as http:
        client = Api(http, simulator)
        basic = base64.b64encode(f"{WFM[0]}:{WFM[1]}".encode()).decode()
        granted = await client.call(
            "POST",
            "/oauth/token",
            auth=False,
            headers={"Authorization": f"Basic {basic}"},
            data={"grant_type": "client_credentials"},
        )
        client.token = granted.body["access_token"]
        yield client


def _unit(simulator: RunningSimulator, zone: str) -> str:
    return next(u.id for u in simulator.sim.workforce.units if u.time_zone == zone)


def _agent_schedules(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(a["user"]["id"], s) for a in result["agentSchedules"] for s in a["shifts"]]


class TestSimulatorApi:
    async def test_business_units_are_listed_unpaged(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """The listing is an unpaged {entities}; settings (zone, week start) only when expanded."""
        listing = await api.call("GET", UNITS)
        assert listing.status == 200
        assert set(listing.body) == {"entities"}
        entities = listing.body["entities"]
        assert [e["id"] for e in entities] == [u.id for u in simulator.sim.workforce.units]
        assert all(set(e) == {"id", "name", "division", "selfUri"} for e in entities)
        zones = set()
        for entity in entities:
            one = await api.call("GET", f"{UNITS}/{entity['id']}?expand=settings")
            zones.add(one.body["settings"]["timeZone"])
            assert one.body["settings"]["startDayOfWeek"] in {"Sunday", "Monday", "Saturday"}
        assert zones == {"America/New_York", "Europe/Berlin", "Asia/Kolkata"}
        missing = await api.call("GET", f"{UNITS}/no-such-unit")
        assert missing.status == 404
        assert missing.body["code"] == "not.found"
        assert missing.body["contextId"] == missing.headers["ININ-Correlation-Id"]

    async def test_search_needs_a_token_and_valid_dates(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """No bearer is 401; a missing or reversed range is a 400 with the standard error body."""
        unit = _unit(simulator, "Europe/Berlin")
        path = f"{UNITS}/{unit}/agentschedules/search"
        no_token = await api.call("POST", path, auth=False, json={})
        assert (no_token.status, no_token.body["code"]) == (401, "authentication.required")
        missing = await api.call("POST", path, json={"endDate": "2025-03-24T00:00:00Z"})
        assert (missing.status, missing.body["code"]) == (400, "bad.request")
        reversed_range = await api.search(unit, DST_WEEK.end, DST_WEEK.start)
        assert (reversed_range.status, reversed_range.body["code"]) == (400, "invalid.date")

    async def test_inline_shape(self, api: Api, simulator: RunningSimulator) -> None:
        """Complete with an inline result: agent schedules, the unit's zone, published weeks."""
        unit = _unit(simulator, "Europe/Berlin")
        reply = await api.search(unit, DST_WEEK.start, DST_WEEK.end)
        assert reply.status == 200
        assert reply.body["status"] == "Complete"
        assert reply.body["operationId"]
        result = reply.body["result"]
        assert set(result) == {"agentSchedules", "businessUnitTimeZone", "publishedSchedules"}
        assert result["businessUnitTimeZone"] == "Europe/Berlin"
        # Berlin's next week starts 2025-03-30T22:00Z (CEST), inside the UTC week.
        weeks = [p["weekDate"] for p in result["publishedSchedules"]]
        assert weeks == ["2025-03-24", "2025-03-31"]
        assert _agent_schedules(result)

    async def test_download_shape_served_without_auth(
        self, api: Api, simulator: RunningSimulator, clock: ManualClock
    ) -> None:
        """downloadUrl's body equals the inline result; it needs no bearer, refuses one, and is
        a 404 once expired or for an id it never issued."""
        unit = _unit(simulator, "America/New_York")
        inline = (await api.search(unit, DST_WEEK.start, DST_WEEK.end)).body["result"]
        simulator.sim.config.wfm_search_shape = "download"
        reply = await api.search(unit, DST_WEEK.start, DST_WEEK.end)
        assert reply.body["status"] == "Complete"
        assert "result" not in reply.body
        url = reply.body["downloadUrl"]
        assert url.startswith(simulator.base_url)
        with_bearer = await api.call("GET", url)
        assert with_bearer.status == 400
        downloaded = await api.call("GET", url, auth=False)
        assert downloaded.status == 200
        assert downloaded.body == inline
        wrong = await api.call(
            "GET", url.replace("/agentschedules/", "/agentschedules/x"), auth=False
        )
        assert wrong.status == 404
        clock.mono += simulator.sim.config.wfm_download_ttl_seconds
        assert (await api.call("GET", url, auth=False)).status == 404

    async def test_processing_shapes_and_force_flags(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """processing_next(n) answers Processing n times, then Complete; forceAsync=true always
        answers Processing and forceDownloadService=true a downloadUrl."""
        unit = _unit(simulator, "Asia/Kolkata")
        window = (DST_WEEK.start, DST_WEEK.end)
        simulator.sim.processing_next(2)
        statuses = [(await api.search(unit, *window)).body for _ in range(3)]
        assert [b["status"] for b in statuses] == ["Processing", "Processing", "Complete"]
        assert all("result" not in b and "downloadUrl" not in b for b in statuses[:2])
        forced = await api.search(unit, *window, query="?forceAsync=true")
        assert forced.body["status"] == "Processing"
        download = await api.search(unit, *window, query="?forceDownloadService=true")
        assert download.body["status"] == "Complete"
        assert "downloadUrl" in download.body
        simulator.sim.config.wfm_search_shape = "processing"
        assert (await api.search(unit, *window)).body["status"] == "Processing"

    async def test_auto_shape_sends_large_results_as_downloads(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """auto: a result with more shifts than wfm_inline_max_shifts comes as a downloadUrl."""
        simulator.sim.config.wfm_search_shape = "auto"
        simulator.sim.config.wfm_inline_max_shifts = 20
        big = await api.search(_unit(simulator, "America/New_York"), DST_WEEK.start, DST_WEEK.end)
        small = await api.search(_unit(simulator, "Asia/Kolkata"), DST_WEEK.start, DST_WEEK.end)
        assert "downloadUrl" in big.body
        assert "result" in small.body

    @pytest.mark.parametrize(
        "case",
        [
            pytest.param(("Europe/Berlin", date(2025, 3, 24), 167, {1, 2}), id="berlin-spring"),
            pytest.param(("America/New_York", date(2025, 11, 2), 169, {-5}), id="new-york-fall"),
        ],
    )
    async def test_dst_week_has_local_days_and_utc_instants(
        self,
        api: Api,
        simulator: RunningSimulator,
        clock: ManualClock,
        case: tuple[str, date, int, set[int]],
    ) -> None:
        """A BU week spanning a DST change (Berlin's spring week is 167 h long, New York's
        fall week 169 h): every shift starts at the agent's local start time on a local day of
        that week, so the UTC hour moves with the offset; activities tile each valid shift."""
        zone_name, week, hours, offsets = case
        clock.wall = datetime.combine(week, time(12), tzinfo=UTC)
        unit = _unit(simulator, zone_name)
        zone = ZoneInfo(zone_name)
        start = datetime.combine(week, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(week + timedelta(days=7), time(0), tzinfo=zone).astimezone(UTC)
        assert end - start == timedelta(hours=hours)
        result = (await api.search(unit, start, end)).body["result"]
        seen: Counter[timedelta | None] = Counter()
        local_starts: dict[str, set[time]] = {}
        for user, shift in _agent_schedules(result):
            assert shift["schedule"]["weekDate"] == week.isoformat()
            assert shift["startDate"].endswith("Z")
            local = datetime.fromisoformat(shift["startDate"]).astimezone(zone)
            assert week <= local.date() < week + timedelta(days=7)
            seen[local.utcoffset()] += 1
            local_starts.setdefault(user, set()).add(local.time())
            assert local.minute in (0, 30)
            if shift["activities"] and shift["lengthMinutes"] > 0:
                _assert_tiled(shift)
        assert set(seen) == {timedelta(hours=h) for h in offsets}
        assert local_starts
        assert all(len(times) == 1 for times in local_starts.values())

    async def test_week_route_wants_the_week_start(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """weeks/{weekId}/schedules takes the unit's first week day, else 400 invalid.value."""
        unit = _unit(simulator, "America/New_York")  # weeks start on Sunday
        sunday = await api.call("GET", f"{UNITS}/{unit}/weeks/2025-03-23/schedules")
        assert sunday.status == 200
        (entity,) = sunday.body["entities"]
        assert (entity["weekDate"], entity["published"]) == ("2025-03-23", True)
        monday = await api.call("GET", f"{UNITS}/{unit}/weeks/2025-03-24/schedules")
        assert (monday.status, monday.body["code"]) == (400, "invalid.value")
        later = await api.call("GET", f"{UNITS}/{unit}/weeks/2025-06-01/schedules")
        assert later.body["entities"] == []  # beyond the published horizon

    async def test_republish_changes_only_that_week(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """republish moves shifts of that week (new content, same ids, version 2); the week
        before is untouched."""
        unit = _unit(simulator, "America/New_York")
        before = simulator.sim.shifts(DST_WEEK.start, DST_WEEK.end)
        other = simulator.sim.shifts(OTHER_WEEK.start, OTHER_WEEK.end)
        changed = simulator.sim.republish(unit, "2025-03-23")
        assert len(changed) == 2
        after = simulator.sim.shifts(DST_WEEK.start, DST_WEEK.end)
        assert simulator.sim.shifts(OTHER_WEEK.start, OTHER_WEEK.end) == other
        old = {s["shift"]["id"]: s for s in before}
        new = {s["shift"]["id"]: s for s in after}
        assert old.keys() == new.keys()
        assert sorted(i for i in new if new[i] != old[i]) == changed
        assert all(new[i]["shift"]["manuallyEdited"] for i in changed)
        week = await api.call("GET", f"{UNITS}/{unit}/weeks/2025-03-23/schedules")
        assert week.body["entities"][0]["metadata"]["version"] == 2
        with pytest.raises(ValueError, match="not a Sunday"):
            simulator.sim.republish(unit, "2025-03-24")


def _assert_tiled(shift: dict[str, Any]) -> None:
    cursor = datetime.fromisoformat(shift["startDate"])
    for activity in shift["activities"]:
        assert datetime.fromisoformat(activity["startDate"]) == cursor
        cursor += timedelta(minutes=activity["lengthMinutes"])
    assert cursor == datetime.fromisoformat(shift["startDate"]) + timedelta(
        minutes=shift["lengthMinutes"]
    )


# -- the extractor through the real request path --


@pytest.fixture
async def api_client(simulator: RunningSimulator) -> AsyncIterator[ApiClient]:
    """The WFM domain's ApiClient with its own TokenManager and limiter."""
    async with open_api_client(
        simulator,
        WFM,
        domain="wfm",
        priority="low",
        clock=SystemClock(),
        retry=RetryPolicy(base_s=0.02, cap_s=0.1, budget_s=5.0, rng=random.Random(3)),
        registry=CollectorRegistry(),
    ) as api:
        yield api


def _search(api: ApiClient, units: tuple[str, ...] = ()) -> ScheduleSearch:
    return ScheduleSearch(api, clock=SystemClock(), business_units=units, processing_pause_s=0.01)


async def _pages(search: ScheduleSearch, window: Window) -> list[list[Any]]:
    return [page async for page in search.fetch(window)]


def _searches(simulator: RunningSimulator) -> list[int]:
    return [r.status for r in simulator.sim.requests if r.path.endswith("/search")]


@pytest.mark.parametrize(
    ("shape", "processing", "async_over_days"),
    [
        pytest.param("inline", 0, None, id="inline"),
        pytest.param("download", 0, None, id="download"),
        pytest.param("auto", 0, None, id="auto"),
        pytest.param("inline", 1, None, id="processing-once-then-inline"),
        pytest.param("inline", 2, None, id="processing-twice-then-by-day"),
        pytest.param("download", 0, 1.5, id="week-processing-days-download"),
    ],
)
async def test_every_shape_yields_the_ground_truth(
    api_client: ApiClient,
    simulator: RunningSimulator,
    shape: Any,
    processing: int,
    async_over_days: float | None,
) -> None:
    """Whatever shape the search answers in, the extractor yields exactly the shifts the
    platform holds for the week: one page per business unit, in id order, nothing twice."""
    simulator.sim.config.wfm_search_shape = shape
    simulator.sim.config.wfm_inline_max_shifts = 30
    simulator.sim.config.wfm_async_over_days = async_over_days
    simulator.sim.processing_next(processing)
    pages = await _pages(_search(api_client), DST_WEEK)
    units = [u.id for u in simulator.sim.workforce.units]
    assert [{s["businessUnitId"] for s in page} for page in pages] == [{u} for u in units]
    assert [s for page in pages for s in page] == simulator.sim.shifts(DST_WEEK.start, DST_WEEK.end)


async def test_split_by_day_happens_only_after_a_retry(
    api_client: ApiClient, simulator: RunningSimulator
) -> None:
    """A week search still Processing after one retry is split into seven day searches."""
    simulator.sim.processing_next(2)
    unit = _unit(simulator, "Asia/Kolkata")
    pages = await _pages(_search(api_client, (unit,)), DST_WEEK)
    assert len(pages) == 1
    assert len(_searches(simulator)) == 2 + 7


async def test_processing_that_never_completes_fails_the_window(
    api_client: ApiClient, simulator: RunningSimulator
) -> None:
    """Always Processing: after the retry and the first day, TransientSourceError."""
    simulator.sim.config.wfm_search_shape = "processing"
    with pytest.raises(TransientSourceError, match="still Processing"):
        await _pages(_search(api_client), DST_WEEK)
    assert len(_searches(simulator)) == 2 + 2


async def test_expired_download_fails_the_window(
    api_client: ApiClient, simulator: RunningSimulator
) -> None:
    """A download URL that is already gone is a TransientSourceError (a new search gets a new
    one), not a crash."""
    simulator.sim.config.wfm_search_shape = "download"
    simulator.sim.config.wfm_download_ttl_seconds = 0.0
    with pytest.raises(TransientSourceError, match="download"):
        await _pages(_search(api_client), DST_WEEK)


async def test_configured_units_are_not_listed(
    api_client: ApiClient, simulator: RunningSimulator
) -> None:
    """Configured business units are used as given (sorted); the listing is never called."""
    units = sorted(u.id for u in simulator.sim.workforce.units)[:2]
    pages = await _pages(_search(api_client, (units[1], units[0])), DST_WEEK)
    assert [page[0]["businessUnitId"] for page in pages] == units
    assert not [r for r in simulator.sim.requests if r.path == UNITS]


async def test_unchanged_week_is_identical_and_a_republished_one_is_not(
    api_client: ApiClient, simulator: RunningSimulator
) -> None:
    """Two fetches of an unchanged week return identical lists; after a republish only the
    changed shifts differ."""
    search = _search(api_client)
    first = await _pages(search, DST_WEEK)
    assert await _pages(search, DST_WEEK) == first
    changed = simulator.sim.republish(_unit(simulator, "Europe/Berlin"), "2025-03-24")
    third = await _pages(search, DST_WEEK)
    differing = {
        a["shift"]["id"]
        for old, new in zip(first, third, strict=True)
        for a, b in zip(old, new, strict=True)
        if a != b
    }
    assert differing == set(changed)
