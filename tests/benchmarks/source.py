"""The benchmark's own read of the simulator: the raw results pages of each window's job.

The reference chains must work on the very bytes the producer received, so the harness pulls
the same windows through the same API (token, job, poll, cursor pages, delete) with the
standard library's HTTP client. A plain sequential client: no retries, no rate limiting (the
benchmark's simulator has none), no part of the producer.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.benchmarks.chains import WindowPages

__all__ = ["fetch_windows", "platform_time"]

_JOBS = "/api/v2/analytics/conversations/details/jobs"
_TIMEOUT_S = 600.0


def platform_time(instant: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``, as the platform writes conversation times."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def fetch_windows(
    base_url: str,
    client: tuple[str, str],
    start: datetime,
    window_seconds: int,
    count: int,
    *,
    page_size: int = 1000,
) -> list[WindowPages]:
    """The raw results pages of ``count`` consecutive windows from ``start``, one job each."""
    token = _token(base_url, client)
    windows = []
    for index in range(count):
        begin = start + timedelta(seconds=index * window_seconds)
        end = begin + timedelta(seconds=window_seconds)
        pages = list(_job_pages(base_url, token, begin, end, page_size))
        windows.append(WindowPages(platform_time(begin), platform_time(end), pages))
    return windows


def _token(base_url: str, client: tuple[str, str]) -> str:
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    body = b"grant_type=client_credentials"
    headers = {
        "Authorization": f"Basic {basic}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    answer = _json(_send(base_url + "/oauth/token", "POST", body, headers))
    token: str = answer["access_token"]
    return token


def _job_pages(
    base_url: str, token: str, begin: datetime, end: datetime, page_size: int
) -> Iterator[bytes]:
    auth = {"Authorization": f"Bearer {token}"}
    query = {
        "interval": f"{platform_time(begin)}/{platform_time(end)}",
        "order": "asc",
        "orderBy": "conversationStart",
    }
    submitted = _send(
        base_url + _JOBS,
        "POST",
        json.dumps(query).encode(),
        {**auth, "Content-Type": "application/json"},
    )
    job_id = _json(submitted)["jobId"]
    while _json(_send(f"{base_url}{_JOBS}/{job_id}", "GET", None, auth))["state"] != "FULFILLED":
        time.sleep(0.05)
    cursor: str | None = None
    while True:
        params = {"pageSize": str(page_size)}
        if cursor is not None:
            params["cursor"] = cursor
        url = f"{base_url}{_JOBS}/{job_id}/results?{urllib.parse.urlencode(params)}"
        raw = _send(url, "GET", None, auth)
        yield raw
        cursor = _json(raw).get("cursor")
        if not cursor:
            break
    _send(f"{base_url}{_JOBS}/{job_id}", "DELETE", None, auth)


def _send(url: str, method: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310  # our own loopback simulator
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310
        data: bytes = response.read()
        return data


def _json(raw: bytes) -> Any:
    return json.loads(raw)
