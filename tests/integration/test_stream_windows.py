"""What a window's events amount to when the window is exported again, or holds a record too
large for the stream (a hostile source, a ``file://`` lake, moto's Kinesis).

A re-sweep that changed one record publishes that record's new version (a new event id) and
nothing else: the window's marker (``_state/published/``) says what the stream holds.

A hostile source serves, in its second window, one conversation whose outbound campaign id is
just over 1 MiB: a contract-valid record that Kinesis can never take in one message (moto does
not enforce the 1 MiB limit: the producer checks the size before sending). What must hold: the
record is landed once (the lake stays exactly-once), it is not on the stream, every other
landed record is; the window's DLQ holds it once, with the reason ``too_large_for_stream``, in
the series of stream refusals (parts from ``STREAM_DLQ_FIRST_PART``), which the checkpoint does
not count as dead-lettered and ``lake audit`` accepts; an unchanged re-sweep of the window keeps
that part byte for byte; ``dlq replay`` leaves it alone.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from producer import cli
from producer.checkpoint import CheckpointStore
from producer.lake.keys import STREAM_DLQ_PARTS, parse_part_key
from producer.lake.store import open_store
from producer.settings import LakeLocation
from producer.telemetry.metrics import Metrics
from producer.windows import align_down
from tests.fixtures.kinesis import read_stream
from tests.fixtures.lake import lake_lines, lake_objects
from tests.fixtures.runs import telephony_domain
from tests.hostile.runner import PAGE_SIZE, hostile_settings, run_in_process
from tests.hostile.source import HostileSource, Misbehaviour, serve_hostile

pytestmark = pytest.mark.usefixtures("cli_logging")

_FIRST = align_down(datetime.now(UTC), 900) - timedelta(hours=2)  # two closed windows
_PREFIX = "telephony-cdr-export"


def _refusal_keys(objects: dict[str, bytes]) -> list[str]:
    return sorted(
        key
        for key in objects
        if "/failed-records/" in key and parse_part_key(key).part in STREAM_DLQ_PARTS
    )


async def _run_and_read(
    source: HostileSource, lake: str, stream: str, **extra: object
) -> tuple[int | None, str, dict[str, bytes]]:
    domain = telephony_domain(
        job_poll_seconds=0.01,
        page_size=PAGE_SIZE,
        part_max_records=10,
        rate_limit_per_minute=60000,
        stream=(f"kinesis://{stream}",),
        **extra,
    )
    async with AsyncExitStack() as stack:
        served = await stack.enter_async_context(serve_hostile(source))
        settings = hostile_settings(
            served.base_url, lake, _FIRST, telephony=domain, resweep_hours=3
        )
        code, output = await run_in_process(settings, timeout_s=60)
        store = await stack.enter_async_context(open_store(settings.lake))
        objects = await lake_objects(store, _PREFIX)
    return code, output, objects


async def test_a_record_too_large_for_the_stream_is_landed_and_dead_lettered_once(
    kinesis_env: str, stream: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = (tmp_path / "lake").as_uri()
    source = HostileSource(
        first_window=_FIRST, windows=2, misbehaviour=Misbehaviour("record_over_stream_limit")
    )
    code, output, objects = await _run_and_read(source, lake, stream)
    assert code == 0, output[-3000:]
    assert source.fired, "the oversized record was never served: the test proves nothing"

    landed = {line["data"]["interaction_id"]: line for line in lake_lines(objects, "/v1/")}
    big = [key for key, line in landed.items() if len(orjson.dumps(line)) > 1024 * 1024]
    assert len(big) == 1, "the oversized record is landed, once"
    (big_id,) = big

    on_stream = await asyncio.to_thread(read_stream, kinesis_env, stream)
    keys = {record.key for record in on_stream}
    assert big_id not in keys, "an event over 1 MiB reached the stream"
    assert keys == set(landed) - {big_id}, "every other landed record is on the stream"

    refusal_keys = _refusal_keys(objects)
    assert len(refusal_keys) == 1, sorted(k for k in objects if "failed-records" in k)
    refused = lake_lines({refusal_keys[0]: objects[refusal_keys[0]]}, "/failed-records/")
    assert len(refused) == 1
    (line,) = refused
    assert line["stage"] == "publish"
    assert [error["rule"] for error in line["errors"]] == ["too_large_for_stream"]
    assert line["record"]["interaction_id"] == big_id
    assert line["x-schema-version"] == "1.0"
    others = {k: v for k, v in objects.items() if k not in refusal_keys}
    primary = [
        (line.get("source") or {}).get("conversationId")
        for line in lake_lines(others, "/failed-records/")
    ]
    assert big_id not in primary, "the stream refusal is not one of the window's rejections"

    async with open_store(LakeLocation.parse(lake)) as store:
        metrics = Metrics(CollectorRegistry()).for_domain("telephony")
        checkpoint, _ = await CheckpointStore(
            store, prefix=_PREFIX, domain="telephony", metrics=metrics
        ).load()
    assert checkpoint is not None
    assert checkpoint.totals.landed == len(landed)
    assert checkpoint.totals.dead_lettered == len(primary)
    assert checkpoint.totals.fetched == len(landed) + len(primary)

    monkeypatch.setenv("MESH_LAKE_URL", lake)
    audited = await asyncio.to_thread(cli.main, ["lake", "audit", "--domain", "telephony"])
    assert audited == 0, "lake audit does not accept the stream refusals' series"

    # An unchanged re-sweep of both windows publishes nothing and keeps the refusal as it was.
    again = HostileSource(
        first_window=_FIRST, windows=2, misbehaviour=Misbehaviour("record_over_stream_limit")
    )
    code, output, after = await _run_and_read(again, lake, stream, resweep_interval_seconds=0.001)
    assert code == 0, output[-3000:]
    assert {job.window for job in again.jobs.values()} == {0, 1}, "both windows re-swept"
    assert _refusal_keys(after) == refusal_keys
    assert after[refusal_keys[0]] == objects[refusal_keys[0]], "rewritten, not kept"
    assert len(await asyncio.to_thread(read_stream, kinesis_env, stream)) == len(on_stream)


async def test_a_changed_re_sweep_publishes_the_changed_record_alone(
    kinesis_env: str, stream: str, tmp_path: Path
) -> None:
    lake = (tmp_path / "lake").as_uri()
    code, output, _ = await _run_and_read(
        HostileSource(first_window=_FIRST, windows=2), lake, stream
    )
    assert code == 0, output[-3000:]
    first = await asyncio.to_thread(read_stream, kinesis_env, stream)
    assert first
    assert len({r.key for r in first}) == len(first), "each record once"

    changed = HostileSource(
        first_window=_FIRST, windows=2, misbehaviour=Misbehaviour("record_changed")
    )
    code, output, objects = await _run_and_read(
        changed, lake, stream, resweep_interval_seconds=0.001
    )
    assert code == 0, output[-3000:]
    assert {job.window for job in changed.jobs.values()} == {0, 1}, "both windows re-swept"
    records = await asyncio.to_thread(read_stream, kinesis_env, stream)
    before = {(r.key, r.data["event_id"]) for r in first}
    new = [
        (r.key, r.data["event_id"]) for r in records if (r.key, r.data["event_id"]) not in before
    ]
    assert len(records) == len(first) + 1, "one event more: the changed record's new version"
    ((key, event_id),) = new
    assert key in {r.key for r in first}, "a record the stream had, in a new version"
    landed = {line["data"]["interaction_id"]: line for line in lake_lines(objects, "/v1/")}
    old = next(r for r in first if r.key == key)
    assert old.data["data"]["duration_seconds"] + 61 == landed[key]["data"]["duration_seconds"]
    assert event_id != old.data["event_id"]
    markers = [key for key in objects if "/_state/published/v1/" in key]
    assert len(markers) == 2, "one marker per window published"
