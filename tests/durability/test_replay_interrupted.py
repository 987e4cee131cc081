"""``dlq replay`` interrupted between its DLQ rewrite and its checkpoint update, for real.

The lake is landed by the daemon under contract 1.0 (which rejects ``email``) on moto S3 behind
``S3FaultProxy``; the replay runs with a 1.1 that accepts ``email`` while every checkpoint PUT
fails with 500 ``InternalError``. The replay has then written replay parts and rewritten the DLQ
of its first window, but its checkpoint update never landed: the lake and the checkpoint
disagree. The next replay, S3 healthy again, must account for those records (and only those),
so ``lake audit`` finds the product consistent and every record is in exactly one place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer.errors import StoreError
from producer.lake.keys import checkpoint_key
from producer.lake.store import ObjectStore, open_store
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.settings import LakeLocation
from producer.windows import align_down
from tests.durability.inprocess import daemon_settings
from tests.fixtures.lake import lake_lines, lake_objects
from tests.fixtures.product import (
    PREFIX,
    audit,
    email_contracts,
    load_checkpoint,
    newest_contract,
    replay,
)
from tests.fixtures.runs import run_once
from tests.fixtures.s3_faults import S3FaultProxy
from tests.fixtures.simulator import telephony_config

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=60)


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen clock and enough traffic that every window has ``email`` rejects."""
    return telephony_config(lambda: _NOW, conversations_per_hour=800.0, rate_limit_per_minute=0)


async def _data_lines(store: ObjectStore) -> int:
    return len(lake_lines(await lake_objects(store, PREFIX), "/v1/"))


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
    await run_once(settings)
    contract = newest_contract(email_contracts(tmp_path / "contracts"))

    async with open_store(LakeLocation.parse(f"s3://{bucket}")) as store:
        exported = await load_checkpoint(store)
        proxy.fail_next(None, method="PUT", path_contains=checkpoint_key(PREFIX))
        with pytest.raises(StoreError):
            await replay(store, contract, resweep_hours=0)
        assert proxy.served("internal_error") >= 2, "the checkpoint PUT was tried and failed"
        # The cut-off run moved one window's records: data written, DLQ rewritten, but the
        # checkpoint still says what the export landed.
        moved_early = await _data_lines(store) - exported.totals.landed
        assert moved_early > 0
        assert await load_checkpoint(store) == exported
        cut_off = await audit(store)
        assert [d.problem for d in cut_off.discrepancies if "interrupted replay" in d.problem]

        proxy.clear()
        second = await replay(store, contract, resweep_hours=0)

        checkpoint = await load_checkpoint(store)
        total_moved = checkpoint.totals.landed - exported.totals.landed
        assert sum(w.accounted for w in second.windows) == total_moved
        assert total_moved == second.moved + moved_early, "the cut-off window is accounted once"
        objects = await lake_objects(store, PREFIX)
        data = lake_lines(objects, "/v1/")
        dead = lake_lines(objects, "/failed-records/")
        assert len(data) == checkpoint.totals.landed
        assert len(dead) == checkpoint.totals.dead_lettered
        landed_ids = [line["data"]["interaction_id"] for line in data]
        dead_ids = {line["source"]["conversationId"] for line in dead}
        assert len(landed_ids) == len(set(landed_ids)), "a record landed twice"
        assert not set(landed_ids) & dead_ids, "a record is both landed and dead-lettered"
        report = await audit(store)
        assert report.consistent, [str(d) for d in report.discrepancies]

        # And a third run has nothing left to move or account for.
        third = await replay(store, contract, resweep_hours=0)
        assert (third.moved, sum(w.accounted for w in third.windows)) == (0, 0)
        assert await load_checkpoint(store) == checkpoint
