"""Step 2 (extract) for Telephony: the analytics conversation-details async jobs API.

One window = one job: submit (202 + jobId), poll until FULFILLED, page the results with the
opaque cursor until it is absent, then DELETE the job to free the org's concurrency slot. The next
page is requested as soon as its cursor is known, so it arrives while the current one is routed;
it is kept as bytes until the current one is done (parsed, a page weighs about eight times its
body), so one page's objects are in memory at a time.
Every answer is checked against its documented shape (``pages``): a results page that is not
one (a gateway's ``{}`` or error body with status 200, items that are not objects) is asked for
again with the same cursor, never read as the end of the results. A job that ends FAILED,
CANCELLED or EXPIRED, a cursor that repeats, a job not fulfilled within ``max_job_wait_s``, more
than ``max_pages`` pages (a cursor that never ends), or a page still wrong after the retries
raises ``TransientSourceError``: the window fails as a whole and is re-run later, never skipped.
Yields raw result pages; knows nothing of mapping or the lake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import Any

import structlog

from producer.api import pages
from producer.api.client import ApiClient, ApiResponse
from producer.clock import Clock, aware_instant
from producer.errors import SourceError, TransientSourceError
from producer.windows import Window

__all__ = ["ConversationJobs"]

_JOBS = "/api/v2/analytics/conversations/details/jobs"
_log = structlog.get_logger("producer.source")
_DELETE_TIMEOUT_S = 10.0


@dataclass(frozen=True, eq=False)
class ConversationJobs:
    """Extracts the conversations of one window through an async details job."""

    api: ApiClient
    _: KW_ONLY
    clock: Clock
    poll_seconds: float = 2.0
    page_size: int = 1000
    max_job_wait_s: float = 1800.0
    max_pages: int = 10_000

    async def availability(self) -> datetime:
        """The analytics ``dataAvailabilityDate``: data after it is silently missing."""
        response = await self.api.call("GET", f"{_JOBS}/availability", expect=pages.availability)
        available = aware_instant(response.body["dataAvailabilityDate"])
        assert available is not None  # the shape check parsed it
        return available

    async def fetch(self, window: Window) -> AsyncGenerator[list[Any], None]:
        """Yield the result pages of a job over ``window`` (every overlapping conversation).

        While the caller works on one page, the next is already being fetched. A page is the
        caller's until it asks for the next one; the list is then emptied (a caller that keeps
        conversations copies them). Closing the generator early (``aclose``) cancels the
        request ahead and still deletes the job.
        """
        query = {"interval": window.interval(), "order": "asc", "orderBy": "conversationStart"}
        created = await self.api.call("POST", _JOBS, json=query, expect=pages.job_submitted)
        job_id: str = created.body["jobId"]
        log = _log.bind(job_id=self.api.scrub(job_id))
        try:
            await self._wait_fulfilled(job_id)
            async with aclosing(self._pages(job_id)) as results:
                async for page in results:
                    yield page
        finally:
            await self._delete(job_id, log)

    async def _wait_fulfilled(self, job_id: str) -> None:
        started = self.clock.monotonic()
        delay = self.poll_seconds
        while True:
            status = await self.api.call("GET", f"{_JOBS}/{job_id}", expect=pages.job_status)
            body = status.body
            state = body["state"]
            if state == "FULFILLED":
                return
            if state in ("FAILED", "CANCELLED", "EXPIRED"):
                message = str(body.get("errorMessage") or "")
                text = f"job {job_id} ended {state}: {message}".rstrip(": ")
                raise TransientSourceError(self.api.scrub(text)[:300])
            if state not in ("QUEUED", "PENDING"):
                text = f"job {job_id}: unexpected state {state!r}"
                raise TransientSourceError(self.api.scrub(text)[:300])
            if self.clock.monotonic() - started > self.max_job_wait_s:
                raise TransientSourceError(
                    f"job {job_id} still {state} after {self.max_job_wait_s:.0f} s"
                )
            await self.clock.sleep(delay)
            # Polls cost quota: back off gently up to 5x the configured interval.
            delay = min(delay * 1.5, self.poll_seconds * 5)

    async def _pages(self, job_id: str) -> AsyncGenerator[list[Any], None]:
        """The pages in cursor order, each next one requested before the current is yielded."""
        seen: set[str] = set()
        params = self._page_params(None)
        request: asyncio.Task[ApiResponse] | None = self._request_page(job_id, params)
        try:
            while request is not None:
                response = await request
                request = None
                body = await self.api.decoded(
                    response,
                    "GET",
                    f"{_JOBS}/{job_id}/results",
                    params=params,
                    expect=pages.results_page,
                )
                del response  # the bytes, now parsed
                # Absent only on a final page that says so (``pages.results_page``).
                conversations: list[Any] = body.get("conversations", [])
                cursor = body.get("cursor")
                if cursor:
                    if cursor in seen:
                        raise TransientSourceError(
                            self.api.scrub(f"job {job_id} results: cursor repeated (a loop)")
                        )
                    seen.add(cursor)
                    if len(seen) >= self.max_pages:
                        raise TransientSourceError(
                            f"job {job_id} results: more than {self.max_pages} pages "
                            "(MESH_TELEPHONY__MAX_PAGES_PER_WINDOW): a cursor that never ends"
                        )
                    params = self._page_params(cursor)
                    request = self._request_page(job_id, params)
                del body
                yield conversations
                # The caller asks for the next page: it is done with this one. Emptying the list
                # frees its objects even though the caller's loop variable still holds the list.
                conversations.clear()
        finally:
            if request is not None:  # closed early or failed: drop the page fetched ahead
                request.cancel()
                await asyncio.gather(request, return_exceptions=True)

    def _page_params(self, cursor: str | None) -> dict[str, str]:
        params = {"pageSize": str(self.page_size)}
        if cursor is not None:
            params["cursor"] = cursor
        return params

    def _request_page(self, job_id: str, params: dict[str, str]) -> asyncio.Task[ApiResponse]:
        """The page's request, started now; its body stays bytes until ``decoded``."""
        return asyncio.create_task(
            self.api.call("GET", f"{_JOBS}/{job_id}/results", params=params, decode=False),
            name="telephony:next-page",
        )

    async def _delete(self, job_id: str, log: Any) -> None:
        """Free the job's slot; best effort, bounded, never masks the real outcome."""
        try:
            async with asyncio.timeout(_DELETE_TIMEOUT_S):
                await self.api.call("DELETE", f"{_JOBS}/{job_id}")
        except (SourceError, TimeoutError) as exc:
            log.info("job_delete_failed", error=str(exc))
