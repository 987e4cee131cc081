"""Step 2 (extract) for Quality: the org-wide evaluation search (reference §6.2).

One window = one search over ``changedDate`` in ``[start, end]`` (longer windows are cut into
ranges the platform accepts), paged by ``pageNumber`` until a short or empty page. Offset paging
over live data can skip a record when another one leaves the range between two pages, so a
search that took several pages is read again until a pass loses no record seen before; records
found only by a later pass are yielded then. Each evaluation is yielded at most once per window.
Every page is checked against the documented shape (``pages.search_page``): a 200 that is not a
page (a gateway's ``{}`` or error body, items that are not objects) is asked for again, never
read as the short page that ends the search. Yields raw result pages; knows nothing of mapping
or the lake.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from producer.api import pages
from producer.api.client import ApiClient
from producer.clock import Clock
from producer.errors import TransientSourceError
from producer.windows import Window

__all__ = ["MAX_SEARCH_RANGE", "SEARCH_PATH", "EvaluationSearch", "search_ranges"]

SEARCH_PATH = "/api/v2/quality/evaluations/search"
# The platform caps a search's date range at 3 months; 89 days is the shortest 3 calendar months
# (February to April), so a range of this length is accepted however the months are counted.
MAX_SEARCH_RANGE = timedelta(days=89)
_MAX_PASSES = 4
_MAX_PAGES = 10_000
_log = structlog.get_logger("producer.source")


def search_ranges(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive ranges of at most ``MAX_SEARCH_RANGE``."""
    ranges: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor + MAX_SEARCH_RANGE)
        ranges.append((cursor, stop))
        cursor = stop
    return ranges


def _platform_time(instant: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ss.SSSZ`` in UTC, the search's date format."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _identity(source: Any) -> str:
    """The evaluation id, or for a record without one its canonical JSON (to spot repeats)."""
    if isinstance(source, dict):
        value = source.get("id")
        if isinstance(value, str) and value:
            return value
    return "json:" + json.dumps(source, sort_keys=True, separators=(",", ":"))


class EvaluationSearch:
    """Extracts the evaluations whose ``changedDate`` falls in a window, via the search API."""

    def __init__(
        self, api: ApiClient, *, clock: Clock, page_size: int = 100, settle_seconds: float = 120.0
    ) -> None:
        self._api = api
        self._clock = clock
        self._page_size = page_size
        self._settle = timedelta(seconds=settle_seconds)

    async def availability(self) -> datetime:
        """Now minus the settle time: the search index shows a change only a little later."""
        return self._clock.now() - self._settle

    async def fetch(self, window: Window) -> AsyncGenerator[list[Any], None]:
        """Yield pages of evaluations changed in ``window``, each evaluation once.

        A range end is sent as is; if the platform treats it as inclusive, a record changed
        exactly at ``window.end`` also comes back and the worker counts it out of window.
        Raises ``TransientSourceError`` on a malformed response, a search that never ends, or
        results that kept shifting for ``_MAX_PASSES`` passes (the window is then re-run).
        Cancellation between pages leaves nothing behind (searches hold no server state).
        """
        seen: set[str] = set()
        for start, end in search_ranges(window.start, window.end):
            async with aclosing(self._search(start, end, seen)) as pages:
                async for page in pages:
                    yield page

    async def _search(
        self, start: datetime, end: datetime, seen: set[str]
    ) -> AsyncGenerator[list[Any], None]:
        previous: set[str] | None = None
        for attempt in range(1, _MAX_PASSES + 1):
            current: set[str] = set()
            pages = 0
            async with aclosing(self._pages(start, end)) as responses:
                async for results in responses:
                    pages += 1
                    fresh: list[Any] = []
                    for source in results:
                        key = _identity(source)
                        current.add(key)
                        if key not in seen:
                            seen.add(key)
                            fresh.append(source)
                    if fresh:
                        yield fresh
            if pages == 1 or (previous is not None and previous <= current):
                return  # one response is a consistent snapshot; or nothing left the range
            if previous is not None:
                _log.info("search_results_shifted", lost=len(previous - current), attempt=attempt)
            previous = current
        raise TransientSourceError(
            f"evaluation search {_platform_time(start)}..{_platform_time(end)}: results kept "
            f"changing during {_MAX_PASSES} passes"
        )

    async def _pages(self, start: datetime, end: datetime) -> AsyncGenerator[list[Any], None]:
        date_range = {
            "type": "DATE_RANGE",
            "field": "changedDate",
            "startValue": _platform_time(start),
            "endValue": _platform_time(end),
        }
        for number in range(1, _MAX_PAGES + 1):
            body = {
                "query": [date_range],
                "pageSize": self._page_size,
                "pageNumber": number,
                "sortBy": "createdDate",
                "sortOrder": "ASC",
            }
            response = await self._api.call(
                "POST", SEARCH_PATH, json=body, expect=pages.search_page(number)
            )
            # Absent only on an empty page that says which it is (``pages.search_page``).
            results: list[Any] = response.body.get("results", [])
            yield results
            if len(results) < self._page_size:
                return
        raise TransientSourceError(f"evaluation search: more than {_MAX_PAGES} pages")
