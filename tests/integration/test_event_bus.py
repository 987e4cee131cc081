"""The event output port end to end: ``run --once`` against the simulator, the lake on moto S3,
the events on moto's Kinesis (directly or through ``KinesisFaultProxy``), read back with boto3.

What holds: every record landed in the lake is on the stream (keyed by its record id, in the
lake's envelope plus a deterministic ``event_id``), nothing dead-lettered is; an unchanged
re-sweep publishes nothing; partial batch failures, throughput refusals and resets are retried,
only the failed entries; a stream that stays down fails the window before its checkpoint; a
window whose commit failed after its publish is published again with the same event ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client import CollectorRegistry

from producer import daemon
from producer.checkpoint import Checkpoint, CheckpointStore
from producer.lake.store import open_store
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.settings import LakeLocation, Settings
from producer.telemetry.metrics import Metrics
from producer.windows import align_down
from tests.fixtures.kinesis import KinesisFaultProxy, StreamRecord, read_stream
from tests.fixtures.lake import lake_lines
from tests.fixtures.product import audit
from tests.fixtures.runs import (
    daemon_running,
    free_port,
    run_once,
    telephony_domain,
    telephony_settings,
)
from tests.fixtures.s3 import read_lake
from tests.fixtures.s3_faults import S3FaultProxy
from tests.fixtures.simulator import telephony_config

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=45)
_PREFIX = "telephony-cdr-export"
_SHIPPED = Path(__file__).resolve().parents[2] / "config" / "contracts" / "telephony" / "1.0.json"


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen simulator clock: two windows are available, the same ones on every run."""
    return telephony_config(lambda: _NOW, conversations_per_hour=400.0)


def _settings(simulator: RunningSimulator, bucket: str, stream: str, **overrides: Any) -> Settings:
    domain = telephony_domain(
        page_size=100,
        part_max_records=20,
        resweep_hours=1,
        resweep_interval_seconds=0.001,
        stream=(f"kinesis://{stream}",),
    )
    values: dict[str, Any] = {"start_at": _START, "request_retry_seconds": 10}
    return telephony_settings(
        simulator.base_url, f"s3://{bucket}", telephony=domain, **(values | overrides)
    )


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"domain": "telephony", **labels}) or 0.0


def _landed(endpoint: str, bucket: str) -> tuple[dict[str, bytes], set[str]]:
    """The lake's data lines by record id (as bytes, as landed) and its dead-lettered ids."""
    objects = read_lake(endpoint, bucket)
    lines = {
        line["data"]["interaction_id"]: orjson.dumps(line) for line in lake_lines(objects, "/v1/")
    }
    dead = {
        str((line.get("source") or {}).get("conversationId"))
        for line in lake_lines(objects, "/failed-records/")
    }
    return lines, dead


def _expected_id(record_id: str, line: bytes, version: str = "1.0") -> str:
    content = hashlib.sha256(line).hexdigest()
    seed = f"telephony\x1f{record_id}\x1f{version}\x1f{content}"
    return hashlib.sha256(seed.encode()).hexdigest()


def _check_stream(records: list[StreamRecord], lines: dict[str, bytes], dead: set[str]) -> None:
    """Every landed record at least once, as landed, with its deterministic id; no dead one;
    the copies of one key carry one event id, in one shard, in sequence order."""
    by_key: dict[str, list[StreamRecord]] = defaultdict(list)
    for record in records:
        by_key[record.key].append(record)
    assert set(by_key) == set(lines), "the stream holds exactly the landed records"
    assert not set(by_key) & dead, "a dead-lettered record reached the stream"
    for key, copies in by_key.items():
        envelope = {k: v for k, v in copies[0].data.items() if k != "event_id"}
        assert orjson.dumps(envelope) == lines[key], "the lake's envelope, as landed"
        assert {c.data["event_id"] for c in copies} == {_expected_id(key, lines[key])}
        assert len({c.shard for c in copies}) == 1, "one partition key, one shard"
        sequences = [c.sequence for c in copies]
        assert sequences == sorted(sequences)


async def _checkpoint(bucket: str) -> Checkpoint | None:
    async with open_store(LakeLocation.parse(f"s3://{bucket}")) as store:
        metrics = Metrics(CollectorRegistry()).for_domain("telephony")
        loaded, _ = await CheckpointStore(
            store, prefix=_PREFIX, domain="telephony", metrics=metrics
        ).load()
        return loaded


async def _audit(bucket: str) -> None:
    async with open_store(LakeLocation.parse(f"s3://{bucket}")) as store:
        report = await audit(store)
    assert report.consistent, [str(d) for d in report.discrepancies]


