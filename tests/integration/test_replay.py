"""``dlq replay`` after a contract fix: exactly the now-valid records move, once, idempotently.

The lake is landed by ``daemon.run(once=True)`` against the simulator under contract 1.0 (which
rejects ``email``), on both stores; the fix is a contract 1.1 in a temporary contracts folder
whose ``channel_type`` enum also accepts ``email``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer import cli, daemon
from producer.audit import audit_product
from producer.checkpoint import Checkpoint, CheckpointStore
from producer.clock import SystemClock
from producer.contracts.registry import Contract, load_domain_contracts
from producer.domains import domain_spec
from producer.lake.encode import decode_part
from producer.lake.store import ObjectStore
from producer.replay import ReplayReport, replay_dead_letters
from producer.settings import Settings, TelephonySettings, default_contracts_dir
from producer.simulator import RunningSimulator, SimulatorConfig
from producer.telemetry.metrics import Metrics
from producer.windows import align_down

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=45)
_PREFIX = "telephony-cdr-export"
_EMAIL_ONLY = [("$.channel_type", "enum")]


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """The CLI configures structlog for the process (stderr); undo it after each test."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen simulator clock and enough traffic that emails are always among the rejects."""
    return SimulatorConfig(
        clients={"telephony-client": "telephony-secret"},
        conversations_per_hour=600.0,
        job_queued_seconds=0.01,
        job_pending_seconds=0.02,
        availability_lag_seconds=900.0,
        now=lambda: _NOW,
    )


@pytest.fixture
def relaxed(tmp_path: Path) -> Path:
    """A contracts folder with telephony 1.0 and 1.1, whose channel enum adds ``email``."""
    folder = tmp_path / "contracts" / "telephony"
    folder.mkdir(parents=True)
    original = default_contracts_dir() / "telephony" / "1.0.json"
    document = json.loads(original.read_text())
    (folder / "1.0.json").write_text(original.read_text())
    document["version"] = "1.1"
    document["schema"]["title"] = "telephony 1.1"
    document["schema"]["properties"]["channel_type"]["enum"].append("email")
    (folder / "1.1.json").write_text(json.dumps(document))
    return folder.parent


def _contract(directory: Path) -> Contract:
    return load_domain_contracts(directory, "telephony")["telephony"][-1]


async def _land(simulator: RunningSimulator, lake_url: str, **telephony: Any) -> None:
    settings = Settings(
        domains=("telephony",),
        genesys_api_url=simulator.base_url,
        genesys_login_url=simulator.base_url,
        lake_url=lake_url,
        start_at=_START,
        http_port=0,
        http_host="127.0.0.1",
        request_retry_seconds=10,
        telephony=TelephonySettings(
            client_id="telephony-client",
            client_secret=SecretStr("telephony-secret"),
            job_poll_seconds=0.01,
            page_size=200,
            rate_limit_per_minute=6000,
            **{"resweep_hours": 0, **telephony},
        ),
    )
    result = await daemon.run(
        settings, once=True, registry=CollectorRegistry(), install_signal_handlers=False
    )
    assert result.ok, result.reports


async def _replay(store: ObjectStore, contract: Contract, **options: Any) -> ReplayReport:
    return await replay_dead_letters(
        store,
        domain="telephony",
        prefix=_PREFIX,
        contract=contract,
        map_record=domain_spec("telephony").map_record,
        compression="gzip",
        part_max_records=50_000,
        metrics=Metrics(CollectorRegistry()).for_domain("telephony"),
        clock=SystemClock(),
        **options,
    )


async def _objects(store: ObjectStore) -> dict[str, bytes]:
    """Every object of the product, as bytes (checkpoint included)."""
    objects = {}
    for key in await store.list_keys(f"{_PREFIX}/"):
        found = await store.get(key)
        assert found is not None
        objects[key] = found.data
    return objects


def _lines(objects: dict[str, bytes], folder: str) -> Iterator[dict[str, Any]]:
    for key, data in sorted(objects.items()):
        if f"/{folder}/" in key:
            for line in decode_part(data, "gzip"):
                yield orjson.loads(line)


async def _checkpoint(store: ObjectStore) -> Checkpoint:
    metrics = Metrics(CollectorRegistry()).for_domain("telephony")
    loaded, _ = await CheckpointStore(
        store, prefix=_PREFIX, domain="telephony", metrics=metrics
    ).load()
    assert loaded is not None
    return loaded


def _email_only(line: dict[str, Any]) -> bool:
    """A dead letter whose only fault was the ``email`` channel 1.0 does not accept."""
    errors = [(e["path"], e["rule"]) for e in line["errors"]]
    return errors == _EMAIL_ONLY and line["record"]["channel_type"] == "email"


