"""``lake audit`` on a lake landed by the daemon: consistent as landed, and every fault found.

The lake is built by ``daemon.run(once=True)`` against the simulator, on both stores
(``file://`` and moto S3); faults are injected by changing objects through the store.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from producer import cli
from producer.lake.encode import decode_part, encode_part
from producer.lake.store import ObjectStore
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.fixtures.product import audit
from tests.fixtures.runs import run_once, telephony_domain, telephony_settings
from tests.fixtures.simulator import telephony_config

pytestmark = pytest.mark.usefixtures("cli_logging")

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=45)
_PREFIX = "telephony-cdr-export"


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen simulator clock: two windows are available, the same ones on every run."""
    return telephony_config(lambda: _NOW, conversations_per_hour=400.0)


async def _land(simulator: RunningSimulator, lake_url: str) -> None:
    """Land every available window (20 records a part, so windows have several parts)."""
    settings = telephony_settings(
        simulator.base_url,
        lake_url,
        start_at=_START,
        request_retry_seconds=10,
        telephony=telephony_domain(page_size=100, part_max_records=20, resweep_hours=0),
    )
    await run_once(settings)


async def _parts(store: ObjectStore, folder: str) -> list[str]:
    return await store.list_keys(f"{_PREFIX}/{folder}/")


async def test_a_landed_lake_is_consistent(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore
) -> None:
    """As the daemon left it, the recount equals the checkpoint: totals, last window, no gaps."""
    await _land(simulator, lake_url)
    report = await audit(store)
    assert report.consistent, [str(d) for d in report.discrepancies]
    assert report.checkpoint is not None
    assert len(report.windows) == 2
    assert all(w.committed for w in report.windows)
    assert (report.landed, report.dead_lettered) == (
        report.checkpoint.totals.landed,
        report.checkpoint.totals.dead_lettered,
    )
    assert report.landed > 40, "several data parts per window"
    assert report.dead_lettered > 0
    assert report.objects == len(await _parts(store, "v1")) + len(
        await _parts(store, "failed-records")
    )


async def test_deleted_objects_are_found(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore
) -> None:
    """The first window loses its first data part and its only DLQ part: the data gap names the
    window, the totals say by how much for both (a window whose per-window counts the checkpoint
    still holds also names its DLQ gap). A lost checkpoint is named too."""
    await _land(simulator, lake_url)
    first = (await _parts(store, "v1"))[0]
    dlq = (await _parts(store, "failed-records"))[0]
    assert dlq.endswith("-part-00000.ndjson.gz")
    lost = {}
    for kind, key in (("landed", first), ("dead-lettered", dlq)):
        found = await store.get(key)
        assert found is not None
        lost[kind] = len(decode_part(found.data, "gzip"))
        await store.delete(key)

    report = await audit(store)

    lines = [str(d) for d in report.discrepancies]
    label = first.rsplit("/", 1)[1].removeprefix("telephony-").split("-part-")[0]
    assert label in dlq
    assert f"{label} export: missing part(s) 00000" in lines
    dlq_gap = [line for line in lines if line.startswith(f"{label} dlq: missing part")]
    for kind, count in lost.items():
        assert any(
            line.startswith("totals:")
            and "records" in line
            and f" {kind}," in line
            and f"(-{count})" in line
            for line in lines
        ), lines
    # The checkpoint keeps each window of the last day: the window's own counts are off too.
    assert any(line.startswith(f"{label}: checkpoint records") for line in lines), lines
    assert len(lines) == 4 + len(dlq_gap), lines
    await store.delete(f"{_PREFIX}/_state/checkpoint.json")
    lost_checkpoint = await audit(store)
    assert [d.where for d in lost_checkpoint.discrepancies][-1] == "checkpoint"


