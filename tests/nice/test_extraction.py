"""QM workflows by Data Extraction over real sockets: jobs, the tenant rule, URLs, CSV faults.

The simulated tenant allows one Data Extraction call per ``INTERVAL`` (403 otherwise, as the
platform does), hands out result URLs that expire, and can fail jobs or spoil downloads. The
expected rows come from the simulator's deterministic data, not from the answers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from producer.clock import SystemClock
from producer.domains.quality.nice import workflow_submitted
from producer.errors import TransientSourceError
from producer.platforms.nice.auth import NiceClients
from producer.platforms.nice.extraction import CsvError, QmWorkflowExtraction, csv_key, parse_csv
from producer.platforms.nice.options import NiceOptions
from producer.platforms.nice.simulator import RunningNiceSimulator, data, serve
from producer.windows import Window
from tests.nice.conftest import (
    INTERVAL,
    OTHER_KEY,
    OTHER_SECRET,
    Connect,
    connector,
    make_gates,
    sim_config,
)

EPOCH = datetime(2025, 3, 10, tzinfo=UTC)
DAY = Window(EPOCH + timedelta(days=1), EPOCH + timedelta(days=2))


def expected_workflows(running: RunningNiceSimulator, window: Window) -> set[str]:
    config = running.sim.config
    found = set()
    lo = window.start - timedelta(hours=4)
    for index in data.indexes_between(config.epoch, config.contacts_per_hour, lo, window.end):
        item = data.contact(config.epoch, config.contacts_per_hour, config.seed, index)
        row = data.workflow_row(item, config.seed, "t")
        if row is None:
            continue
        submitted = datetime.fromisoformat(row["Submission Date"].replace("Z", "+00:00"))
        if window.contains(submitted):
            found.add(row["Workflow ID"])
    return found


def extraction(clients: NiceClients, *, max_throttled: int = 3) -> QmWorkflowExtraction:
    return QmWorkflowExtraction(
        clients,
        clock=SystemClock(),
        options=NiceOptions(extraction_interval_seconds=INTERVAL),
        max_throttled=max_throttled,
    )


async def rows_of(extractor: QmWorkflowExtraction, window: Window = DAY) -> list[dict[str, Any]]:
    rows = [row async for page in extractor.fetch(window) for row in page]
    return [row for row in rows if (s := workflow_submitted(row)) and window.contains(s)]


def downloads(running: RunningNiceSimulator) -> list[int]:
    return [r.status for r in running.sim.requests if r.path.startswith("/results/")]


async def test_a_job_runs_and_its_csv_rows_arrive_as_strings(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    async with connect(domain="quality") as clients:
        rows = await rows_of(extraction(clients))
    assert {row["workflowId"] for row in rows} == expected_workflows(nice_sim, DAY)
    assert all(isinstance(value, str) for row in rows for value in row.values())
    calls = nice_sim.sim.extraction_calls
    assert calls[0].method == "POST"
    assert [c.status for c in calls] == [200] * len(calls)  # the tenant rule was never broken
    posted = [r for r in nice_sim.sim.requests if r.method == "POST" and "jobs" in r.path]
    job = next(iter(nice_sim.sim.jobs.values()))
    assert (job.start, job.end) == ("2025-03-11", "2025-03-12")  # the window's day and the next
    assert posted[0].host == "area"


async def test_domains_sharing_a_tenant_share_one_gate_and_never_collide() -> None:
    async with serve(sim_config()) as running:
        gates = make_gates()
        connect = connector(running, gates=gates)
        async with (
            connect(domain="quality") as first,
            connect(domain="quality-backfill", key=OTHER_KEY, secret=OTHER_SECRET) as second,
        ):
            assert first.extraction_gate is second.extraction_gate
            results = await asyncio.gather(
                rows_of(extraction(first)),
                rows_of(extraction(second), Window(DAY.end, DAY.end + timedelta(days=1))),
            )
    assert all(results)
    calls = running.sim.extraction_calls
    assert {c.key_id for c in calls} == {"tel-key", OTHER_KEY}
    assert [c.status for c in calls] == [200] * len(calls)


async def test_separate_gates_for_one_tenant_collide_and_the_403_is_waited_out() -> None:
    async with (
        serve(sim_config()) as running,
        connector(running, gates=make_gates())(domain="quality") as first,
        connector(running, gates=make_gates())(
            domain="other", key=OTHER_KEY, secret=OTHER_SECRET
        ) as second,
    ):
        results = await asyncio.gather(
            rows_of(extraction(first, max_throttled=20)),
            rows_of(extraction(second, max_throttled=20)),
        )
    assert results[0] == results[1] != []
    assert 403 in [c.status for c in running.sim.extraction_calls]  # the rule was broken...


async def test_a_403_that_persists_fails_the_window() -> None:
    async with (
        serve(sim_config(extraction_interval_seconds=3600)) as running,
        connector(running)(domain="quality") as clients,
    ):
        with pytest.raises(TransientSourceError, match="403"):
            await rows_of(extraction(clients))
    statuses = [c.status for c in running.sim.extraction_calls]
    assert statuses == [200, 403, 403, 403]  # the job, then three polls refused


async def test_an_expired_url_is_replaced_by_asking_for_the_job_again(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    nice_sim.sim.expire_next_urls(1)
    async with connect(domain="quality") as clients:
        rows = await rows_of(extraction(clients))
    assert {row["workflowId"] for row in rows} == expected_workflows(nice_sim, DAY)
    assert downloads(nice_sim) == [403, 200]


async def test_urls_that_keep_expiring_fail_the_window(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    nice_sim.sim.expire_next_urls(10)
    async with connect(domain="quality") as clients:
        with pytest.raises(TransientSourceError, match="no whole result file"):
            await rows_of(extraction(clients))
    assert downloads(nice_sim) == [403, 403, 403]


async def test_the_download_carries_no_bearer_token(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    async with connect(domain="quality") as clients:
        await rows_of(extraction(clients))
    fetched = [r for r in nice_sim.sim.requests if r.path.startswith("/results/")]
    assert [r.token for r in fetched] == [None]


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
async def test_a_job_that_fails_fails_the_window_with_its_message_scrubbed(
    nice_sim: RunningNiceSimulator, connect: Connect, state: str
) -> None:
    nice_sim.sim.fail_next_jobs(1, state, "export failed; Authorization: Bearer abc.def.ghi123")
    async with connect(domain="quality") as clients:
        with pytest.raises(TransientSourceError, match=f"ended {state}") as caught:
            await rows_of(extraction(clients))
    assert "abc.def.ghi123" not in str(caught.value)
    assert downloads(nice_sim) == []


@pytest.mark.parametrize("kind", ["truncate", "empty"])
async def test_a_spoilt_csv_is_downloaded_again_from_a_fresh_url(
    nice_sim: RunningNiceSimulator, connect: Connect, kind: str
) -> None:
    nice_sim.sim.spoil_next_downloads(kind, 1)  # type: ignore[arg-type]
    async with connect(domain="quality") as clients:
        rows = await rows_of(extraction(clients))
    assert {row["workflowId"] for row in rows} == expected_workflows(nice_sim, DAY)
    assert downloads(nice_sim) == [200, 200]


@pytest.mark.parametrize("kind", ["truncate", "empty"])
async def test_a_csv_that_stays_spoilt_fails_the_window(
    nice_sim: RunningNiceSimulator, connect: Connect, kind: str
) -> None:
    nice_sim.sim.spoil_next_downloads(kind, 10)  # type: ignore[arg-type]
    async with connect(domain="quality") as clients:
        with pytest.raises(TransientSourceError, match="no whole result file"):
            await rows_of(extraction(clients))


async def test_a_401_mid_export_gets_a_new_token_and_the_job_goes_on(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    sim = nice_sim.sim
    async with connect(domain="quality") as clients:
        sim.revoke_after_next_job = True
        rows = await rows_of(extraction(clients))
    assert {row["workflowId"] for row in rows} == expected_workflows(nice_sim, DAY)
    assert sim.tokens_issued == 2
    assert len(sim.jobs) == 1  # the same job, not a new one
    assert 401 in [r.status for r in sim.requests if "/jobs/" in r.path]


def test_csv_keys_follow_the_open_source_clients() -> None:
    assert csv_key("Workflow ID") == "workflowId"
    assert csv_key("Firstname (Eva)") == "firstnameEva"
    assert csv_key("Score Percentage") == "scorePercentage"
    assert csv_key("workflowId") == "workflowid"  # already a key: lower-cased, one word


def test_a_header_only_csv_is_no_rows_and_cut_or_broken_ones_are_errors() -> None:
    assert parse_csv(b"Workflow ID,Acd ID\r\n") == []
    assert parse_csv(b'Workflow ID,Acd ID\r\n"a,b",1\r\n') == [{"workflowId": "a,b", "acdId": "1"}]
    with pytest.raises(CsvError, match="fields"):
        parse_csv(b"Workflow ID,Acd ID\r\nx,1\r\ny\r\n")
    with pytest.raises(CsvError, match="line break"):
        parse_csv(b"Workflow ID,Acd ID\r\nx,1\r\ny,2")
    with pytest.raises(CsvError):
        parse_csv(b'Workflow ID,Acd ID\r\n"x,1\r\n')
    with pytest.raises(CsvError, match="clashing"):
        parse_csv(b"Workflow ID,workflow id\r\n")
    with pytest.raises(CsvError, match="empty"):
        parse_csv(b"")
