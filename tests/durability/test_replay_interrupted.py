"""``dlq replay`` interrupted between its DLQ rewrite and its checkpoint update, for real.

The lake is landed by the daemon under contract 1.0 (which rejects ``email``) on moto S3 behind
``S3FaultProxy``; the replay runs with a 1.1 that accepts ``email`` while every checkpoint PUT
fails with 500 ``InternalError``. The replay has then written replay parts and rewritten the DLQ
of its first window, but its checkpoint update never landed: the lake and the checkpoint
disagree. The next replay, S3 healthy again, must account for those records (and only those),
so ``lake audit`` finds the product consistent and every record is in exactly one place.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from producer import daemon
from producer.audit import AuditReport, audit_product
from producer.checkpoint import Checkpoint, CheckpointStore
from producer.clock import SystemClock
from producer.contracts.registry import Contract, load_domain_contracts
from producer.domains import domain_spec
from producer.errors import StoreError
from producer.lake.encode import decode_part
from producer.lake.keys import checkpoint_key
from producer.lake.store import ObjectStore, open_store
from producer.replay import ReplayReport, replay_dead_letters
from producer.settings import LakeLocation, default_contracts_dir
from producer.simulator import RunningSimulator, SimulatorConfig
from producer.telemetry.metrics import Metrics
from producer.windows import align_down
from tests.durability.audit import PREFIX
from tests.durability.inprocess import daemon_settings
from tests.fixtures.s3_faults import S3FaultProxy

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=60)


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen clock and enough traffic that every window has ``email`` rejects."""
    return SimulatorConfig(
        clients={"telephony-client": "telephony-secret"},
        conversations_per_hour=800.0,
        rate_limit_per_minute=0,
        job_queued_seconds=0.01,
        job_pending_seconds=0.02,
        availability_lag_seconds=900.0,
        now=lambda: _NOW,
    )


def _relaxed(tmp_path: Path) -> Contract:
    """Telephony 1.1: 1.0 whose channel enum also accepts ``email``."""
    folder = tmp_path / "contracts" / "telephony"
    folder.mkdir(parents=True)
    original = default_contracts_dir() / "telephony" / "1.0.json"
    document = json.loads(original.read_text())
    (folder / "1.0.json").write_text(original.read_text())
    document["version"] = "1.1"
    document["schema"]["properties"]["channel_type"]["enum"].append("email")
    (folder / "1.1.json").write_text(json.dumps(document))
    return load_domain_contracts(folder.parent, "telephony")["telephony"][-1]


async def _replay(store: ObjectStore, contract: Contract) -> ReplayReport:
    return await replay_dead_letters(
        store,
        domain="telephony",
        prefix=PREFIX,
        contract=contract,
        map_record=domain_spec("telephony").map_record,
        compression="gzip",
        part_max_records=50_000,
        metrics=Metrics(CollectorRegistry()).for_domain("telephony"),
        clock=SystemClock(),
    )


async def _checkpoint(store: ObjectStore) -> Checkpoint:
    metrics = Metrics(CollectorRegistry()).for_domain("telephony")
    loaded, _ = await CheckpointStore(
        store, prefix=PREFIX, domain="telephony", metrics=metrics
    ).load()
    assert loaded is not None
    return loaded


async def _audit(store: ObjectStore) -> AuditReport:
    metrics = Metrics(CollectorRegistry()).for_domain("telephony")
    return await audit_product(store, domain="telephony", prefix=PREFIX, metrics=metrics)


async def _lines(store: ObjectStore, folder: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for key in await store.list_keys(f"{PREFIX}/{folder}/"):
        found = await store.get(key)
        assert found is not None
        lines.extend(orjson.loads(line) for line in decode_part(found.data, "gzip"))
    return lines


async def test_a_replay_cut_off_before_its_checkpoint_is_completed_by_the_next(
    simulator: RunningSimulator,
    s3_faults_env: S3FaultProxy,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore gives up on the 500s quickly
    proxy = s3_faults_env
    settings = daemon_settings(
        api_url=simulator.base_url, lake_url=f"s3://{bucket}", start=_START, resweep_hours=0
    )
    landed = await daemon.run(
        settings, once=True, registry=CollectorRegistry(), install_signal_handlers=False
    )
    assert landed.ok, landed.reports
    contract = _relaxed(tmp_path)

    async with open_store(LakeLocation.parse(f"s3://{bucket}")) as store:
        exported = await _checkpoint(store)
        proxy.fail_next(None, method="PUT", path_contains=checkpoint_key(PREFIX))
        with pytest.raises(StoreError):
            await _replay(store, contract)
        assert proxy.served("internal_error") >= 2, "the checkpoint PUT was tried and failed"
        # The cut-off run moved one window's records: data written, DLQ rewritten, but the
        # checkpoint still says what the export landed.
        moved_early = len(await _lines(store, "v1")) - exported.totals.landed
        assert moved_early > 0
        assert await _checkpoint(store) == exported
        cut_off = await _audit(store)
        assert [d.problem for d in cut_off.discrepancies if "interrupted replay" in d.problem]

        proxy.clear()
        second = await _replay(store, contract)

        checkpoint = await _checkpoint(store)
        total_moved = checkpoint.totals.landed - exported.totals.landed
        assert sum(w.accounted for w in second.windows) == total_moved
        assert total_moved == second.moved + moved_early, "the cut-off window is accounted once"
        data = await _lines(store, "v1")
        dead = await _lines(store, "failed-records")
        assert len(data) == checkpoint.totals.landed
        assert len(dead) == checkpoint.totals.dead_lettered
        landed_ids = [line["data"]["interaction_id"] for line in data]
        dead_ids = {line["source"]["conversationId"] for line in dead}
        assert len(landed_ids) == len(set(landed_ids)), "a record landed twice"
        assert not set(landed_ids) & dead_ids, "a record is both landed and dead-lettered"
        report = await _audit(store)
        assert report.consistent, [str(d) for d in report.discrepancies]

        # And a third run has nothing left to move or account for.
        third = await _replay(store, contract)
        assert (third.moved, sum(w.accounted for w in third.windows)) == (0, 0)
        assert await _checkpoint(store) == checkpoint