async def test_every_landed_record_is_published_and_nothing_else(
    simulator: RunningSimulator, kinesis_env: str, bucket: str, stream: str
) -> None:
    """run --once: the stream holds every landed record once, none dead-lettered; an unchanged
    re-sweep publishes nothing; the lake is exactly once."""
    registry = CollectorRegistry()
    await run_once(_settings(simulator, bucket, stream), registry)
    lines, dead = _landed(kinesis_env, bucket)
    assert len(lines) > 40
    assert dead, "the simulator sends records the contract rejects"
    records = read_stream(kinesis_env, stream)
    _check_stream(records, lines, dead)
    assert len(records) == len(lines)
    assert _sample(registry, "mesh_events_total", outcome="published") == len(lines)
    await _audit(bucket)

    again = CollectorRegistry()
    await run_once(_settings(simulator, bucket, stream), again)
    assert _sample(again, "mesh_resweeps_total", outcome="unchanged") == 2
    assert len(read_stream(kinesis_env, stream)) == len(lines), "an unchanged window republished"
    assert _sample(again, "mesh_events_total", outcome="published") == 0


async def test_failed_entries_alone_are_sent_again(
    simulator: RunningSimulator,
    kinesis_fault_proxy: KinesisFaultProxy,
    kinesis_env: str,
    bucket: str,
    stream: str,
) -> None:
    """A reset, a whole call refused for throughput, then partial failures in two calls: every
    record is published, and no entry Kinesis accepted is ever sent again."""
    proxy = kinesis_fault_proxy
    proxy.reset_calls(1)
    proxy.throttle_calls(1)
    proxy.fail_entries(calls=2, every=3)
    registry = CollectorRegistry()
    await run_once(_settings(simulator, bucket, stream), registry)
    lines, dead = _landed(kinesis_env, bucket)
    records = read_stream(kinesis_env, stream)
    _check_stream(records, lines, dead)
    assert len(records) == len(lines), "an accepted entry was sent again"
    assert sum(proxy.entries) == len(lines)
    assert proxy.refused_calls == 2
    assert proxy.refused_entries > 0
    retried = _sample(registry, "mesh_events_total", outcome="retried")
    assert retried > proxy.refused_entries  # the entries of the refused calls, too
    assert _sample(registry, "mesh_stream_throttled_total") == proxy.refused_entries + 1
    assert _sample(registry, "mesh_events_total", outcome="published") == len(lines)


async def test_a_stream_that_stays_down_fails_the_window_before_its_checkpoint(
    simulator: RunningSimulator,
    kinesis_fault_proxy: KinesisFaultProxy,
    kinesis_env: str,
    bucket: str,
    stream: str,
) -> None:
    """Every PutRecords refused: the run fails naming the stream, no checkpoint is written;
    the next run lands and publishes everything."""
    kinesis_fault_proxy.throttle_calls(None)
    result = await daemon.run(
        _settings(simulator, bucket, stream, request_retry_seconds=0.3),
        once=True,
        registry=CollectorRegistry(),
        install_signal_handlers=False,
    )
    assert not result.ok
    error = result.reports["telephony"].error or ""
    assert f"kinesis://{stream}" in error
    assert "ProvisionedThroughputExceededException" in error
    assert await _checkpoint(bucket) is None
    assert read_stream(kinesis_env, stream) == []

    kinesis_fault_proxy.clear()
    await run_once(_settings(simulator, bucket, stream))
    lines, dead = _landed(kinesis_env, bucket)
    _check_stream(read_stream(kinesis_env, stream), lines, dead)
    await _audit(bucket)


@pytest.fixture
def _one_s3_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore tries each S3 call once: a refused checkpoint PUT fails its window at once."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.mark.usefixtures("_one_s3_attempt")
async def test_a_window_cut_off_before_its_marker_republishes_the_same_event_ids(
    simulator: RunningSimulator,
    kinesis_env: str,
    s3_faults_env: S3FaultProxy,
    bucket: str,
    stream: str,
) -> None:
    """The stream took the first window's events but the marker of what it took cannot be
    written: the window fails; the next run publishes it again, with the same event ids
    (consumers drop the repeats)."""
    s3_faults_env.fail_next(None, method="PUT", path_contains="_state/published/")
    result = await daemon.run(
        _settings(simulator, bucket, stream),
        once=True,
        registry=CollectorRegistry(),
        install_signal_handlers=False,
    )
    assert not result.ok
    first = read_stream(kinesis_env, stream)
    assert first, "the window was published before its marker"
    assert await _checkpoint(bucket) is None

    s3_faults_env.clear()
    await run_once(_settings(simulator, bucket, stream))
    lines, dead = _landed(kinesis_env, bucket)
    records = read_stream(kinesis_env, stream)
    _check_stream(records, lines, dead)
    repeated = {r.key for r in first}
    assert sum(1 for r in records if r.key in repeated) >= 2 * len(repeated)
    await _audit(bucket)


