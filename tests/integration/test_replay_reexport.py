"""A replayed window exported again: the export takes over its records and the replay ledger.

The lake is landed by the daemon under contract 1.0 (which rejects ``email``) with a re-sweep
horizon, so its windows stay in the re-export ledger; ``dlq replay --include-recent`` with a 1.1
that accepts ``email`` moves those records into replay parts and records them in the
checkpoint's replay ledger. Then the producer runs with 1.1 and re-exports the windows: the
records land in the export's own parts, the replay parts are deleted as stale, and the
checkpoint's replay ledger forgets those windows, so a later replay has nothing to account for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer import daemon
from producer.audit import audit_product
from producer.checkpoint import Checkpoint, CheckpointStore
from producer.clock import SystemClock
from producer.contracts.registry import load_domain_contracts
from producer.domains import domain_spec
from producer.lake.encode import decode_part
from producer.lake.inventory import REPLAY_FIRST_PART
from producer.lake.keys import parse_part_key
from producer.lake.store import ObjectStore
from producer.replay import ReplayReport, replay_dead_letters
from producer.settings import Settings, TelephonySettings, default_contracts_dir
from producer.simulator import RunningSimulator, SimulatorConfig
from producer.telemetry.metrics import Metrics
from producer.windows import align_down

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=45)
_PREFIX = "telephony-cdr-export"


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen simulator clock and enough traffic that emails are among the rejects."""
    return SimulatorConfig(
        clients={"telephony-client": "telephony-secret"},
        conversations_per_hour=600.0,
        job_queued_seconds=0.01,
        job_pending_seconds=0.02,
        availability_lag_seconds=900.0,
        now=lambda: _NOW,
    )


def _contracts(tmp_path: Path, *, relaxed: bool) -> Path:
    """A contracts folder with telephony 1.0 and, if ``relaxed``, a 1.1 accepting ``email``."""
    folder = tmp_path / ("relaxed" if relaxed else "strict") / "telephony"
    folder.mkdir(parents=True)
    original = default_contracts_dir() / "telephony" / "1.0.json"
    (folder / "1.0.json").write_text(original.read_text())
    if relaxed:
        document = json.loads(original.read_text())
        document["version"] = "1.1"
        document["schema"]["properties"]["channel_type"]["enum"].append("email")
        (folder / "1.1.json").write_text(json.dumps(document))
    return folder.parent


async def _export(simulator: RunningSimulator, lake_url: str, contracts: Path) -> None:
    settings = Settings(
        domains=("telephony",),
        genesys_api_url=simulator.base_url,
        genesys_login_url=simulator.base_url,
        lake_url=lake_url,
        contracts_dir=contracts,
        start_at=_START,
        http_port=0,
        http_host="127.0.0.1",
        telephony=TelephonySettings(
            client_id="telephony-client",
            client_secret=SecretStr("telephony-secret"),
            job_poll_seconds=0.01,
            rate_limit_per_minute=6000,
            resweep_hours=24,
        ),
    )
    result = await daemon.run(
        settings, once=True, registry=CollectorRegistry(), install_signal_handlers=False
    )
    assert result.ok, result.reports


async def _replay(store: ObjectStore, contracts: Path) -> ReplayReport:
    return await replay_dead_letters(
        store,
        domain="telephony",
        prefix=_PREFIX,
        contract=load_domain_contracts(contracts, "telephony")["telephony"][-1],
        map_record=domain_spec("telephony").map_record,
        compression="gzip",
        part_max_records=50_000,
        metrics=Metrics(CollectorRegistry()).for_domain("telephony"),
        clock=SystemClock(),
        include_recent=True,
    )


async def _checkpoint(store: ObjectStore) -> Checkpoint:
    metrics = Metrics(CollectorRegistry()).for_domain("telephony")
    loaded, _ = await CheckpointStore(
        store, prefix=_PREFIX, domain="telephony", metrics=metrics
    ).load()
    assert loaded is not None
    return loaded


async def _data(store: ObjectStore) -> dict[str, list[dict[str, Any]]]:
    """The data lines of each part key."""
    found: dict[str, list[dict[str, Any]]] = {}
    for key in await store.list_keys(f"{_PREFIX}/v1/"):
        stored = await store.get(key)
        assert stored is not None
        found[key] = [orjson.loads(line) for line in decode_part(stored.data, "gzip")]
    return found


async def test_a_reexport_of_replayed_windows_takes_over_their_records(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, tmp_path: Path
) -> None:
    await _export(simulator, lake_url, _contracts(tmp_path, relaxed=False))
    relaxed = _contracts(tmp_path, relaxed=True)
    replayed = await _replay(store, relaxed)
    assert replayed.moved > 0
    after_replay = await _checkpoint(store)
    assert sum(after_replay.replayed.values()) == replayed.moved

    await _export(simulator, lake_url, relaxed)

    checkpoint = await _checkpoint(store)
    assert checkpoint.replayed == {}, "re-exported windows hold no replay parts any more"
    assert checkpoint.totals == after_replay.totals, "the same records, now landed by the export"
    data = await _data(store)
    assert not [k for k in data if parse_part_key(k).part >= REPLAY_FIRST_PART]
    ids = [line["data"]["interaction_id"] for lines in data.values() for line in lines]
    assert len(ids) == len(set(ids)) == checkpoint.totals.landed
    report = await audit_product(
        store,
        domain="telephony",
        prefix=_PREFIX,
        metrics=Metrics(CollectorRegistry()).for_domain("telephony"),
    )
    assert report.consistent, [str(d) for d in report.discrepancies]

    again = await _replay(store, relaxed)
    assert (again.moved, sum(w.accounted for w in again.windows)) == (0, 0)
    assert await _checkpoint(store) == checkpoint
