"""The runtime quota endpoint on a running daemon: off by default, bearer token required."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from producer.platforms.genesys.simulator import RunningSimulator
from tests.fixtures.runs import daemon_running, free_port, telephony_domain, telephony_settings

_ADMIN = "admin-token-for-tests"


async def _running(
    simulator: RunningSimulator, tmp_path: Path, admin_token: str | None
) -> AsyncIterator[str]:
    port = free_port()
    settings = telephony_settings(
        simulator.base_url,
        (tmp_path / "lake").as_uri(),
        http_port=port,
        admin_token=SecretStr(admin_token) if admin_token else None,
        telephony=telephony_domain(rate_limit_per_minute=240),  # the quota read back below
        # A test may leave the quota at one request a minute: the window in flight then waits
        # on the limiter, and stopping must not give it the default 20 s grace.
        shutdown_grace_seconds=1.0,
    )
    base = f"http://127.0.0.1:{port}"
    async with daemon_running(settings):
        async with aiohttp.ClientSession() as session:
            for _ in range(200):  # until the domain has built its limiter
                await asyncio.sleep(0.05)
                headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
                try:
                    async with session.get(f"{base}/admin/quotas", headers=headers) as response:
                        if response.status != 200 or "telephony" in await response.text():
                            break
                except aiohttp.ClientConnectionError:
                    continue
        yield base


@pytest.fixture
async def admin(simulator: RunningSimulator, tmp_path: Path) -> AsyncIterator[str]:
    async for base in _running(simulator, tmp_path, _ADMIN):
        yield base


async def _call(
    method: str, url: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, json=body) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_refuses_requests_without_the_token(admin: str) -> None:
    """No token or a wrong one: 401 for reading and for changing; nothing changes."""
    assert (await _call("GET", f"{admin}/admin/quotas"))[0] == 401
    assert (await _call("GET", f"{admin}/admin/quotas", "nope"))[0] == 401
    status, _ = await _call("PUT", f"{admin}/admin/quotas/telephony", "nope", {"per_minute": 1})
    assert status == 401
    status, body = await _call("GET", f"{admin}/admin/quotas", _ADMIN)
    assert status == 200
    assert body["telephony"]["per_minute"] == 240


async def test_reads_and_changes_quota_and_priority(admin: str) -> None:
    """With the token: the quota and priority change at once and read back."""
    status, body = await _call(
        "PUT", f"{admin}/admin/quotas/telephony", _ADMIN, {"per_minute": 90, "priority": "low"}
    )
    assert status == 200
    assert body["telephony"] == {"per_minute": 90, "effective_per_minute": 90, "priority": "low"}
    status, metrics = await _call_text(f"{admin}/metrics")
    assert 'mesh_ratelimit_quota_per_minute{domain="telephony"} 90.0' in metrics
    assert _ADMIN not in metrics


async def _call_text(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


@pytest.mark.parametrize(
    "body",
    [{"per_minute": 0}, {"per_minute": "fast"}, {"priority": "urgent"}, {}, {"quota": 5}, [1]],
)
async def test_rejects_bad_changes(admin: str, body: Any) -> None:
    """Invalid values are refused with 400 and a reason."""
    status, answer = await _call("PUT", f"{admin}/admin/quotas/telephony", _ADMIN, body)
    assert status == 400
    assert answer["error"]


@pytest.mark.parametrize(
    "per_minute",
    [1e-9, 0.5, -5, float("nan"), float("inf"), float("-inf"), None, True, "60", [60], 100_001],
)
async def test_rejects_a_quota_that_would_freeze_or_break_the_domain(
    admin: str, per_minute: Any
) -> None:
    """Below one request a minute, NaN, infinities, negatives and non-numbers: 400 naming
    per_minute (JSON NaN and Infinity are what Python's encoder sends), and nothing changes."""
    status, answer = await _call(
        "PUT", f"{admin}/admin/quotas/telephony", _ADMIN, {"per_minute": per_minute}
    )
    assert status == 400
    assert "per_minute" in answer["error"]
    status, body = await _call("GET", f"{admin}/admin/quotas", _ADMIN)
    assert body["telephony"]["per_minute"] == 240


async def test_one_request_a_minute_is_the_smallest_quota(admin: str) -> None:
    """The minimum itself is accepted."""
    status, body = await _call("PUT", f"{admin}/admin/quotas/telephony", _ADMIN, {"per_minute": 1})
    assert status == 200
    assert body["telephony"]["per_minute"] == 1


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer \xff\xfe-not-utf-8", "Bearer caf\u00e9".encode("latin-1"), b"\xc3\x28"],
)
async def test_non_utf8_authorization_is_refused_not_an_error(
    admin: str, authorization: bytes
) -> None:
    """Raw bytes that are not UTF-8 in Authorization (sent as they are over a real socket, which
    aiohttp's client would not do): 401 with the usual JSON body, never a 500 and a traceback."""
    status, body = await _raw_get(admin, "/admin/quotas", authorization)
    assert status == 401
    assert json.loads(body) == {"error": "unauthorized"}


async def _raw_get(base: str, path: str, authorization: bytes) -> tuple[int, bytes]:
    """GET ``path`` with ``authorization`` as the header's raw bytes; the status and the body."""
    host, _, port = base.removeprefix("http://").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n".encode()
            + b"Authorization: "
            + authorization
            + b"\r\n\r\n"
        )
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


async def test_unknown_domain_is_404(admin: str) -> None:
    """A domain that is not running cannot be changed."""
    status, _ = await _call("PUT", f"{admin}/admin/quotas/billing", _ADMIN, {"per_minute": 5})
    assert status == 404


async def test_endpoint_is_off_without_admin_token(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Without MESH_ADMIN_TOKEN there is no admin route at all."""
    async for base in _running(simulator, tmp_path, None):
        assert (await _call_text(f"{base}/admin/quotas"))[0] == 404
