"""The data mesh end to end: Telephony, Quality and WFM in one ``run --once`` (subprocess).

Against the simulator and moto S3: every record of each domain lands exactly once (data or DLQ),
each contract's DLQ receives the records that break it, a domain with a wrong secret fails alone
(the others land everything and the run exits 1 naming it), and a WFM week is rewritten only
when its schedule changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down, week_start
from tests.fixtures.lake import assert_each_once, lake_lines
from tests.fixtures.process import process_env, run_cli, run_once_process
from tests.fixtures.s3 import read_lake
from tests.fixtures.simulator import conversation_ids

pytestmark = pytest.mark.e2e

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = _NOW - timedelta(hours=1, minutes=7)
_PREFIXES = {
    "telephony": "telephony-cdr-export",
    "quality": "qms-scores-export",
    "wfm": "wfm-schedules-export",
}
_SECRETS = {name: f"{name}-secret" for name in _PREFIXES}


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """Three OAuth clients, a frozen clock (stable ground truth), busy enough for rejections."""
    return SimulatorConfig(
        clients={f"{name}-client": secret for name, secret in _SECRETS.items()},
        conversations_per_hour=300.0,
        evaluations_per_hour=200.0,
        rate_limit_per_minute=3000,
        availability_lag_seconds=900.0,
        evaluation_index_lag_seconds=0.0,
        now=lambda: _NOW,
    )


def _env(
    simulator: RunningSimulator, endpoint: str, bucket: str, *, wfm_secret: str | None = None
) -> dict[str, str]:
    env = process_env(
        api_url=simulator.base_url,
        lake_url=f"s3://{bucket}",
        start=_START,
        s3_endpoint=endpoint,
        MESH_REQUEST_RETRY_SECONDS="30",
    )
    for name, secret in _SECRETS.items():
        upper = name.upper()
        env[f"MESH_{upper}__CLIENT_ID"] = f"{name}-client"
        env[f"MESH_{upper}__CLIENT_SECRET"] = secret
        env[f"MESH_{upper}__RATE_LIMIT_PER_MINUTE"] = "2400"
    env["MESH_TELEPHONY__JOB_POLL_SECONDS"] = "0.05"
    env["MESH_QUALITY__SETTLE_SECONDS"] = "0"
    env["MESH_WFM__HORIZON_WEEKS"] = "1"
    if wfm_secret is not None:
        env["MESH_WFM__CLIENT_SECRET"] = wfm_secret
    return env


def _lines(objects: dict[str, bytes], prefix: str, dlq: bool) -> list[dict[str, Any]]:
    return lake_lines(
        objects, lambda key: key.startswith(f"{prefix}/") and ("/failed-records/" in key) == dlq
    )


def _watermark(objects: dict[str, bytes], prefix: str) -> datetime:
    checkpoint = orjson.loads(objects[f"{prefix}/_state/checkpoint.json"])
    return datetime.fromisoformat(checkpoint["watermark"])


def _exactly_once(
    objects: dict[str, bytes],
    prefix: str,
    truth: set[str],
    data_id: Callable[[dict[str, Any]], str],
    source_id: Callable[[dict[str, Any]], str],
) -> None:
    landed = [data_id(line["data"]) for line in _lines(objects, prefix, dlq=False)]
    dead_lines = _lines(objects, prefix, dlq=True)
    dead = [source_id(line["source"]) for line in dead_lines]
    assert_each_once(landed, dead, truth, context=prefix)
    assert landed, f"{prefix}: nothing landed"
    assert dead, f"{prefix}: the contract rejected nothing; the scenario needs rejections"
    assert all(line["errors"] for line in dead_lines)


def _in(start: datetime, end: datetime, value: str) -> bool:
    return start <= datetime.fromisoformat(value) < end


def _wfm_truth(simulator: RunningSimulator) -> set[str]:
    first = week_start(datetime.now(UTC))
    last = first + timedelta(weeks=2)
    return {
        f"{s['businessUnitId']}/{s['userId']}/{s['shift']['id']}"
        for s in simulator.sim.shifts(first, last)
        if _in(first, last, s["shift"]["startDate"])
    }


async def test_three_domains_land_exactly_once(
    simulator: RunningSimulator, moto_server: str, bucket: str
) -> None:
    """One run --once lands every record of every domain exactly once, data or DLQ; ``lake
    audit`` finds each product consistent (no record identity twice, counts as committed)."""
    env = _env(simulator, moto_server, bucket)
    code, output = await run_once_process(env, timeout_s=150)
    assert code == 0, output
    objects = read_lake(moto_server, bucket)

    end = _watermark(objects, _PREFIXES["telephony"])
    _exactly_once(
        objects,
        _PREFIXES["telephony"],
        conversation_ids(simulator.sim, _START, end),
        lambda data: data["interaction_id"],
        lambda source: source["conversationId"],
    )

    end = _watermark(objects, _PREFIXES["quality"])
    evaluations = {
        e["id"]
        for e in simulator.sim.evaluations(_START, end)
        if _in(_START, end, e["changedDate"])
    }
    _exactly_once(
        objects,
        _PREFIXES["quality"],
        evaluations,
        lambda data: data["evaluation_id"],
        lambda source: source["id"],
    )

    _exactly_once(
        objects,
        _PREFIXES["wfm"],
        _wfm_truth(simulator),
        lambda data: f"{data['business_unit_id']}/{data['agent_id']}/{data['shift_id']}",
        lambda source: f"{source['businessUnitId']}/{source['userId']}/{source['shift']['id']}",
    )
    for domain in _PREFIXES:
        code, output = await run_cli(env, "lake", "audit", "--domain", domain)
        assert (code, output.strip().rsplit(": ", 1)[-1]) == (0, "consistent"), output


async def test_wrong_wfm_secret_fails_wfm_alone(
    simulator: RunningSimulator, moto_server: str, bucket: str
) -> None:
    """WFM's client is rejected: Telephony and Quality land everything; exit 1 naming WFM."""
    env = _env(simulator, moto_server, bucket, wfm_secret="wrong")
    before = datetime.now(UTC)
    code, output = await run_once_process(env, timeout_s=150)
    after = datetime.now(UTC)
    assert code == 1
    failed = [line for line in output.splitlines() if line.startswith("mesh-producer:")]
    assert len(failed) == 1, output
    assert "domain wfm failed" in failed[0]
    assert "invalid_client" in failed[0]
    assert "wrong" not in output
    objects = read_lake(moto_server, bucket)
    assert not any(key.startswith(_PREFIXES["wfm"]) for key in objects)
    available = align_down(_NOW - timedelta(minutes=15), 900)
    assert _watermark(objects, _PREFIXES["telephony"]) == available
    # Quality plans up to the producer's own (real) clock, not the simulator's frozen one: the
    # suite may reach this test after a quarter hour has turned since _NOW was fixed.
    quality = _watermark(objects, _PREFIXES["quality"])
    assert align_down(before, 900) <= quality <= align_down(after, 900)