@pytest.mark.usefixtures("_one_s3_attempt")
async def test_a_commit_lost_after_the_marker_publishes_nothing_twice(
    simulator: RunningSimulator,
    kinesis_env: str,
    s3_faults_env: S3FaultProxy,
    bucket: str,
    stream: str,
) -> None:
    """The checkpoint PUT fails after the window's events and marker were written: the window
    fails and is exported again by the next run, which finds every event on the stream already
    (its marker) and sends none of them again."""
    s3_faults_env.fail_next(None, method="PUT", path_contains="_state/checkpoint.json")
    result = await daemon.run(
        _settings(simulator, bucket, stream),
        once=True,
        registry=CollectorRegistry(),
        install_signal_handlers=False,
    )
    assert not result.ok
    first = read_stream(kinesis_env, stream)
    assert first, "the window was published before its commit"
    assert await _checkpoint(bucket) is None

    s3_faults_env.clear()
    registry = CollectorRegistry()
    await run_once(_settings(simulator, bucket, stream), registry=registry)
    lines, dead = _landed(kinesis_env, bucket)
    records = read_stream(kinesis_env, stream)
    _check_stream(records, lines, dead)
    assert len(records) == len(lines), "each landed record on the stream exactly once"
    assert _sample(registry, "mesh_events_total", outcome="unchanged") == len(first)
    await _audit(bucket)


def _two_majors(tmp_path: Path) -> Path:
    """Telephony 1.0 as shipped and a 2.0 that also requires ``caller_number`` (chats have none:
    valid in 1.0, dead-lettered in 2.0)."""
    folder = tmp_path / "contracts" / "telephony"
    folder.mkdir(parents=True)
    v1 = json.loads(_SHIPPED.read_text(encoding="utf-8"))
    (folder / "1.0.json").write_text(json.dumps(v1), encoding="utf-8")
    v2 = json.loads(json.dumps(v1))
    v2["version"] = "2.0"
    v2["schema"]["title"] = "telephony 2.0"
    v2["schema"]["required"] = [*v2["schema"]["required"], "caller_number"]
    (folder / "2.0.json").write_text(json.dumps(v2), encoding="utf-8")
    return folder.parent


@pytest.mark.usefixtures("kinesis_env")
async def test_a_major_migration_publishes_each_major_to_its_own_stream(
    simulator: RunningSimulator,
    bucket: str,
    stream: str,
    other_stream: str,
    tmp_path: Path,
) -> None:
    """``SCHEMA_VERSION=1.0,2.0`` with two streams, in that order: each stream holds exactly
    its major's landed records, in its major's envelope; a record 2.0 rejects is on 1.0's only."""
    domain = telephony_domain(
        page_size=100,
        part_max_records=20,
        resweep_hours=0,
        schema_version="1.0,2.0",
        stream=(f"kinesis://{stream}", f"kinesis://{other_stream}"),
    )
    settings = telephony_settings(
        simulator.base_url,
        f"s3://{bucket}",
        telephony=domain,
        start_at=_START,
        contracts_dir=_two_majors(tmp_path),
    )
    await run_once(settings)
    kinesis_env = os.environ["AWS_ENDPOINT_URL_KINESIS"]
    objects = read_lake(kinesis_env, bucket)
    for name, folder, version in ((stream, "/v1/", "1.0"), (other_stream, "/v2/", "2.0")):
        lines = {
            line["data"]["interaction_id"]: orjson.dumps(line)
            for line in lake_lines(objects, folder)
        }
        records = read_stream(kinesis_env, name)
        assert sorted(r.key for r in records) == sorted(lines), name
        for record in records:
            assert record.data["x-schema-version"] == version
            envelope = {k: v for k, v in record.data.items() if k != "event_id"}
            assert orjson.dumps(envelope) == lines[record.key]
            assert record.data["event_id"] == _expected_id(record.key, lines[record.key], version)
    v1_only = {r.key for r in read_stream(kinesis_env, stream)} - {
        r.key for r in read_stream(kinesis_env, other_stream)
    }
    assert v1_only, "chats are valid in 1.0 and dead-lettered in 2.0"


async def _not_ready(port: int) -> dict[str, str]:
    """/readyz's ``not_ready`` reasons (empty while ready or not yet serving)."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            body = orjson.loads(await response.read())
    except aiohttp.ClientConnectionError:
        return {}
    reasons: dict[str, str] = body.get("not_ready", {})
    return reasons


async def test_readyz_names_a_stream_that_stays_down(
    simulator: RunningSimulator,
    kinesis_fault_proxy: KinesisFaultProxy,
    bucket: str,
    stream: str,
) -> None:
    """The daemon (not --once) whose stream refuses every publish: /readyz names the stream."""
    kinesis_fault_proxy.throttle_calls(None)
    port = free_port()
    settings = _settings(simulator, bucket, stream, request_retry_seconds=0.3, http_port=port)
    reason = ""
    async with daemon_running(settings):
        async with asyncio.timeout(60):  # a bound on the test, not a measured duration
            while not reason.startswith("stream: "):
                await asyncio.sleep(0.1)
                reason = (await _not_ready(port)).get("telephony", "")
    assert reason.startswith(f"stream: kinesis://{stream}: unavailable"), reason
    assert "ProvisionedThroughputExceededException" in reason
    assert await _checkpoint(bucket) is None
