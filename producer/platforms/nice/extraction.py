"""Step 2 (extract) for Quality on NICE CXone: QM workflows from the Data Extraction API.

One window = one job (reference §3): ``POST {area}/data-extraction/v1/jobs`` with
``{"entityName": "qm-workflows", "version", "startDate", "endDate"}`` (dates ``YYYY-MM-DD``,
filtered by submission date, UTC) answers 202 with the job id as a JSON string; ``GET
/jobs/{id}`` moves ``RUNNING`` -> ``SUCCEEDED`` (``result.url``) or ``FAILED``
(``result.errorMessage``), ``CANCELLED``, ``EXPIRED``; the CSV behind ``result.url`` can be
fetched for 30 s after it was issued. Dates are whole days and whether ``endDate`` is inclusive
is unconfirmed, so the job asks for the window's first day up to the day after its last one;
the worker keeps the rows whose ``submissionDate`` lies in the window (``record_time``).

Limits (§3.4): one call per 30 s per tenant, one caller at a time, and a 403 (not a 429) for a
call that breaks the rule. Every call to the area host (submit and polls alike: whether polls
count is unconfirmed) goes through the clients' ``extraction_gate`` (``gates.py``), one
request per ``extraction_interval_seconds``, shared by every domain of the tenant, so two
domains never collide. A 403 still answered (another user of the tenant) pauses the shared gate for
``extraction_interval_seconds`` and the call is tried again, ``max_throttled`` times, then the
window fails: a 403 that persists is a missing permission ("QM Workflow API") or a neighbour
that never lets go.

The download goes out at once through the clients' ``downloads`` (the domain's own limiter, no
token: a pre-signed URL refuses a second credential), never waiting on the gate. A URL refused as
expired (403/404), an empty body (no header row), or a CSV cut short (a row whose field count
differs from the header's, an unterminated quote) asks for the job status again, which hands
out a fresh URL, up to ``max_downloads`` times; then ``TransientSourceError`` fails the window,
as does a job that ends FAILED/CANCELLED/EXPIRED or outlives ``job_max_wait_seconds``.

Rows are parsed with every value a string and keyed by ``csv_key`` of their header (the form
the open-source clients use: ``Workflow ID`` -> ``workflowId``); two headers with one key fail
the window. Yields one page (the rows of the CSV); knows nothing of mapping or the lake.

The domain's ``NiceClients`` and ``NiceOptions`` (entity version, settle, interval, job wait)
are taken whole; ``max_throttled`` and ``max_downloads`` are the extractor's own bounds.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any

import structlog

from producer.api.client import ApiResponse
from producer.clock import Clock
from producer.errors import PermanentSourceError, PermissionDeniedError, TransientSourceError
from producer.platforms.nice import shapes
from producer.platforms.nice.auth import NiceClients
from producer.platforms.nice.options import NiceOptions
from producer.windows import Window

__all__ = ["JOBS", "QmWorkflowExtraction", "csv_key", "parse_csv"]

JOBS = "/data-extraction/v1/jobs"
_FINAL_FAILURES = frozenset({"FAILED", "CANCELLED", "EXPIRED"})
_WORD_BREAK = re.compile(r"[()]|-(?= )")
_log = structlog.get_logger("producer.source")


class CsvError(ValueError):
    """A result file that is not a whole CSV (our words, never the file's content)."""


def csv_key(header: str) -> str:
    """A CSV header as a camelCase key: lower-cased, ``(``, ``)`` and ``- `` as spaces, the
    words joined (``Firstname (Eva)`` -> ``firstnameEva``), as the open-source clients do."""
    words = _WORD_BREAK.sub(" ", header.strip().lower()).split()
    return words[0] + "".join(word[:1].upper() + word[1:] for word in words[1:]) if words else ""


def parse_csv(raw: bytes) -> list[dict[str, str]]:
    """The rows of a result file, all values strings; ``CsvError`` when it is not whole."""
    if not raw.strip():
        raise CsvError("empty result file (no header row)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvError("result file is not UTF-8") from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        keys = [csv_key(name) for name in header]
        if len(set(keys)) != len(keys) or not all(keys):
            raise CsvError("result file has blank or clashing headers")
        rows: list[dict[str, str]] = []
        for number, row in enumerate(reader, start=2):
            if not row:
                continue  # a blank line
            if len(row) != len(keys):
                raise CsvError(f"row {number} has {len(row)} fields, the header {len(keys)}")
            rows.append(dict(zip(keys, row, strict=True)))
    except csv.Error as exc:
        raise CsvError(f"result file is not valid CSV ({exc})") from exc
    if not text.endswith(("\n", "\r")) and rows:
        raise CsvError("result file does not end with a line break (cut short)")
    return rows


class QmWorkflowExtraction:
    """Extracts the QM workflows submitted in one window through a Data Extraction job."""

    def __init__(
        self,
        clients: NiceClients,
        *,
        clock: Clock,
        options: NiceOptions,
        max_throttled: int = 4,
        max_downloads: int = 3,
    ) -> None:
        self._area = clients.area
        self._downloads = clients.downloads
        self._gate = clients.extraction_gate
        self._clock = clock
        self._options = options
        self._max_throttled = max_throttled
        self._max_downloads = max_downloads

    async def availability(self) -> datetime:
        """``now - settle``: new interaction data can take up to 30 min to appear (§3.3)."""
        return self._clock.now() - timedelta(seconds=self._options.settle_seconds)

    async def fetch(self, window: Window) -> AsyncGenerator[list[Any], None]:
        """Yield the rows of a job over the days covering ``window`` (one page)."""
        last_day = (window.end - timedelta(microseconds=1)).date()
        body = {
            "entityName": "qm-workflows",
            "version": self._options.qm_entity_version,
            "startDate": window.start.date().isoformat(),
            "endDate": (last_day + timedelta(days=1)).isoformat(),
        }
        created = await self._throttled("POST", JOBS, json=body, expect=shapes.job_created)
        job_id = str(created.body).strip()
        rows: list[Any] = await self._rows(job_id)
        _log.info("cxone_extraction_fetched", window=window.label, rows=len(rows))
        yield rows

    async def _rows(self, job_id: str) -> list[dict[str, str]]:
        problem = ""
        for _ in range(self._max_downloads):
            url = await self._wait_succeeded(job_id)
            try:
                response = await self._downloads.call("GET", url, auth=False, decode=False)
            except (PermissionDeniedError, PermanentSourceError) as exc:
                problem = f"download refused ({type(exc).__name__})"  # expired URL: ask again
                continue
            try:
                return parse_csv(response.body)
            except CsvError as exc:
                problem = str(exc)
        raise TransientSourceError(
            self._area.scrub(
                f"job {job_id}: no whole result file after "
                f"{self._max_downloads} downloads ({problem})"
            )
        )

    async def _wait_succeeded(self, job_id: str) -> str:
        """The job's fresh result URL once it has SUCCEEDED (each status hands out a new one)."""
        started = self._clock.monotonic()
        max_wait_s = self._options.job_max_wait_seconds
        while True:
            status = await self._throttled("GET", f"{JOBS}/{job_id}", expect=shapes.job_status)
            job = status.body["jobStatus"]
            state = job["status"]
            if state == "SUCCEEDED":
                url: str = job["result"]["url"]
                return url
            if state in _FINAL_FAILURES:
                result = job.get("result")
                message = str(result.get("errorMessage") or "") if isinstance(result, dict) else ""
                text = f"job {job_id} ended {state}: {message}".rstrip(": ")
                raise TransientSourceError(self._area.scrub(text)[:300])
            if state != "RUNNING":
                text = f"job {job_id}: unexpected status {state!r}"
                raise TransientSourceError(self._area.scrub(text)[:300])
            if self._clock.monotonic() - started > max_wait_s:
                text = f"job {job_id} still RUNNING after {max_wait_s:.0f} s"
                raise TransientSourceError(self._area.scrub(text))
            # No sleep of our own: the gate spaces the polls the extraction interval apart.

    async def _throttled(
        self, method: str, path: str, *, json: Any = None, expect: shapes.Shape
    ) -> ApiResponse:
        """One call to the area host; a 403 pauses the tenant's gate and is tried again."""
        interval = self._options.extraction_interval_seconds
        for _ in range(self._max_throttled):
            try:
                return await self._area.call(method, path, json=json, expect=expect)
            except PermissionDeniedError:
                self._gate.pause(interval)
                _log.info(
                    "cxone_extraction_throttled", request=self._area.scrub(f"{method} {path}")
                )
        text = (
            f"{method} {path}: refused with 403 {self._max_throttled} times "
            f"{interval:g} s apart (the tenant's Data Extraction rule, or the access "
            "key lacks the QM Workflow API permission)"
        )
        raise TransientSourceError(self._area.scrub(text))
