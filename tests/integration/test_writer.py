"""BatchWriter: a window's lines become numbered parts; re-runs neither duplicate nor leave gaps.

Every test runs against both stores (S3 on moto, and file://).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from producer.errors import ConfigError
from producer.lake.encode import decode_part, json_line
from producer.lake.keys import data_key, dlq_key, parse_part_key
from producer.lake.store import ObjectStore, open_store
from producer.lake.writer import BatchWriter, WindowLanded
from producer.settings import LakeLocation
from producer.telemetry.metrics import Metrics
from producer.windows import Window
from tests.fixtures.s3_faults import S3FaultProxy

START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(minutes=15))
PREFIX = "telephony-cdr-export"


def _lines(count: int, tag: str = "ok") -> list[bytes]:
    return [json_line({"domain": "telephony", "data": {"n": n, "tag": tag}}) for n in range(count)]


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def _writer(
    store: ObjectStore,
    metrics: Metrics,
    *,
    part_max_records: int = 3,
    compression: str = "gzip",
    major: int = 1,
    older_major: bool = False,
) -> BatchWriter:
    return BatchWriter(
        store,
        prefix=PREFIX,
        domain="telephony",
        major=major,
        older_major=older_major,
        compression=compression,
        part_max_records=part_max_records,
        metrics=metrics.for_domain("telephony"),
        object_metadata={"schema-version": "1.0"},
    )


async def _write(
    writer: BatchWriter, landed: list[bytes], dead: list[bytes], window: Window = WINDOW
) -> WindowLanded:
    write = writer.open_window(window)
    for line in landed:
        await write.add_landed(line)
    for line in dead:
        await write.add_dead_letter(line)
    return await write.finish()


async def _read_all(store: ObjectStore) -> dict[str, list[bytes]]:
    objects: dict[str, list[bytes]] = {}
    for key in await store.list_keys(""):
        found = await store.get(key)
        assert found is not None
        objects[key] = decode_part(found.data, parse_part_key(key).compression)
    return objects


def _sample(metrics: Metrics, name: str, kind: str) -> float:
    value = metrics.registry.get_sample_value(name, {"domain": "telephony", "kind": kind})
    return value or 0.0


async def test_lines_are_split_into_parts(store: ObjectStore, metrics: Metrics) -> None:
    """Parts hold at most part_max_records lines, numbered from 00000, lines kept in order."""
    landed, dead = _lines(7), _lines(2, "bad")
    result = await _write(_writer(store, metrics), landed, dead)
    assert result.data_parts == 3
    assert result.dlq_parts == 1
    assert (result.landed, result.dead_lettered, result.objects_unchanged) == (7, 2, 0)
    objects = await _read_all(store)
    assert objects == {
        data_key(PREFIX, 1, "telephony", WINDOW, 0): landed[0:3],
        data_key(PREFIX, 1, "telephony", WINDOW, 1): landed[3:6],
        data_key(PREFIX, 1, "telephony", WINDOW, 2): landed[6:7],
        dlq_key(PREFIX, "telephony", WINDOW, 0): dead,
    }
    assert _sample(metrics, "mesh_objects_written_total", "data") == 3
    assert _sample(metrics, "mesh_objects_written_total", "dlq") == 1
    assert (
        _sample(metrics, "mesh_bytes_written_total", "data")
        + _sample(metrics, "mesh_bytes_written_total", "dlq")
        == result.bytes_written
    )


async def test_an_exact_multiple_writes_no_empty_part(store: ObjectStore, metrics: Metrics) -> None:
    """6 lines at 3 per part make 2 parts, not a third empty one; no DLQ lines, no DLQ object."""
    result = await _write(_writer(store, metrics), _lines(6), [])
    assert (result.data_parts, result.dlq_parts) == (2, 0)
    assert sorted(await store.list_keys("")) == [
        data_key(PREFIX, 1, "telephony", WINDOW, 0),
        data_key(PREFIX, 1, "telephony", WINDOW, 1),
    ]


async def test_an_empty_window_writes_nothing(store: ObjectStore, metrics: Metrics) -> None:
    """A window without records leaves no object at all."""
    result = await _write(_writer(store, metrics), [], [])
    assert result == WindowLanded(0, 0, 0, 0, 0, 0)
    assert await store.list_keys("") == []


async def test_rewriting_the_same_window_changes_nothing(
    store: ObjectStore, metrics: Metrics
) -> None:
    """A re-run with the same lines finds every part identical and rewrites none of them."""
    writer = _writer(store, metrics)
    first = await _write(writer, _lines(7), _lines(1, "bad"))
    before = {key: await store.etag(key) for key in await store.list_keys("")}
    second = await _write(writer, _lines(7), _lines(1, "bad"))
    assert second.objects_unchanged == 4
    assert second.bytes_written == 0
    assert (second.data_parts, second.landed) == (first.data_parts, first.landed)
    assert {key: await store.etag(key) for key in await store.list_keys("")} == before
    assert _sample(metrics, "mesh_objects_unchanged_total", "data") == 3
    assert _sample(metrics, "mesh_objects_unchanged_total", "dlq") == 1
    assert _sample(metrics, "mesh_objects_written_total", "data") == 3


async def test_a_rerun_with_fewer_parts_deletes_the_stale_ones(
    store: ObjectStore, metrics: Metrics
) -> None:
    """Parts of an earlier, longer attempt (data and DLQ) are removed: no duplicates remain."""
    writer = _writer(store, metrics)
    await _write(writer, _lines(8), _lines(4, "bad"))  # 3 data parts, 2 DLQ parts
    neighbour = Window(WINDOW.end, WINDOW.end + timedelta(minutes=15))
    await _write(writer, _lines(1, "next"), [], neighbour)
    result = await _write(writer, _lines(4, "v2"), [])
    assert (result.data_parts, result.dlq_parts) == (2, 0)
    assert await _read_all(store) == {
        data_key(PREFIX, 1, "telephony", WINDOW, 0): _lines(4, "v2")[0:3],
        data_key(PREFIX, 1, "telephony", WINDOW, 1): _lines(4, "v2")[3:4],
        data_key(PREFIX, 1, "telephony", neighbour, 0): _lines(1, "next"),
    }


async def test_two_majors_share_a_window_and_each_cleans_up_only_its_own_parts(
    store: ObjectStore, metrics: Metrics
) -> None:
    """The older major's DLQ parts are numbered from 80000; neither writer deletes the other's."""
    newest = _writer(store, metrics, major=2)
    older = _writer(store, metrics, major=1, older_major=True)
    await _write(newest, _lines(2), _lines(4, "v2-bad"))
    await _write(older, _lines(3), _lines(7, "v1-bad"))
    dlq = [parse_part_key(k).part for k in await store.list_keys(f"{PREFIX}/failed-records/")]
    assert sorted(dlq) == [0, 1, 80_000, 80_001, 80_002]

    # A re-export of each with fewer rejections removes its own stale parts only.
    await _write(older, _lines(3), _lines(1, "v1-bad"))
    await _write(newest, _lines(2), _lines(1, "v2-bad"))
    objects = await _read_all(store)
    dlq_parts = {parse_part_key(k).part: lines for k, lines in objects.items() if "failed" in k}
    assert sorted(dlq_parts) == [0, 80_000]
    assert dlq_parts[0] == _lines(1, "v2-bad")
    assert dlq_parts[80_000] == _lines(1, "v1-bad")
    assert {parse_part_key(k).major for k in objects if "failed" not in k} == {1, 2}


async def test_a_compression_change_replaces_the_old_parts(
    store: ObjectStore, metrics: Metrics
) -> None:
    """Switching gzip → zstd and re-running leaves only the zstd parts of the window."""
    await _write(_writer(store, metrics), _lines(5), _lines(1, "bad"))
    await _write(_writer(store, metrics, compression="zstd"), _lines(5), _lines(1, "bad"))
    keys = await store.list_keys("")
    assert keys
    assert all(key.endswith(".ndjson.zst") for key in keys)
    objects = await _read_all(store)
    assert sum(len(lines) for lines in objects.values()) == 6


async def test_cancellation_leaves_whole_objects_and_a_rerun_repairs(
    store: ObjectStore, metrics: Metrics
) -> None:
    """Cancelled at any point, only whole, decodable parts exist; the next attempt is exact."""
    writer = _writer(store, metrics, part_max_records=2)
    landed, dead = _lines(9), _lines(3, "bad")
    for steps in (0, 1, 3, 8, 20):
        task = asyncio.create_task(_write(writer, landed, dead), name="telephony:test-write")
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for key, lines in (await _read_all(store)).items():  # every object decodes fully
            assert lines
            assert parse_part_key(key).window == WINDOW
    result = await _write(writer, landed, dead)
    assert (result.data_parts, result.dlq_parts) == (5, 2)
    objects = await _read_all(store)
    by_kind: dict[str, list[bytes]] = {"data": [], "dlq": []}
    for key, lines in objects.items():
        by_kind[parse_part_key(key).kind] += lines
    assert by_kind == {"data": landed, "dlq": dead}


async def test_misuse_is_refused(store: ObjectStore, metrics: Metrics) -> None:
    """A finished window takes no more lines; bad compression or part size fails at start-up."""
    write = _writer(store, metrics).open_window(WINDOW)
    await write.finish()
    with pytest.raises(RuntimeError, match="already finished"):
        await write.add_landed(b"{}")
    with pytest.raises(RuntimeError, match="already finished"):
        await write.finish()
    with pytest.raises(ConfigError, match="MESH_COMPRESSION"):
        _writer(store, metrics, compression="lz4")
    with pytest.raises(ValueError, match="part_max_records"):
        _writer(store, metrics, part_max_records=0)


async def test_a_window_written_the_first_time_asks_s3_nothing_per_part(
    s3_faults_env: S3FaultProxy, bucket: str, metrics: Metrics
) -> None:
    """Each kind's window prefix is listed once; a part whose key was not there is put with no
    HEAD before it, and a rewrite HEADs only the parts that were there (counted at a proxy in
    front of moto)."""
    proxy = s3_faults_env
    async with open_store(LakeLocation.parse(f"s3://{bucket}")) as store:
        writer = _writer(store, metrics)
        first = await _write(writer, _lines(7), _lines(1, "bad"))  # 3 data parts, 1 DLQ part
        assert (first.data_parts, first.dlq_parts) == (3, 1)
        assert Counter(record.method for record in proxy.records) == {"GET": 2, "PUT": 4}
        proxy.records.clear()
        again = await _write(writer, _lines(7), _lines(2, "bad"))  # the DLQ part changes
        assert (again.objects_unchanged, again.bytes_written > 0) == (3, True)
        assert Counter(record.method for record in proxy.records) == {"GET": 2, "HEAD": 4, "PUT": 1}
