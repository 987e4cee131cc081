"""Step 2 (extract) for Telephony on NICE CXone: completed contacts from the Reporting API.

``GET {reporting base}/contacts/completed`` (reference §2.1), paged with ``skip``/``top`` in the
one documented stable order, ``orderBy=lastUpdateTime asc``. A window selects its contacts by their
*contact start*: each contact lands in exactly one window because the worker keeps only those
whose start lies in ``[window.start, window.end)`` (``record_time``). Which timestamp the
platform's ``startDate``/``endDate`` filter on is unconfirmed (§2.1), so the query asks for
``[window.start, window.end + completion_lag)``: every timestamp a completed contact carries
(start, end, last update) is at or after its start, so a contact that started in the window is
in the answer whichever one the platform filters on, as long as it completed (and was
reported) within ``completion_lag`` of the window's end. Contacts outside the window are
dropped by the worker, repeats across pages by its seen-set. ``updatedSince`` is not used:
windows are keyed by contact start, and later updates are re-exported by the re-sweep.

Availability: CXone publishes no "data complete until" instant. A contact appears in
``contacts/completed`` only once it has ended, so a window is complete once its contacts have
ended and been reported: ``availability()`` is ``now - completion_lag``. A window is exported
only when ``window.end <= availability``, i.e. when the query's upper bound is in the past.
Contacts that complete later than that are caught by the re-sweep.

Paging and ends (§2.1): 204 with no body means nothing (more) matches: the end. A 200 page must
have the documented shape (``shapes.contacts_page``); one that does not is requested again with
backoff (``ApiClient``), then ``TransientSourceError`` fails the window. The next page is the
one ``_links.next`` announces; its absence is the end. ``skip`` advances by the rows received
(``top`` is only what we ask for). A page that links on but holds no rows, more than
``max_pages_per_window`` pages, or fewer distinct contacts than the first page's ``totalRecords``
(skip paging that lost rows under our feet) fail the window (``TransientSourceError``): it is
re-run later, never committed short. Yields raw contact objects; knows nothing of mapping or the
lake.

``top`` (``page_size``), ``completion_lag`` (``completion_lag_seconds``) and
``max_pages_per_window`` are the domain's ``NiceOptions``, taken whole.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any

import structlog

from producer.api.client import ApiClient
from producer.clock import Clock
from producer.errors import TransientSourceError
from producer.platforms.nice import shapes
from producer.platforms.nice.options import NiceOptions
from producer.windows import Window

__all__ = ["COMPLETED", "CompletedContacts", "iso_z"]

COMPLETED = "/contacts/completed"
_log = structlog.get_logger("producer.source")


def iso_z(instant: datetime) -> str:
    """UTC ISO 8601 with ``Z`` and milliseconds (the form every client sends, §6.14)."""
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


class CompletedContacts:
    """Extracts the completed contacts that started in one window (module docstring)."""

    def __init__(self, api: ApiClient, *, clock: Clock, options: NiceOptions) -> None:
        self._api = api
        self._clock = clock
        self._options = options
        self._lag = timedelta(seconds=options.completion_lag_seconds)

    async def availability(self) -> datetime:
        """``now - completion_lag``: windows ending before it are complete (module docstring)."""
        return self._clock.now() - self._lag

    async def fetch(self, window: Window) -> AsyncGenerator[list[Any], None]:
        """Yield pages of completed contacts that may have started in ``window``."""
        query = {
            "startDate": iso_z(window.start),
            "endDate": iso_z(window.end + self._lag),
            "orderBy": "lastUpdateTime asc",
            "top": str(self._options.page_size),
        }
        skip = 0
        pages = 0
        expected: int | None = None
        seen: set[Any] = set()
        while True:
            params = {**query, "skip": str(skip)}
            response = await self._api.call("GET", COMPLETED, params=params, decode=False)
            if response.status == 204:  # nothing (more) matches
                break
            body = await self._api.decoded(
                response, "GET", COMPLETED, params=params, expect=shapes.contacts_page
            )
            del response
            contacts: list[Any] = body["completedContacts"]
            pages += 1
            if expected is None and isinstance(body.get("totalRecords"), int):
                expected = body["totalRecords"]
            links = body.get("_links")
            following = links.get("next") if isinstance(links, dict) else None
            if following and not contacts:
                raise TransientSourceError(
                    f"{COMPLETED} skip={skip}: an empty page that links to a next one"
                )
            seen.update(contact.get("contactId") for contact in contacts)
            skip += len(contacts)
            yield contacts
            if not following:
                break
            if pages >= self._options.max_pages_per_window:
                raise TransientSourceError(
                    f"{COMPLETED}: more than {self._options.max_pages_per_window} pages "
                    f"for window {window.label}"
                )
        if expected is not None and len(seen) < expected:
            raise TransientSourceError(
                f"{COMPLETED}: {len(seen)} distinct contacts for window {window.label}, "
                f"the first page announced {expected} (rows moved while paging)"
            )
        _log.info("cxone_contacts_fetched", window=window.label, pages=pages, contacts=len(seen))