async def test_wfm_week_rewritten_only_when_its_schedule_changed(
    simulator: RunningSimulator, moto_server: str, bucket: str
) -> None:
    """Snapshots again: unchanged weeks keep their objects; a republished week is rewritten."""
    env = _env(simulator, moto_server, bucket)
    env["MESH_DOMAINS"] = "wfm"
    # Every run snapshots the open weeks again: when each was last taken is in the checkpoint.
    env["MESH_WFM__SNAPSHOT_SECONDS"] = "0.001"
    assert (await run_once_process(env, timeout_s=150))[0] == 0
    before = {k: v for k, v in read_lake(moto_server, bucket).items() if "/_state/" not in k}
    assert (await run_once_process(env, timeout_s=150))[0] == 0
    again = {k: v for k, v in read_lake(moto_server, bucket).items() if "/_state/" not in k}
    assert again == before, "an unchanged week was rewritten"

    changed_ids = _republish_next_week(simulator)
    assert changed_ids
    assert (await run_once_process(env, timeout_s=150))[0] == 0
    after = {k: v for k, v in read_lake(moto_server, bucket).items() if "/_state/" not in k}
    changed = {k for k in after if after.get(k) != before.get(k)} | (set(before) - set(after))
    assert changed, "the republished week was not rewritten"
    weeks = {key.split("/")[-1].split("-part-")[0] for key in changed}
    assert len(weeks) == 1, f"more than the republished week changed: {sorted(changed)}"


def _republish_next_week(simulator: RunningSimulator) -> list[str]:
    """Republish next week of the first business unit whose week starts on Monday."""
    units = simulator.sim.workforce.units
    unit = next(u for u in units if u.start_day_of_week == "Monday")
    monday = week_start(datetime.now(UTC)) + timedelta(weeks=1)
    return simulator.sim.republish(unit.id, monday.date().isoformat())
