"""``dlq replay`` after a contract fix: exactly the now-valid records move, once, idempotently.

The lake is landed by ``daemon.run(once=True)`` against the simulator under contract 1.0 (which
rejects ``email``), on both stores; the fix is a contract 1.1 in a temporary contracts folder
whose ``channel_type`` enum also accepts ``email``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from producer import cli
from producer.lake.store import ObjectStore
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.fixtures.lake import lake_lines, lake_objects
from tests.fixtures.product import (
    audit,
    email_contracts,
    load_checkpoint,
    newest_contract,
    replay,
)
from tests.fixtures.runs import run_once, telephony_domain, telephony_settings
from tests.fixtures.simulator import telephony_config

pytestmark = pytest.mark.usefixtures("cli_logging")

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=45)
_PREFIX = "telephony-cdr-export"
_EMAIL_ONLY = [("$.channel_type", "enum")]


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen simulator clock and enough traffic that emails are always among the rejects."""
    return telephony_config(lambda: _NOW, conversations_per_hour=600.0)


@pytest.fixture
def relaxed(tmp_path: Path) -> Path:
    """A contracts folder with telephony 1.0 and 1.1, whose channel enum adds ``email``."""
    return email_contracts(tmp_path / "contracts")


async def _land(simulator: RunningSimulator, lake_url: str, **telephony: Any) -> None:
    """Land every available window under contract 1.0; no re-sweep unless ``telephony`` asks."""
    settings = telephony_settings(
        simulator.base_url,
        lake_url,
        start_at=_START,
        request_retry_seconds=10,
        telephony=telephony_domain(page_size=200, **{"resweep_hours": 0, **telephony}),
    )
    await run_once(settings)


def _email_only(line: dict[str, Any]) -> bool:
    """A dead letter whose only fault was the ``email`` channel 1.0 does not accept."""
    errors = [(e["path"], e["rule"]) for e in line["errors"]]
    return errors == _EMAIL_ONLY and line["record"]["channel_type"] == "email"


async def _assert_consistent(store: ObjectStore) -> None:
    report = await audit(store)
    assert report.consistent, [str(d) for d in report.discrepancies]


async def test_replay_moves_exactly_the_now_valid_records_once(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, relaxed: Path
) -> None:
    """After 1.1 accepts email: exactly the email-only dead letters land in their windows, the
    other dead letters stay byte for byte, the checkpoint moves their counts; a second replay
    changes no object at all."""
    await _land(simulator, lake_url)
    before = await lake_objects(store, _PREFIX)
    dead_before = lake_lines(before, "/failed-records/")
    expected = {line["source"]["conversationId"] for line in dead_before if _email_only(line)}
    assert expected, "the simulator's mix must reject some email-only conversations"
    assert len(expected) < len(dead_before), "and others for other reasons"
    totals_before = (await load_checkpoint(store)).totals

    report = await replay(store, newest_contract(relaxed), resweep_hours=0)

    assert report.moved == len(expected)
    assert report.kept == len(dead_before) - len(expected)
    after = await lake_objects(store, _PREFIX)
    replayed = [k for k in after if "/v1/" in k and k not in before]
    assert replayed, "replay parts are new objects"
    assert all("-part-9" in k for k in replayed)
    landed_now = {
        line["data"]["interaction_id"]: line["x-schema-version"]
        for key in replayed
        for line in lake_lines({key: after[key]}, "/v1/")
    }
    assert set(landed_now) == expected
    assert set(landed_now.values()) == {"1.1"}
    for key, data in before.items():  # the export's data parts are untouched
        if "/v1/" in key:
            assert after[key] == data
    dead_after = lake_lines(after, "/failed-records/")
    assert dead_after == [line for line in dead_before if not _email_only(line)]
    landed_ids = [line["data"]["interaction_id"] for line in lake_lines(after, "/v1/")]
    dead_ids = [line["source"]["conversationId"] for line in dead_after]
    assert len(landed_ids) + len(dead_ids) == len(set(landed_ids) | set(dead_ids))
    totals = (await load_checkpoint(store)).totals
    assert totals.fetched == totals_before.fetched
    assert totals.landed == totals_before.landed + len(expected)
    assert totals.dead_lettered == totals_before.dead_lettered - len(expected)
    await _assert_consistent(store)

    again = await replay(store, newest_contract(relaxed), resweep_hours=0)

    assert again.moved == 0
    assert await lake_objects(store, _PREFIX) == after, "a second replay changed the lake"


