"""The documented answer shapes: what each extractor takes as data, and what it asks for again."""

from __future__ import annotations

from typing import Any

import pytest

from producer.api import pages

_WHEN = "2025-03-10T12:00:00.000Z"
_GATEWAY = {"message": "upstream request timeout", "status": 504}
_NOT_DATA: list[Any] = [None, {}, _GATEWAY, [], "text", 3]


@pytest.mark.parametrize(
    ("check", "valid"),
    [
        (pages.job_submitted, {"jobId": "5c5f0e5e"}),
        (pages.job_status, {"state": "PENDING", "submissionDate": _WHEN}),
        (pages.availability, {"dataAvailabilityDate": _WHEN}),
        (pages.results_page, {"conversations": [{"conversationId": "c"}], "cursor": "x"}),
        (pages.results_page, {"conversations": [], "dataAvailabilityDate": _WHEN}),
        (pages.results_page, {"dataAvailabilityDate": _WHEN}),  # the empty final page
        (pages.search_page(2), {"pageSize": 25, "pageNumber": 2, "results": [{"id": "e"}]}),
        (pages.search_page(2), {"pageSize": 25, "pageNumber": 2}),  # an empty page
        (pages.business_units, {"entities": [{"id": "bu"}]}),
        (pages.schedule_search, {"status": "Processing", "operationId": "o"}),
        (pages.schedule_search, {"status": "Error", "operationId": "o"}),
        (pages.schedule_search, {"status": "Complete", "downloadUrl": "https://x/y"}),
        (pages.schedule_search, {"status": "Complete", "result": {"agentSchedules": []}}),
        (pages.schedule_result, {"agentSchedules": [{"user": {"id": "u"}, "shifts": []}]}),
        (pages.schedule_result, {"businessUnitTimeZone": "Europe/Berlin"}),  # no agent
    ],
)
def test_documented_shapes_are_data(check: pages.Shape, valid: Any) -> None:
    assert check(valid) is None


_CHECKS: list[pages.Shape] = [
    pages.job_submitted,
    pages.job_status,
    pages.availability,
    pages.results_page,
    pages.search_page(1),
    pages.business_units,
    pages.schedule_search,
    pages.schedule_result,
]


@pytest.mark.parametrize("check", _CHECKS)
@pytest.mark.parametrize("body", _NOT_DATA)
def test_empty_and_gateway_answers_are_never_data(check: pages.Shape, body: Any) -> None:
    assert check(body) is not None


@pytest.mark.parametrize(
    ("check", "body"),
    [
        (pages.results_page, {"cursor": "next", "dataAvailabilityDate": _WHEN}),
        (pages.results_page, {"conversations": ["{}"], "dataAvailabilityDate": _WHEN}),
        (pages.results_page, {"conversations": {"a": 1}}),
        (pages.results_page, {"conversations": [], "cursor": 7}),
        (pages.availability, {"dataAvailabilityDate": "yesterday"}),
        (pages.search_page(2), {"pageSize": 25, "pageNumber": 1}),
        (pages.search_page(1), {"results": [1, 2]}),
        (pages.schedule_search, {"status": "Complete", "operationId": "o"}),
        (pages.schedule_search, {"status": "Complete", "result": {}}),
        (pages.schedule_search, {"status": "Done"}),
        (pages.schedule_result, {"agentSchedules": "none"}),
        (pages.business_units, {"entities": [None]}),
    ],
)
def test_wrong_shapes_are_named(check: pages.Shape, body: Any) -> None:
    reason = check(body)
    assert reason
    assert "timeout" not in reason  # our words, never the body's text
