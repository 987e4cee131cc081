"""A replayed window exported again: the export takes over its records and the replay ledger.

The lake is landed by the daemon under contract 1.0 (which rejects ``email``) with a re-sweep
horizon, so its windows stay in the re-export ledger; ``dlq replay --include-recent`` with a 1.1
that accepts ``email`` moves those records into replay parts and records them in the
checkpoint's replay ledger. Then the producer runs with 1.1 and re-exports the windows: the
records land in the export's own parts, the replay parts are deleted as stale, and the
checkpoint's replay ledger forgets those windows, so a later replay has nothing to account for.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer.errors import AccountingError
from producer.lake.inventory import REPLAY_FIRST_PART
from producer.lake.keys import parse_part_key
from producer.lake.store import ObjectStore
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.fixtures.lake import lake_lines, lake_objects
from tests.fixtures.product import (
    PREFIX,
    audit,
    email_contracts,
    load_checkpoint,
    newest_contract,
    replay,
)
from tests.fixtures.runs import run_once, telephony_domain, telephony_settings
from tests.fixtures.simulator import telephony_config

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=45)


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen simulator clock and enough traffic that emails are among the rejects."""
    return telephony_config(lambda: _NOW, conversations_per_hour=600.0)


async def _export(simulator: RunningSimulator, lake_url: str, contracts: Path) -> None:
    """Every available window with the newest contract of ``contracts``; windows an earlier run
    landed are due for their re-sweep at once (a 1 ms interval), so each is exported again."""
    await run_once(
        telephony_settings(
            simulator.base_url,
            lake_url,
            contracts_dir=contracts,
            start_at=_START,
            telephony=telephony_domain(resweep_hours=24, resweep_interval_seconds=0.001),
        )
    )


async def test_a_reexport_of_replayed_windows_takes_over_their_records(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, tmp_path: Path
) -> None:
    relaxed = email_contracts(tmp_path / "relaxed")
    strict = tmp_path / "strict"
    shutil.copytree(relaxed, strict)
    (strict / "telephony" / "1.1.json").unlink()
    await _export(simulator, lake_url, strict)
    replayed = await replay(store, newest_contract(relaxed), include_recent=True)
    assert replayed.moved > 0
    after_replay = await load_checkpoint(store)
    assert sum(after_replay.replayed.values()) == replayed.moved

    await _export(simulator, lake_url, relaxed)

    checkpoint = await load_checkpoint(store)
    assert checkpoint.replayed == {}, "re-exported windows hold no replay parts any more"
    assert checkpoint.totals == after_replay.totals, "the same records, now landed by the export"
    objects = await lake_objects(store, PREFIX)
    assert not [k for k in objects if "/v1/" in k and parse_part_key(k).part >= REPLAY_FIRST_PART]
    ids = [line["data"]["interaction_id"] for line in lake_lines(objects, "/v1/")]
    assert len(ids) == len(set(ids)) == checkpoint.totals.landed
    report = await audit(store)
    assert report.consistent, [str(d) for d in report.discrepancies]

    again = await replay(store, newest_contract(relaxed), include_recent=True)
    assert (again.moved, sum(w.accounted for w in again.windows)) == (0, 0)
    assert await load_checkpoint(store) == checkpoint


async def test_replay_parts_removed_by_hand_stop_the_replay_and_the_audit_names_them(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, tmp_path: Path
) -> None:
    """The checkpoint includes records the lake no longer holds: never "fixed" by a replay."""
    relaxed = email_contracts(tmp_path / "relaxed")
    strict = tmp_path / "strict"
    shutil.copytree(relaxed, strict)
    (strict / "telephony" / "1.1.json").unlink()
    await _export(simulator, lake_url, strict)
    await replay(store, newest_contract(relaxed), include_recent=True)
    replay_parts = [
        key
        for key in await store.list_keys(f"{PREFIX}/v1/")
        if parse_part_key(key).part >= REPLAY_FIRST_PART
    ]
    assert replay_parts
    await store.delete(replay_parts[0])
    before = await load_checkpoint(store)

    with pytest.raises(AccountingError, match="replayed records"):
        await replay(store, newest_contract(relaxed), include_recent=True)

    assert await load_checkpoint(store) == before
    report = await audit(store)
    window = parse_part_key(replay_parts[0]).window.label
    assert any(d.where == window and "replay" in d.problem for d in report.discrepancies)