async def test_replay_after_a_crash_before_the_dlq_rewrite_lands_nothing_twice(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, relaxed: Path
) -> None:
    """Replay parts written, DLQ and checkpoint not (the crash window): the next run only takes
    the duplicates out of the DLQ and accounts for them, so each record is in one place."""
    await _land(simulator, lake_url)
    before = await lake_objects(store, _PREFIX)
    first = await replay(store, newest_contract(relaxed), resweep_hours=0)
    assert first.moved > 0
    # Put back what the interrupted run would not have written yet: DLQ parts and checkpoint.
    for key, data in before.items():
        if "/v1/" not in key:
            await store.put(key, data)

    second = await replay(store, newest_contract(relaxed), resweep_hours=0)

    assert sum(w.already_landed for w in second.windows) == first.moved
    assert sum(w.moved for w in second.windows) == 0
    after = await lake_objects(store, _PREFIX)
    landed_ids = [line["data"]["interaction_id"] for line in lake_lines(after, "/v1/")]
    dead_ids = [line["source"]["conversationId"] for line in lake_lines(after, "/failed-records/")]
    assert len(landed_ids) == len(set(landed_ids)), "a record landed twice"
    assert not set(landed_ids) & set(dead_ids), "a record is both landed and dead-lettered"
    await _assert_consistent(store)


async def test_windows_the_producer_still_reexports_are_skipped_unless_asked(
    simulator: RunningSimulator, tmp_path: Path, relaxed: Path
) -> None:
    """Windows in the re-export ledger are the producer's to redo: skipped by default; replayed
    when asked, and a later re-export of them by the producer takes the replay back cleanly."""
    from producer.lake.store import open_store
    from producer.settings import LakeLocation

    lake_url = (tmp_path / "lake").as_uri()
    await _land(simulator, lake_url, resweep_hours=24)
    async with open_store(LakeLocation.parse(lake_url)) as store:
        totals_before = (await load_checkpoint(store)).totals
        default = await replay(store, newest_contract(relaxed), dry_run=True)
        assert default.windows
        assert all(w.skipped is not None and "re-export" in w.skipped for w in default.windows)
        asked = await replay(store, newest_contract(relaxed), include_recent=True)
        assert asked.moved > 0
        checkpoint = await load_checkpoint(store)
        for window in asked.windows:  # the ledger moves with the records
            assert checkpoint.recent[window.window.label].counts.dead_lettered == window.kept
        await _assert_consistent(store)
        replayed = [k for k in await store.list_keys(f"{_PREFIX}/v1/") if "-part-9" in k]
        assert replayed

        # The producer, still on contract 1.0, re-exports those windows: it rewrites them from
        # the source, the replay parts go as stale, the records are dead letters again.
        await _land(simulator, lake_url, resweep_hours=24, resweep_interval_seconds=0.001)
        assert not [k for k in await store.list_keys(f"{_PREFIX}/v1/") if "-part-9" in k]
        assert (await load_checkpoint(store)).totals == totals_before
        await _assert_consistent(store)


async def test_cli_replay_reads_the_contracts_folder_and_reports(
    simulator: RunningSimulator,
    lake_url: str,
    relaxed: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``mesh-producer dlq replay``: ``--dry-run`` writes nothing, then the run moves records."""
    await _land(simulator, lake_url)
    monkeypatch.setenv("MESH_LAKE_URL", lake_url)
    monkeypatch.setenv("MESH_CONTRACTS_DIR", str(relaxed))
    monkeypatch.setenv("MESH_TELEPHONY__RESWEEP_HOURS", "0")  # as the producer ran
    argv = ["dlq", "replay", "--domain", "telephony"]

    assert await asyncio.to_thread(cli.main, [*argv, "--dry-run"]) == 0
    dry = capsys.readouterr().out.splitlines()[-1]
    assert await asyncio.to_thread(cli.main, argv) == 0
    done = capsys.readouterr().out.splitlines()[-1]
    assert await asyncio.to_thread(cli.main, argv) == 0
    again = capsys.readouterr().out.splitlines()[-1]

    assert "against contract 1.1" in done
    moved = int(done.split(": moved ")[1].split()[0])
    assert moved > 0
    assert dry.replace("would move", "moved") == done
    assert ": moved 0 record(s)" in again