async def _assert_consistent(store: ObjectStore) -> None:
    metrics = Metrics(CollectorRegistry()).for_domain("telephony")
    report = await audit_product(store, domain="telephony", prefix=_PREFIX, metrics=metrics)
    assert report.consistent, [str(d) for d in report.discrepancies]


async def test_replay_moves_exactly_the_now_valid_records_once(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, relaxed: Path
) -> None:
    """After 1.1 accepts email: exactly the email-only dead letters land in their windows, the
    other dead letters stay byte for byte, the checkpoint moves their counts; a second replay
    changes no object at all."""
    await _land(simulator, lake_url)
    before = await _objects(store)
    dead_before = list(_lines(before, "failed-records"))
    expected = {line["source"]["conversationId"] for line in dead_before if _email_only(line)}
    assert expected, "the simulator's mix must reject some email-only conversations"
    assert len(expected) < len(dead_before), "and others for other reasons"
    totals_before = (await _checkpoint(store)).totals

    report = await _replay(store, _contract(relaxed))

    assert report.moved == len(expected)
    assert report.kept == len(dead_before) - len(expected)
    after = await _objects(store)
    replayed = [k for k in after if "/v1/" in k and k not in before]
    assert replayed, "replay parts are new objects"
    assert all("-part-9" in k for k in replayed)
    landed_now = {
        line["data"]["interaction_id"]: line["x-schema-version"]
        for key in replayed
        for line in _lines({key: after[key]}, "v1")
    }
    assert set(landed_now) == expected
    assert set(landed_now.values()) == {"1.1"}
    for key, data in before.items():  # the export's data parts are untouched
        if "/v1/" in key:
            assert after[key] == data
    dead_after = list(_lines(after, "failed-records"))
    assert dead_after == [line for line in dead_before if not _email_only(line)]
    landed_ids = [line["data"]["interaction_id"] for line in _lines(after, "v1")]
    dead_ids = [line["source"]["conversationId"] for line in dead_after]
    assert len(landed_ids) + len(dead_ids) == len(set(landed_ids) | set(dead_ids))
    totals = (await _checkpoint(store)).totals
    assert totals.fetched == totals_before.fetched
    assert totals.landed == totals_before.landed + len(expected)
    assert totals.dead_lettered == totals_before.dead_lettered - len(expected)
    await _assert_consistent(store)

    again = await _replay(store, _contract(relaxed))

    assert again.moved == 0
    assert await _objects(store) == after, "a second replay changed the lake"


async def test_replay_after_a_crash_before_the_dlq_rewrite_lands_nothing_twice(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, relaxed: Path
) -> None:
    """Replay parts written, DLQ and checkpoint not (the crash window): the next run only takes
    the duplicates out of the DLQ and accounts for them, so each record is in one place."""
    await _land(simulator, lake_url)
    before = await _objects(store)
    first = await _replay(store, _contract(relaxed))
    assert first.moved > 0
    # Put back what the interrupted run would not have written yet: DLQ parts and checkpoint.
    for key, data in before.items():
        if "/v1/" not in key:
            await store.put(key, data)

    second = await _replay(store, _contract(relaxed))

    assert sum(w.already_landed for w in second.windows) == first.moved
    assert sum(w.moved for w in second.windows) == 0
    after = await _objects(store)
    landed_ids = [line["data"]["interaction_id"] for line in _lines(after, "v1")]
    dead_ids = [line["source"]["conversationId"] for line in _lines(after, "failed-records")]
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
        totals_before = (await _checkpoint(store)).totals
        default = await _replay(store, _contract(relaxed), dry_run=True)
        assert default.windows
        assert all(w.skipped is not None and "re-export" in w.skipped for w in default.windows)
        asked = await _replay(store, _contract(relaxed), include_recent=True)
        assert asked.moved > 0
        checkpoint = await _checkpoint(store)
        for window in asked.windows:  # the ledger moves with the records
            assert checkpoint.recent[window.window.label].counts.dead_lettered == window.kept
        await _assert_consistent(store)
        replayed = [k for k in await store.list_keys(f"{_PREFIX}/v1/") if "-part-9" in k]
        assert replayed

        # The producer, still on contract 1.0, re-exports those windows: it rewrites them from
        # the source, the replay parts go as stale, the records are dead letters again.
        await _land(simulator, lake_url, resweep_hours=24)
        assert not [k for k in await store.list_keys(f"{_PREFIX}/v1/") if "-part-9" in k]
        assert (await _checkpoint(store)).totals == totals_before
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
