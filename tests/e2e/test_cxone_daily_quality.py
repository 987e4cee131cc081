"""Quality on CXone in daily windows: ``MESH_QUALITY__WINDOW_SECONDS=86400``.

CXone's Data Extraction answers in whole days (docs/nice.md), so a 15-minute Quality window costs
a whole-day job, and the tenant allows one extraction call per 30 s. With the domain's own window
length a day, ``run --once`` (a subprocess, as an operator runs it) exports two closed days with
one job each, while the process-wide ``MESH_WINDOW_SECONDS`` stays 900. Every workflow submitted
in those days is in the lake exactly once (data or DLQ), the checkpoint stands at today's start
and ``lake audit`` finds the product consistent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from producer.platforms.nice.simulator import NiceSimulatorConfig, RunningNiceSimulator, data
from producer.platforms.nice.simulator import serve as serve_nice
from producer.windows import align_down
from tests.fixtures.lake import assert_each_once, lake_lines
from tests.fixtures.process import cxone_domain_env, process_env, run_cli, run_once_process

pytestmark = pytest.mark.e2e

_KEY, _SECRET = "quality-access-key", "quality-access-key-secret-0123"
_PREFIX = "qms-scores-export"
_INTERVAL = 0.25  # the simulated tenant's extraction rule (30 s on the platform)


@pytest.fixture
async def cxone() -> AsyncIterator[RunningNiceSimulator]:
    config = NiceSimulatorConfig(
        access_keys={_KEY: _SECRET},
        extraction_interval_seconds=_INTERVAL,
        job_running_seconds=0.2,
    )
    async with serve_nice(config) as running:
        yield running


def _submitted_between(running: RunningNiceSimulator, lo: datetime, hi: datetime) -> set[str]:
    """Ground truth: the ids of the workflows the tenant shows as submitted in ``[lo, hi)``."""
    config = running.sim.config
    found = set()
    # a workflow is submitted up to ~3 h after its contact ends: look that far back
    for index in data.indexes_between(
        config.epoch, config.contacts_per_hour, lo - timedelta(hours=4), hi
    ):
        item = data.contact(config.epoch, config.contacts_per_hour, config.seed, index)
        row = data.workflow_row(item, config.seed, config.tenant_id)
        if row is None:
            continue
        submitted = datetime.fromisoformat(row["Submission Date"].replace("Z", "+00:00"))
        if lo <= submitted < hi:
            found.add(row["Workflow ID"])
    return found


async def test_two_days_of_quality_are_two_jobs_and_land_each_workflow_once(
    cxone: RunningNiceSimulator, tmp_path: Path
) -> None:
    until_midnight = 86_400 - datetime.now(UTC).timestamp() % 86_400
    if until_midnight < 60:  # a run crossing midnight would land a third day
        await asyncio.sleep(until_midnight + 1)
    today = align_down(datetime.now(UTC), 86_400)
    start = today - timedelta(days=2)
    lake = tmp_path / "lake"
    env = process_env(
        api_url=cxone.auth_url,  # the Genesys variables are not read on CXone
        lake_url=lake.as_uri(),
        start=start,
        MESH_DOMAINS="quality",
        MESH_QUALITY__NICE_EXTRACTION_INTERVAL_SECONDS=str(_INTERVAL),
        MESH_QUALITY__SETTLE_SECONDS="0",  # yesterday is available even just after midnight
        MESH_QUALITY__WINDOW_SECONDS="86400",
    ) | cxone_domain_env("quality", cxone.auth_url, _KEY, _SECRET)
    code, output = await run_once_process(env, timeout_s=120)
    assert code == 0, output

    submits = [c for c in cxone.sim.extraction_calls if c.method == "POST"]
    assert len(submits) == 2, output  # one job a day, not one per 15-minute window
    assert [c.status for c in cxone.sim.extraction_calls].count(403) == 0
    checkpoint = orjson.loads((lake / _PREFIX / "_state" / "checkpoint.json").read_bytes())
    assert datetime.fromisoformat(checkpoint["watermark"]) == today

    objects = {
        path.relative_to(lake).as_posix(): path.read_bytes()
        for path in (lake / _PREFIX).rglob("*.ndjson.gz")
    }
    landed = [line["data"]["evaluation_id"] for line in lake_lines(objects, "/v1/")]
    dead = [line["source"]["workflowId"] for line in lake_lines(objects, "/failed-records/")]
    truth = _submitted_between(cxone, start, today)
    assert len(truth) > 100  # two days of a tenant's evaluations, some rejected on purpose
    assert dead
    assert_each_once(landed, dead, truth, context="two daily CXone Quality windows")

    code, audit = await run_cli(env, "lake", "audit", "--domain", "quality")
    assert code == 0, audit
    assert audit.strip().endswith(": consistent"), audit
