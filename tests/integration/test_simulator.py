"""The Genesys Cloud simulator over real sockets: OAuth, bearer checks, rate limit, jobs, faults.

Every test talks HTTP to the simulator served on 127.0.0.1 (port 0) with a real aiohttp client.
Time is a manual clock injected through ``SimulatorConfig`` (monotonic and wall), so job states,
token expiry and the rate window move by ``clock.advance()`` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from structlog.testing import capture_logs

from producer.platforms.genesys.simulator import (
    RunningSimulator,
    SimulatorConfig,
    serve_forever,
    token_fingerprint,
)
from tests.fixtures.clock import ManualClock

JOBS = "/api/v2/analytics/conversations/details/jobs"
TELEPHONY = ("telephony-client", "telephony-secret")
OTHER = ("other-client", "other-secret")
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def clock() -> ManualClock:
    """The simulator's clock for one test."""
    return ManualClock(NOW)


@pytest.fixture
def simulator_config(clock: ManualClock) -> SimulatorConfig:
    """Both clients, job timings of 1 s queued + 2 s pending, an hour of retention, manual time."""
    return SimulatorConfig(
        clients=dict([TELEPHONY, OTHER]),
        job_queued_seconds=1.0,
        job_pending_seconds=2.0,
        job_expiry_seconds=3600.0,
        max_concurrent_jobs=2,
        rate_limit_per_minute=300,
        results_page_size_max=500,
        results_page_size_default=500,
        now=clock.now,
        monotonic=clock.monotonic,
    )


