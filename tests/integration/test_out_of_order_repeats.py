"""A results page the platform serves again later in the cursor sequence lands once.

``_RepeatingProxy`` stands between the producer and the simulator and forwards every request
unchanged, except one results request per job: instead of the page asked for, it answers with an
*earlier* page of the same job again (a repeated page, or a cursor that overlaps), then carries on
with the page that was asked for. The repeated conversations come back after conversations that
started later, so a repeat check that only remembers the latest timestamp cannot see them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from producer.lake.store import ObjectStore
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.fixtures.lake import assert_each_once, lake_lines, lake_objects
from tests.fixtures.product import audit
from tests.fixtures.runs import run_once, telephony_domain, telephony_settings
from tests.fixtures.simulator import conversation_ids, telephony_config

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=45)
_END = align_down(_NOW, 900) - timedelta(minutes=15)  # two windows are available
_PREFIX = "telephony-cdr-export"
_AGAIN = "again:"
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


class _RepeatingProxy:
    """Forwards to the simulator; the ``serve_again_at``-th results request of each job (0 is
    the first page) is answered with that job's page ``earlier`` again, whose cursor leads back
    to the page that was asked for (under a new cursor text, so it is not a cursor loop)."""

    def __init__(self, upstream: str, *, earlier: int, serve_again_at: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.earlier = earlier
        self.serve_again_at = serve_again_at
        # What was served a second time, per job in the order of the jobs: (id, start) pairs.
        self.repeated: list[list[tuple[str, datetime]]] = []
        self._pages: dict[str, list[bytes]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        cursor = query.get("cursor", "")
        if cursor.startswith(_AGAIN):
            query["cursor"] = cursor.removeprefix(_AGAIN)
        elif request.method == "GET" and request.path.endswith("/results"):
            pages = self._pages.setdefault(request.path, [])
            if len(pages) == self.serve_again_at and len(pages) > self.earlier:
                body = orjson.loads(pages[self.earlier])
                body["cursor"] = _AGAIN + cursor
                self.repeated.append(
                    [
                        (c["conversationId"], datetime.fromisoformat(c["conversationStart"]))
                        for c in body["conversations"]
                    ]
                )
                self._pages[request.path].append(b"")  # counted: served once per job
                return web.Response(body=orjson.dumps(body), content_type="application/json")
        assert self._session is not None
        async with self._session.request(
            request.method,
            f"{self.upstream}{request.path}",
            params=query,
            headers={k: v for k, v in request.headers.items() if k.lower() not in {"host"}},
            data=await request.read(),
        ) as upstream:
            data = await upstream.read()
            results = request.method == "GET" and request.path.endswith("/results")
            if results and upstream.status == 200:
                self._pages.setdefault(request.path, []).append(data)
            headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers.pop("Content-Encoding", None)
            return web.Response(status=upstream.status, body=data, headers=headers)


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen clock: two windows are available, about 100 conversations each."""
    return telephony_config(lambda: _NOW, conversations_per_hour=400.0)


@pytest.fixture
async def proxy(simulator: RunningSimulator) -> AsyncIterator[_RepeatingProxy]:
    """Page 5 of every job is served again in place of page 8 (then page 8 follows). A job's
    first pages hold the conversations that started before its window; page 5 is past them."""
    repeating = _RepeatingProxy(simulator.base_url, earlier=5, serve_again_at=8)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", repeating.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    async with aiohttp.ClientSession(auto_decompress=True) as session:
        repeating._session = session
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            repeating.url = f"http://{host}:{port}"
            yield repeating
        finally:
            await runner.cleanup()


async def test_a_page_served_again_later_lands_once(
    simulator: RunningSimulator, proxy: _RepeatingProxy, lake_url: str, store: ObjectStore
) -> None:
    """Every conversation of the two windows is in the lake exactly once, the repeats are
    counted as duplicates (not landed), and the audit agrees with the checkpoint."""
    settings = telephony_settings(
        proxy.url,
        lake_url,
        start_at=_START,
        request_retry_seconds=10,
        telephony=telephony_domain(page_size=15, resweep_hours=0),
    )
    registry = CollectorRegistry()
    await run_once(settings, registry)

    truth = conversation_ids(simulator.sim, _START, _END)
    assert len(proxy.repeated) == 2, "one page served again per window's job"
    in_window_repeats = [
        conversation
        for index, served in enumerate(proxy.repeated)
        for conversation, start in served
        if _START + timedelta(minutes=15 * index)
        <= start
        < _START + timedelta(minutes=15 * (index + 1))
    ]
    assert in_window_repeats, "the repeated pages hold conversations of the windows"
    objects = await lake_objects(store, _PREFIX)
    landed = [line["data"]["interaction_id"] for line in lake_lines(objects, "/v1/")]
    dead = [line["source"]["conversationId"] for line in lake_lines(objects, "/failed-records/")]
    assert_each_once(landed, dead, truth, context="a page served again later")
    duplicates = registry.get_sample_value(
        "mesh_records_total", {"domain": "telephony", "outcome": "duplicate"}
    )
    assert duplicates == len(in_window_repeats)
    report = await audit(store)
    assert report.consistent, [str(d) for d in report.discrepancies]
    assert report.landed + report.dead_lettered == len(truth)