async def test_damaged_parts_are_named(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore
) -> None:
    """A part cut short is named as unreadable, and its window's counts as off; a well-formed
    part missing a line breaks the last window's counts; both show in the totals."""
    await _land(simulator, lake_url)
    report = await audit(store)
    assert report.checkpoint is not None
    assert report.checkpoint.last_window is not None
    last = report.checkpoint.last_window.window
    data_parts = await _parts(store, "v1")
    truncated = data_parts[0]
    assert last.label not in truncated
    found = await store.get(truncated)
    assert found is not None
    await store.put(truncated, found.data[: len(found.data) // 2])
    shortened = next(k for k in data_parts if last.label in k)
    found = await store.get(shortened)
    assert found is not None
    await store.put(shortened, encode_part(decode_part(found.data, "gzip")[1:], "gzip"))

    report = await audit(store)

    problems = {d.where: d.problem for d in report.discrepancies}
    # The checkpoint keeps each window of the last day: the truncated window's counts are off.
    truncated_label = truncated.rsplit("/", 1)[1].removeprefix("telephony-").split("-part-")[0]
    assert list(problems) == [truncated, truncated_label, last.label, "totals"], problems
    assert problems[truncated].startswith("unreadable part")
    assert "the lake holds" in problems[last.label]
    ranged = await audit(store, start=last.start)
    assert [d.where for d in ranged.discrepancies] == [last.label]
    assert any("totals not compared" in note for note in ranged.notes)


async def test_cli_exits_1_with_one_line_per_discrepancy(
    simulator: RunningSimulator,
    lake_url: str,
    store: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``mesh-producer lake audit``: exit 0 when consistent, 1 with a DISCREPANCY line each."""
    await _land(simulator, lake_url)
    monkeypatch.setenv("MESH_LAKE_URL", lake_url)
    argv = ["lake", "audit", "--domain", "telephony"]
    assert await asyncio.to_thread(cli.main, argv) == 0
    assert capsys.readouterr().out.strip().endswith(": consistent")

    await store.delete((await _parts(store, "failed-records"))[-1])
    assert await asyncio.to_thread(cli.main, argv) == 1
    out = capsys.readouterr().out.splitlines()
    problems = [line for line in out if line.startswith("DISCREPANCY ")]
    # The last window's counts, its DLQ part count, and the totals.
    assert len(problems) == 3, out
    assert sum("dead-lettered" in line for line in problems) == 2
    assert sum("DLQ parts" in line for line in problems) == 1
    assert out[-1].endswith("3 discrepancy(ies)")


def test_bad_input_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad ``--from`` or output port is named in one line on stderr, exit 2, nothing read."""
    assert cli.main(["lake", "audit", "--domain", "telephony", "--from", "yesterday"]) == 2
    assert capsys.readouterr().err.strip() == (
        "mesh-producer: --from: 'yesterday' is not an ISO 8601 time"
    )
    monkeypatch.setenv("MESH_TELEPHONY__PREFIX", "exports/../other")
    assert cli.main(["dlq", "replay", "--domain", "telephony"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("mesh-producer: MESH_TELEPHONY__PREFIX: ")


async def _data_parts_by_window(store: ObjectStore) -> dict[str, list[str]]:
    """The data part keys of each window, by window label, in key order."""
    windows: dict[str, list[str]] = {}
    for key in await _parts(store, "v1"):
        label = key.rsplit("/", 1)[1].removeprefix("telephony-").split("-part-")[0]
        windows.setdefault(label, []).append(key)
    return windows


async def test_a_line_doubled_in_a_committed_part_is_named(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore
) -> None:
    """A data part rewritten with one line twice: the record is named with both places, and the
    totals are one landed record over."""
    await _land(simulator, lake_url)
    key = next(iter((await _data_parts_by_window(store)).values()))[1]
    found = await store.get(key)
    assert found is not None
    lines = decode_part(found.data, "gzip")
    await store.put(key, encode_part([lines[0], *lines], "gzip"))
    record = orjson.loads(lines[0])["data"]["interaction_id"]

    report = await audit(store)

    problems = {d.where: d.problem for d in report.discrepancies}
    assert f"v1 telephony record {record}" in problems, problems
    assert problems[f"v1 telephony record {record}"] == (
        f"landed 2 times in committed data: {key} line 1; {key} line 2"
    )
    assert any(where == "totals" and "(+1)" in what for where, what in problems.items())


async def test_a_record_landed_in_two_windows_is_named(
    simulator: RunningSimulator,
    lake_url: str,
    store: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A line of the first window copied over a line of the second: every count still matches,
    only the identity check sees it; the CLI exits 1 naming the record and both keys."""
    await _land(simulator, lake_url)
    first, second = (await _data_parts_by_window(store)).values()
    source = await store.get(first[0])
    target = await store.get(second[-1])
    assert source is not None
    assert target is not None
    copied = decode_part(source.data, "gzip")[3]
    lines = decode_part(target.data, "gzip")
    await store.put(second[-1], encode_part([*lines[:-1], copied], "gzip"))
    record = orjson.loads(copied)["data"]["interaction_id"]

    report = await audit(store)

    assert [str(d) for d in report.discrepancies] == [
        f"v1 telephony record {record}: landed 2 times in committed data: "
        f"{first[0]} line 4; {second[-1]} line {len(lines)}"
    ]
    monkeypatch.setenv("MESH_LAKE_URL", lake_url)
    capsys.readouterr()  # what the landing run printed
    assert await asyncio.to_thread(cli.main, ["lake", "audit", "--domain", "telephony"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"DISCREPANCY {report.discrepancies[0]}"
    assert out[-1].endswith("1 discrepancy(ies)")