class Reply:
    """One HTTP answer: status, headers and the parsed JSON body (None if not JSON)."""

    def __init__(self, status: int, headers: CIMultiDictProxy[str], raw: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.body: Any = json.loads(raw) if raw else None
        except ValueError:
            self.body = None


class Api:
    """A thin test client for the served simulator."""

    def __init__(self, http: aiohttp.ClientSession, running: RunningSimulator) -> None:
        self.http = http
        self.base = running.base_url

    async def grant(self, client: tuple[str, str] = TELEPHONY, **form: str) -> Reply:
        basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
        data = {"grant_type": "client_credentials"} | form
        return await self.call(
            "POST", "/oauth/token", headers={"Authorization": f"Basic {basic}"}, data=data
        )

    async def token(self, client: tuple[str, str] = TELEPHONY) -> str:
        reply = await self.grant(client)
        assert reply.status == 200, reply.body
        token: str = reply.body["access_token"]
        return token

    async def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def submit(self, token: str, start: datetime, end: datetime, **extra: Any) -> Reply:
        interval = f"{start:%Y-%m-%dT%H:%M:%S.000Z}/{end:%Y-%m-%dT%H:%M:%S.000Z}"
        return await self.call("POST", JOBS, token, json={"interval": interval} | extra)

    async def all_results(self, token: str, job_id: str, page_size: int) -> list[Reply]:
        pages: list[Reply] = []
        cursor: str | None = None
        while True:
            query = f"?pageSize={page_size}" + (f"&cursor={cursor}" if cursor else "")
            reply = await self.call("GET", f"{JOBS}/{job_id}/results{query}", token)
            assert reply.status == 200, reply.body
            pages.append(reply)
            cursor = reply.body.get("cursor")
            if cursor is None:
                return pages


@pytest.fixture
async def api(simulator: RunningSimulator) -> AsyncIterator[Api]:
    """An aiohttp session pointed at the simulator."""
    async with aiohttp.ClientSession() as http:
        yield Api(http, simulator)


def assert_error(reply: Reply, status: int, code: str) -> None:
    """The standard error body (§3.3), its contextId equal to the correlation header."""
    assert reply.status == status
    assert reply.body["code"] == code
    assert reply.body["status"] == status
    assert reply.body["message"]
    assert reply.body["details"] == []
    assert reply.body["errors"] == []
    assert reply.body["contextId"] == reply.headers["ININ-Correlation-Id"]


class TestOAuth:
    async def test_basic_grant_issues_an_opaque_bearer_token(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """Client credentials over Basic auth give exactly access_token/token_type/expires_in."""
        reply = await api.grant()
        assert reply.status == 200
        assert set(reply.body) == {"access_token", "token_type", "expires_in"}
        assert reply.body["token_type"] == "bearer"
        assert reply.body["expires_in"] == 86399
        assert simulator.sim.tokens_issued == 1
        me = await api.call("GET", "/api/v2/tokens/me", reply.body["access_token"])
        assert me.status == 200
        assert me.body["OAuthClient"]["id"] == "telephony-client"

    async def test_form_credentials_are_accepted(self, api: Api) -> None:
        """client_id/client_secret as form fields work like Basic auth."""
        data = {
            "grant_type": "client_credentials",
            "client_id": OTHER[0],
            "client_secret": OTHER[1],
        }
        reply = await api.call("POST", "/oauth/token", data=data)
        assert reply.status == 200
        assert reply.body["access_token"]

    @pytest.mark.parametrize("client", [("telephony-client", "wrong"), ("nobody", "x")])
    async def test_wrong_credentials_are_invalid_client(
        self, api: Api, simulator: RunningSimulator, client: tuple[str, str]
    ) -> None:
        """A wrong secret or an unknown client gets 401 and the OAuth-style error body."""
        reply = await api.grant(client)
        assert reply.status == 401
        assert reply.body == {
            "error": "invalid_client",
            "description": "authentication failed",
            "error_description": "authentication failed",
        }
        assert simulator.sim.tokens_issued == 0

    @pytest.mark.parametrize(
        ("grant_type", "error"),
        [("", "invalid_request"), ("password", "unsupported_grant_type")],
    )
    async def test_bad_grant_type_is_400(self, api: Api, grant_type: str, error: str) -> None:
        """A missing or unsupported grant_type is refused with 400."""
        reply = await api.grant(grant_type=grant_type)
        assert reply.status == 400
        assert reply.body["error"] == error

    async def test_rotated_secret_refuses_the_old_one(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """After set_secret the old secret is invalid_client; tokens issued before still work."""
        before = await api.token()
        simulator.sim.set_secret("telephony-client", "rotated")
        assert (await api.grant()).body["error"] == "invalid_client"
        assert (await api.grant(("telephony-client", "rotated"))).status == 200
        assert (await api.call("GET", "/api/v2/tokens/me", before)).status == 200

    async def test_token_endpoint_down(self, api: Api, simulator: RunningSimulator) -> None:
        """token_endpoint_down(n) fails the next n grants, then grants work again."""
        simulator.sim.token_endpoint_down(2)
        assert (await api.grant()).status == 503
        assert (await api.grant()).status == 503
        assert (await api.grant()).status == 200

    async def test_tokens_me_head_and_delete(self, api: Api) -> None:
        """HEAD probes a token; DELETE revokes the calling token (204), which then gets 401."""
        token = await api.token()
        assert (await api.call("HEAD", "/api/v2/tokens/me", token)).status == 200
        assert (await api.call("DELETE", "/api/v2/tokens/me", token)).status == 204
        assert_error(await api.call("GET", "/api/v2/tokens/me", token), 401, "bad.credentials")


class TestBearer:
    async def test_missing_header_is_authentication_required(self, api: Api) -> None:
        """An API call without Authorization gets 401 authentication.required."""
        assert_error(await api.call("GET", f"{JOBS}/availability"), 401, "authentication.required")

    async def test_revoked_token_is_bad_credentials(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """revoke_tokens() makes every issued token 401 bad.credentials; a new grant works."""
        token = await api.token()
        simulator.sim.revoke_tokens()
        reply = await api.call("GET", f"{JOBS}/availability", token)
        assert_error(reply, 401, "bad.credentials")
        assert reply.body["message"] == "Invalid login credentials."
        fresh = await api.token()
        assert (await api.call("GET", f"{JOBS}/availability", fresh)).status == 200

    async def test_expired_and_unknown_tokens(self, api: Api, clock: ManualClock) -> None:
        """A token past its lifetime, or one never issued, is 401 bad.credentials."""
        token = await api.token()
        clock.advance(86399)
        assert_error(await api.call("GET", f"{JOBS}/availability", token), 401, "bad.credentials")
        assert_error(await api.call("GET", f"{JOBS}/availability", "nope"), 401, "bad.credentials")

    async def test_request_log_has_fingerprints_never_tokens(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """Each request is logged with status, client and a token fingerprint, not the token."""
        token = await api.token()
        await api.call("GET", f"{JOBS}/availability?x=1", token)
        grant, call = simulator.sim.requests
        assert (grant.path, grant.status, grant.client_id) == ("/oauth/token", 200, TELEPHONY[0])
        assert grant.token_fingerprint is None
        assert (call.method, call.status, call.query) == ("GET", 200, "x=1")
        assert call.token_fingerprint == token_fingerprint(token)
        assert call.client_id == TELEPHONY[0]
        assert token not in repr(simulator.sim.requests)


class TestRateLimit:
    @pytest.fixture
    def simulator_config(self, clock: ManualClock) -> SimulatorConfig:
        """Five requests per minute per token."""
        return SimulatorConfig(
            clients=dict([TELEPHONY, OTHER]),
            rate_limit_per_minute=5,
            now=clock.now,
            monotonic=clock.monotonic,
        )

    async def test_sixth_request_in_a_minute_is_429(self, api: Api, clock: ManualClock) -> None:
        """Over the per-token window: 429 with the §4.2 body, Retry-After and budget headers."""
        token = await api.token()
        for used in range(1, 6):
            reply = await api.call("GET", f"{JOBS}/availability", token)
            assert reply.status == 200
            assert reply.headers["inin-ratelimit-allowed"] == "5"
            assert reply.headers["inin-ratelimit-count"] == str(used)
            assert int(reply.headers["inin-ratelimit-reset"]) >= 1
            assert reply.headers["ININ-Correlation-Id"]
            clock.advance(10)
        refused = await api.call("GET", f"{JOBS}/availability", token)
        assert_error(refused, 429, "too.many.requests.retry.after")
        assert refused.headers["Retry-After"] == "10"  # the first request leaves at 60 s
        assert "[10] seconds" in refused.body["message"]
        clock.advance(10)
        assert (await api.call("GET", f"{JOBS}/availability", token)).status == 200

    async def test_each_token_has_its_own_window(self, api: Api) -> None:
        """Another client's token is not throttled by the first one's usage."""
        first, second = await api.token(), await api.token(OTHER)
        for _ in range(5):
            await api.call("GET", f"{JOBS}/availability", first)
        assert (await api.call("GET", f"{JOBS}/availability", first)).status == 429
        assert (await api.call("GET", f"{JOBS}/availability", second)).status == 200


async def _fulfilled_job(api: Api, clock: ManualClock, token: str, **extra: Any) -> str:
    reply = await api.submit(token, NOW - timedelta(hours=2), NOW - timedelta(hours=1), **extra)
    assert reply.status == 202, reply.body
    clock.advance(3)
    job_id: str = reply.body["jobId"]
    return job_id


class TestJobs:
    async def test_lifecycle_and_cursor_paging(
        self, api: Api, simulator: RunningSimulator, clock: ManualClock
    ) -> None:
        """QUEUED → PENDING → FULFILLED by elapsed time; pages follow the cursor until absent."""
        token = await api.token()
        start, end = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
        submitted = await api.submit(token, start, end)
        assert submitted.status == 202
        job = f"{JOBS}/{submitted.body['jobId']}"
        status = await api.call("GET", job, token)
        assert status.body["state"] == "QUEUED"
        assert STAMP.match(status.body["submissionDate"])
        results = await api.call("GET", f"{job}/results", token)
        assert_error(results, 400, "bad.request")
        clock.advance(1.5)
        assert (await api.call("GET", job, token)).body["state"] == "PENDING"
        clock.advance(1.5)
        done = (await api.call("GET", job, token)).body
        assert done["state"] == "FULFILLED"
        assert STAMP.match(done["completionDate"])
        assert STAMP.match(done["expirationDate"])
        pages = await api.all_results(token, submitted.body["jobId"], page_size=37)
        assert all(len(p.body["conversations"]) == 37 for p in pages[:-1])
        assert 0 < len(pages[-1].body["conversations"]) <= 37
        got = [c["conversationId"] for p in pages for c in p.body["conversations"]]
        truth = [c["conversationId"] for c in simulator.sim.conversations(start, end)]
        assert got == truth
        assert len(set(got)) == len(got)
        assert len(pages) > 2

    async def test_default_page_size_and_bad_paging(self, api: Api, clock: ManualClock) -> None:
        """pageSize defaults to the configured size; oversize pages and foreign cursors are 400."""
        token = await api.token()
        job = await _fulfilled_job(api, clock, token)
        first = await api.call("GET", f"{JOBS}/{job}/results", token)
        assert len(first.body["conversations"]) <= 500
        too_big = await api.call("GET", f"{JOBS}/{job}/results?pageSize=501", token)
        assert_error(too_big, 400, "invalid.value")
        bogus = await api.call("GET", f"{JOBS}/{job}/results?cursor=not-a-cursor", token)
        assert_error(bogus, 400, "bad.request")
        small = await api.call("GET", f"{JOBS}/{job}/results?pageSize=1", token)
        other = await _fulfilled_job(api, clock, token)
        foreign = small.body["cursor"]
        wrong_job = await api.call("GET", f"{JOBS}/{other}/results?cursor={foreign}", token)
        assert_error(wrong_job, 400, "bad.request")

    async def test_same_cursor_gives_the_same_page(self, api: Api, clock: ManualClock) -> None:
        """A cursor can be replayed (a client retrying a cut page gets the same records)."""
        token = await api.token()
        job = await _fulfilled_job(api, clock, token)
        first = await api.call("GET", f"{JOBS}/{job}/results?pageSize=5", token)
        url = f"{JOBS}/{job}/results?pageSize=5&cursor={first.body['cursor']}"
        assert (await api.call("GET", url, token)).raw == (await api.call("GET", url, token)).raw

    async def test_order_desc(self, api: Api, clock: ManualClock) -> None:
        """order=desc returns conversationStart descending."""
        token = await api.token()
        job = await _fulfilled_job(api, clock, token, order="desc")
        pages = await api.all_results(token, job, page_size=500)
        starts = [c["conversationStart"] for p in pages for c in p.body["conversations"]]
        assert starts == sorted(starts, reverse=True)

    async def test_cancel_unknown_and_cap(self, api: Api, clock: ManualClock) -> None:
        """DELETE → 204 and CANCELLED (freeing a slot); unknown ids 404; over the cap 429."""
        token = await api.token()
        start, end = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
        first = (await api.submit(token, start, end)).body["jobId"]
        assert (await api.submit(token, start, end)).status == 202
        refused = await api.submit(token, start, end)
        assert_error(refused, 429, "too.many.requests.retry.after")
        assert refused.headers["Retry-After"] == "3"
        assert (await api.call("DELETE", f"{JOBS}/{first}", token)).status == 204
        assert (await api.call("GET", f"{JOBS}/{first}", token)).body["state"] == "CANCELLED"
        assert (await api.submit(token, start, end)).status == 202
        for method, suffix in [("GET", ""), ("GET", "/results"), ("DELETE", "")]:
            missing = await api.call(
                method, f"{JOBS}/00000000-0000-4000-8000-000000000000{suffix}", token
            )
            assert_error(missing, 404, "not.found")

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({}, "bad.request"),
            ({"interval": "yesterday/today"}, "invalid.date"),
            ({"interval": "2025-03-10T00:00:00/2025-03-10T01:00:00"}, "invalid.date"),
            ({"interval": "2025-03-10T01:00:00Z/2025-03-10T00:00:00Z"}, "invalid.date"),
            (
                {"interval": "2025-03-10T00:00:00Z/2025-03-10T01:00:00Z", "order": "up"},
                "invalid.value",
            ),
            (
                {
                    "interval": "2025-03-10T00:00:00Z/2025-03-10T01:00:00Z",
                    "segmentFilters": [{"type": "xor", "predicates": []}],
                },
                "bad.request",
            ),
        ],
    )
    async def test_invalid_submissions_are_400(
        self, api: Api, body: dict[str, Any], code: str
    ) -> None:
        """A body without a valid interval, order or filter is refused with 400."""
        reply = await api.call("POST", JOBS, await api.token(), json=body)
        assert_error(reply, 400, code)

    async def test_failed_and_expired_jobs(
        self, api: Api, simulator: RunningSimulator, clock: ManualClock
    ) -> None:
        """fail_next_job ends the next job FAILED (results 400); expired results are 404."""
        token = await api.token()
        simulator.sim.fail_next_job()
        failed = await _fulfilled_job(api, clock, token)
        status = (await api.call("GET", f"{JOBS}/{failed}", token)).body
        assert status["state"] == "FAILED"
        assert status["errorMessage"]
        assert_error(await api.call("GET", f"{JOBS}/{failed}/results", token), 400, "bad.request")
        simulator.sim.fail_next_job("EXPIRED")
        quick = await _fulfilled_job(api, clock, token)
        assert (await api.call("GET", f"{JOBS}/{quick}", token)).body["state"] == "EXPIRED"
        normal = await _fulfilled_job(api, clock, token)
        clock.advance(3600)
        assert (await api.call("GET", f"{JOBS}/{normal}", token)).body["state"] == "EXPIRED"
        assert_error(await api.call("GET", f"{JOBS}/{normal}/results", token), 404, "not.found")

    async def test_segment_filter_selects_voice(self, api: Api, clock: ManualClock) -> None:
        """A mediaType segment filter keeps only conversations with a matching session."""
        token = await api.token()
        voice = {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]}
        every = await api.all_results(token, await _fulfilled_job(api, clock, token), 500)
        only = await api.all_results(
            token, await _fulfilled_job(api, clock, token, segmentFilters=[voice]), 500
        )
        kept = [c for p in only for c in p.body["conversations"]]
        total = sum(len(p.body["conversations"]) for p in every)
        assert 0 < len(kept) < total
        for conv in kept:
            media = {s["mediaType"] for p in conv["participants"] for s in p["sessions"]}
            assert "voice" in media


class TestSemantics:
    async def test_overlap_includes_conversations_started_before(
        self, api: Api, clock: ManualClock
    ) -> None:
        """A job returns conversations that started before its interval but ended inside it."""
        token = await api.token()
        start = NOW - timedelta(hours=2)
        reply = await api.submit(token, start, start + timedelta(minutes=15))
        clock.advance(3)
        pages = await api.all_results(token, reply.body["jobId"], 500)
        convs = [c for p in pages for c in p.body["conversations"]]
        iso = f"{start:%Y-%m-%dT%H:%M:%S.000Z}"
        early = [c for c in convs if c["conversationStart"] < iso]
        assert early, "some conversation began before the interval"
        assert all(c["conversationEnd"] > iso for c in early)

    async def test_availability_truncates_and_leaves_active_calls_open(
        self, api: Api, clock: ManualClock
    ) -> None:
        """Nothing starts after dataAvailabilityDate; calls still running there lack an end."""
        token = await api.token()
        watermark = (await api.call("GET", f"{JOBS}/availability", token)).body
        assert watermark == {"dataAvailabilityDate": "2025-03-10T11:45:00.000Z"}
        reply = await api.submit(token, NOW - timedelta(minutes=30), NOW)
        clock.advance(3)
        pages = await api.all_results(token, reply.body["jobId"], 500)
        assert {p.body["dataAvailabilityDate"] for p in pages} == {"2025-03-10T11:45:00.000Z"}
        convs = [c for p in pages for c in p.body["conversations"]]
        assert convs
        assert all(c["conversationStart"] <= "2025-03-10T11:45:00.000Z" for c in convs)
        assert any("conversationEnd" not in c for c in convs)

    async def test_results_are_a_snapshot(self, api: Api, clock: ManualClock) -> None:
        """Records are fixed at submit: later availability does not change a job's pages."""
        token = await api.token()
        reply = await api.submit(token, NOW - timedelta(minutes=30), NOW)
        clock.advance(3)
        url = f"{JOBS}/{reply.body['jobId']}/results?pageSize=500"
        before = (await api.call("GET", url, token)).raw
        clock.advance(1800)
        assert (await api.call("GET", url, token)).raw == before


class TestFaults:
    async def test_fail_next_with_and_without_retry_after(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """fail_next answers the standard error body, with Retry-After only when asked."""
        token = await api.token()
        simulator.sim.fail_next(1, 503, retry_after=7)
        simulator.sim.fail_next(1, 504)
        first = await api.call("GET", f"{JOBS}/availability", token)
        assert_error(first, 503, "service.unavailable")
        assert first.headers["Retry-After"] == "7"
        second = await api.call("GET", f"{JOBS}/availability", token)
        assert second.status == 504
        assert "Retry-After" not in second.headers
        assert (await api.call("GET", f"{JOBS}/availability", token)).status == 200

    async def test_throttle_next_is_a_429(self, api: Api, simulator: RunningSimulator) -> None:
        """throttle_next forces a §4.2 429, e.g. a daily-cap-length Retry-After."""
        token = await api.token()
        simulator.sim.throttle_next(1, retry_after=86400)
        reply = await api.call("GET", f"{JOBS}/availability", token)
        assert_error(reply, 429, "too.many.requests.retry.after")
        assert reply.headers["Retry-After"] == "86400"

    async def test_path_filter(
        self, api: Api, simulator: RunningSimulator, clock: ManualClock
    ) -> None:
        """A switch with path_contains leaves other paths alone until a match consumes it."""
        token = await api.token()
        job = await _fulfilled_job(api, clock, token)
        simulator.sim.fail_next(1, 500, path_contains="/results")
        assert (await api.call("GET", f"{JOBS}/{job}", token)).status == 200
        assert (await api.call("GET", f"{JOBS}/{job}/results", token)).status == 500
        assert (await api.call("GET", f"{JOBS}/{job}/results", token)).status == 200

    async def test_truncated_and_malformed_bodies(
        self, api: Api, simulator: RunningSimulator, clock: ManualClock
    ) -> None:
        """truncate_next cuts the JSON (honest Content-Length); malformed_next sends HTML."""
        token = await api.token()
        job = await _fulfilled_job(api, clock, token)
        url = f"{JOBS}/{job}/results?pageSize=20"
        whole = await api.call("GET", url, token)
        simulator.sim.truncate_next(1)
        cut = await api.call("GET", url, token)
        assert cut.status == 200
        assert int(cut.headers["Content-Length"]) == len(cut.raw) == len(whole.raw) // 2
        assert cut.body is None
        assert whole.raw.startswith(cut.raw)
        simulator.sim.malformed_next(1)
        html = await api.call("GET", url, token)
        assert html.status == 200
        assert html.body is None
        assert html.headers["Content-Type"].startswith("text/html")
        assert (await api.call("GET", url, token)).raw == whole.raw

    async def test_bad_page_next_spoils_the_nth_answer(
        self, api: Api, simulator: RunningSimulator, clock: ManualClock
    ) -> None:
        """bad_page_next lets ``after`` answers through, then answers 200 with a bad page."""
        token = await api.token()
        job = await _fulfilled_job(api, clock, token)
        url = f"{JOBS}/{job}/results?pageSize=20"
        whole = await api.call("GET", url, token)
        expected = {
            "empty": {},
            "error_body": {"message": "upstream request timeout", "status": 504},
            "malformed": None,
            "not_json": None,
        }
        for kind, body in expected.items():
            simulator.sim.bad_page_next(1, kind, after=1)  # type: ignore[arg-type]
            assert (await api.call("GET", url, token)).raw == whole.raw
            spoiled = await api.call("GET", url, token)
            assert (spoiled.status, spoiled.body) == (200, body), kind
        simulator.sim.bad_page_next(1, "not_objects")
        strings = (await api.call("GET", url, token)).body
        assert [json.loads(item) for item in strings["conversations"]] == whole.body[
            "conversations"
        ]
        assert strings["cursor"] == whole.body["cursor"]
        simulator.sim.bad_page_next(1, "cut")
        with pytest.raises(aiohttp.ClientPayloadError):
            await api.call("GET", url, token)
        assert (await api.call("GET", url, token)).raw == whole.raw
        with pytest.raises(ValueError, match="bad_page_next takes one of"):
            simulator.sim.bad_page_next(1, "fail")  # type: ignore[arg-type]

    async def test_slow_next_delays_then_answers(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """slow_next stalls a request (a short client timeout fires) and the next is normal."""
        token = await api.token()
        simulator.sim.slow_next(1, 30.0)
        with pytest.raises(asyncio.TimeoutError):
            await api.call(
                "GET", f"{JOBS}/availability", token, timeout=aiohttp.ClientTimeout(total=0.2)
            )
        simulator.sim.slow_next(1, 0.01)
        assert (await api.call("GET", f"{JOBS}/availability", token)).status == 200

    async def test_reset_next_drops_the_connection(
        self, api: Api, simulator: RunningSimulator
    ) -> None:
        """reset_next closes the socket with no response; the log records status 0."""
        token = await api.token()
        simulator.sim.reset_next(1, path_contains="/jobs")
        interval = "2025-03-10T09:00:00.000Z/2025-03-10T10:00:00.000Z"
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.call("POST", JOBS, token, json={"interval": interval})
        assert simulator.sim.requests[-1].status == 0
        assert not simulator.sim.jobs
        assert (await api.call("POST", JOBS, token, json={"interval": interval})).status == 202


class TestRealTime:
    @pytest.fixture
    def simulator_config(self) -> SimulatorConfig:
        """The real clocks, fast job timings."""
        return SimulatorConfig(
            clients=dict([TELEPHONY]), job_queued_seconds=0.01, job_pending_seconds=0.02
        )

    async def test_job_reaches_fulfilled_on_the_real_clock(self, api: Api) -> None:
        """With time.monotonic a job moves to FULFILLED by itself; unknown paths are 404."""
        token = await api.token()
        now = datetime.now(UTC)
        reply = await api.submit(token, now - timedelta(hours=3), now - timedelta(hours=2))
        url = f"{JOBS}/{reply.body['jobId']}"
        for _ in range(500):
            state = (await api.call("GET", url, token)).body["state"]
            if state == "FULFILLED":
                break
            assert state in ("QUEUED", "PENDING")
            await asyncio.sleep(0.01)
        assert state == "FULFILLED"
        assert_error(await api.call("GET", "/api/v2/nothing/here", token), 404, "not.found")


async def test_serve_forever_until_stopping() -> None:
    """serve_forever logs its base URL, serves, and returns once ``stopping`` is set."""
    stopping = asyncio.Event()
    config = SimulatorConfig(clients=dict([TELEPHONY]))
    basic = base64.b64encode(":".join(TELEPHONY).encode()).decode()
    with capture_logs() as logs:
        task = asyncio.create_task(serve_forever(config, "127.0.0.1", 0, stopping))
        try:
            for _ in range(500):
                if logs or task.done():
                    break
                await asyncio.sleep(0.01)
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{logs[0]['base_url']}/oauth/token",
                    data={"grant_type": "client_credentials"},
                    headers={"Authorization": f"Basic {basic}"},
                ) as resp,
            ):
                assert resp.status == 200
        finally:
            stopping.set()
            await task
    assert [entry["event"] for entry in logs] == ["simulator_listening", "simulator_stopping"]
