"""Hostile answers to the Quality search and the WFM schedule search, at the extractor.

The simulator serves the data; ``gateway.py`` stands in front of it and answers some requests
itself. The extractor runs through the real request path (``ApiClient``, token, limiter). Its
fetch of a window must yield exactly the platform's records (LANDS: the window would land
them) or raise ``TransientSourceError`` (FAILS: the window fails, the checkpoint stays). Never:
a fetch that ends normally with records missing.

=================================  ======  =========  ====================================
case                               times   expected   why
=================================  ======  =========  ====================================
quality: ``{}`` for page 2         once    LANDS      the re-read pass finds the rest
quality: ``{}`` for page 2         always  FAILS      ``{}`` is not an empty page
quality: JSON error, 200, page 2   always  FAILS      a gateway's error body is not a page
quality: HTML, 200, page 2         always  FAILS      retried as a bad body, then fails
wfm: ``{}`` for the search         always  FAILS      no status: not an answer
wfm: ``{}`` for the download       always  FAILS      a download without agentSchedules
wfm: HTML, 200, for the download   always  FAILS      retried as a bad body, then fails
=================================  ======  =========  ====================================
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from producer.api.client import ApiClient
from producer.api.retry import RetryPolicy
from producer.clock import SystemClock
from producer.errors import TransientSourceError
from producer.platforms.genesys.evaluations import SEARCH_PATH, EvaluationSearch
from producer.platforms.genesys.schedules import ScheduleSearch
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig, serve
from producer.windows import Window
from tests.fixtures.api import open_api_client
from tests.fixtures.clock import ManualClock
from tests.hostile.gateway import Answer, Seen, serve_gateway

QUALITY = ("quality-client", "quality-secret")
WFM = ("wfm-client", "wfm-secret")
NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
QUALITY_WINDOW = Window(NOW - timedelta(hours=2), NOW - timedelta(hours=1))
WFM_WEEK = Window(datetime(2025, 3, 24, tzinfo=UTC), datetime(2025, 3, 31, tzinfo=UTC))

_EMPTY = Answer(200, b"{}")
_ERROR_200 = Answer(200, b'{"message": "upstream request timeout", "status": 504}')
_HTML_200 = Answer(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")


class _FixedClock(SystemClock):
    """Real sleeps, the simulator's wall time (the quality search settles against it)."""

    def now(self) -> datetime:
        return NOW


def _times(rule: Callable[[Seen], bool], answer: Answer, times: int | None) -> Any:
    left = [times]

    def answer_if(seen: Seen) -> Answer | None:
        if not rule(seen) or left[0] == 0:
            return None
        if left[0] is not None:
            left[0] -= 1
        return answer

    return answer_if


def _quality_page_2(seen: Seen) -> bool:
    return (
        seen.path == SEARCH_PATH
        and isinstance(seen.json, dict)
        and seen.json.get("pageNumber") == 2
    )


def _wfm_search(seen: Seen) -> bool:
    return seen.path.endswith("/agentschedules/search")


def _wfm_download(seen: Seen) -> bool:
    return "/download/" in seen.path


@asynccontextmanager
async def _behind_gateway(
    config: SimulatorConfig, rule: Any, client: tuple[str, str], domain: str
) -> AsyncIterator[tuple[ApiClient, RunningSimulator, Any]]:
    async with serve(config) as running, serve_gateway(running.base_url, rule) as gateway:
        front = RunningSimulator(gateway.base_url, running.sim)
        async with open_api_client(
            front,
            client,
            domain=domain,
            priority="normal",
            clock=_FixedClock(),
            retry=RetryPolicy(base_s=0.02, cap_s=0.1, budget_s=0.5, rng=random.Random(3)),
            registry=CollectorRegistry(),
        ) as api:
            yield api, running, gateway


async def _fetched_or_failed(fetch: Any) -> list[Any] | None:
    """Every record the fetch yields, or None when it raised ``TransientSourceError``."""
    found: list[Any] = []
    try:
        async for page in fetch:
            found.extend(page)
    except TransientSourceError:
        return None
    return found


_QUALITY_CASES = [
    pytest.param(_EMPTY, 1, "LANDS", id="quality-empty-object-once"),
    pytest.param(
        _EMPTY,
        None,
        "FAILS",
        id="quality-empty-object-always",
    ),
    pytest.param(
        _ERROR_200,
        None,
        "FAILS",
        id="quality-error-body-200-always",
    ),
    pytest.param(_HTML_200, None, "FAILS", id="quality-html-200-always"),
]


@pytest.mark.parametrize(("answer", "times", "expected"), _QUALITY_CASES)
async def test_quality_search_under_a_hostile_gateway(
    answer: Answer, times: int | None, expected: str
) -> None:
    clock = ManualClock(NOW)
    config = SimulatorConfig(
        clients=dict([QUALITY]),
        evaluations_per_hour=60.0,
        rate_limit_per_minute=0,
        now=clock.now,
        monotonic=clock.monotonic,
    )
    rule = _times(_quality_page_2, answer, times)
    async with _behind_gateway(config, rule, QUALITY, "quality") as (api, running, gateway):
        search = EvaluationSearch(api, clock=_FixedClock(), page_size=10, settle_seconds=120.0)
        found = await _fetched_or_failed(search.fetch(QUALITY_WINDOW))
        truth = running.sim.evaluations(QUALITY_WINDOW.start, QUALITY_WINDOW.end)
    assert len(truth) > 20, "the window must span several pages"
    assert gateway.answered, "the gateway never answered: the case proves nothing"
    if expected == "FAILS":
        assert found is None, f"the fetch ended normally with {len(found)} of {len(truth)}"
        return
    assert found is not None, "the fetch failed although the fault was transient"
    assert sorted(r["id"] for r in found) == sorted(r["id"] for r in truth)


_WFM_CASES = [
    pytest.param(_wfm_search, _EMPTY, id="wfm-search-empty-object-always"),
    pytest.param(
        _wfm_download,
        _EMPTY,
        id="wfm-download-empty-object-always",
    ),
    pytest.param(_wfm_download, _HTML_200, id="wfm-download-html-200-always"),
]


@pytest.mark.parametrize(("where", "answer"), _WFM_CASES)
async def test_wfm_schedule_search_under_a_hostile_gateway(
    where: Callable[[Seen], bool], answer: Answer
) -> None:
    """Every case here is FAILS: the answer never turns into the platform's."""
    clock = ManualClock(NOW)
    config = SimulatorConfig(
        clients=dict([WFM]), wfm_search_shape="download", now=clock.now, monotonic=clock.monotonic
    )
    rule = _times(where, answer, None)
    async with _behind_gateway(config, rule, WFM, "wfm") as (api, running, gateway):
        search = ScheduleSearch(
            api, clock=SystemClock(), business_units=(), processing_pause_s=0.01
        )
        found = await _fetched_or_failed(search.fetch(WFM_WEEK))
        truth = running.sim.shifts(WFM_WEEK.start, WFM_WEEK.end)
    assert truth, "the week must hold shifts"
    assert gateway.answered, "the gateway never answered: the case proves nothing"
    assert found is None, f"the fetch ended normally with {len(found)} of {len(truth)} shifts"
