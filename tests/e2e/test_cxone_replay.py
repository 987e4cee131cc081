"""``dlq replay`` of CXone dead letters after a contract fix, as an operator runs it.

``run --once`` (a subprocess) lands an hour and a half of Telephony from the CXone simulator
under contract 1.0, which dead-letters every contact of the ``email`` channel. The fix is a
contract 1.1 whose ``channel_type`` also accepts ``email``; ``mesh-producer dlq replay`` with
``MESH_TELEPHONY__PLATFORM=nice`` re-maps the dead letters' CXone source rows with the CXone
mapper and moves exactly those now valid. Afterwards every contact of the landed windows is in
the lake exactly once (data or DLQ), the emails among the data, nothing else moved, a second
replay moves nothing, and ``lake audit`` finds the product consistent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from producer.platforms.nice import ids
from producer.platforms.nice.simulator import NiceSimulatorConfig, RunningNiceSimulator, data
from producer.platforms.nice.simulator import serve as serve_nice
from producer.windows import align_down
from tests.fixtures.lake import assert_each_once, lake_lines
from tests.fixtures.process import cxone_domain_env, process_env, run_cli, run_once_process
from tests.fixtures.product import email_contracts

pytestmark = pytest.mark.e2e

_KEY, _SECRET = "telephony-access-key", "telephony-access-key-secret-0123"
_PREFIX = "telephony-cdr-export"
_LAG_S = data.MAX_DURATION_S + 300  # a contact is reported at most this long after its end


@pytest.fixture
async def cxone() -> AsyncIterator[RunningNiceSimulator]:
    config = NiceSimulatorConfig(access_keys={_KEY: _SECRET}, contacts_per_hour=240.0)
    async with serve_nice(config) as running:
        yield running


def _contacts(running: RunningNiceSimulator, start: datetime, end: datetime) -> set[str]:
    """Ground truth: the ids (``interaction_id``) of the contacts that started in the range."""
    config = running.sim.config
    found = set()
    for index in data.indexes_between(config.epoch, config.contacts_per_hour, start, end):
        item = data.contact(config.epoch, config.contacts_per_hour, config.seed, index)
        if start <= item.start < end:
            found.add(ids.contact_uuid(int(item.body["contactId"])))
    return found


def _read(lake: Path) -> dict[str, bytes]:
    return {
        path.relative_to(lake).as_posix(): path.read_bytes()
        for path in (lake / _PREFIX).rglob("*.ndjson.gz")
    }


def _split(objects: Mapping[str, bytes]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The data records and the dead letters."""
    records = [line["data"] for line in lake_lines(objects, "/v1/")]
    return records, lake_lines(objects, "/failed-records/")


def _dead_id(line: dict[str, Any]) -> str:
    return ids.contact_uuid(int(line["source"]["contactId"]))


def _email_only(line: dict[str, Any]) -> bool:
    """A dead letter whose only fault was the ``email`` channel that 1.0 does not accept."""
    errors = [(e["path"], e["rule"]) for e in line["errors"]]
    return errors == [("$.channel_type", "enum")] and line["record"]["channel_type"] == "email"


async def test_replay_moves_the_now_valid_cxone_dead_letters_once(
    cxone: RunningNiceSimulator, tmp_path: Path
) -> None:
    end = align_down(datetime.now(UTC) - timedelta(seconds=_LAG_S), 900)
    start = end - timedelta(minutes=90)
    lake = tmp_path / "lake"
    env = process_env(
        api_url=cxone.auth_url,  # the Genesys variables are not read on CXone
        lake_url=lake.as_uri(),
        start=start,
        MESH_DOMAINS="telephony",
        MESH_TELEPHONY__NICE_COMPLETION_LAG_SECONDS=str(_LAG_S),
        MESH_TELEPHONY__RESWEEP_HOURS="0",  # the landed windows are final: replay takes them
    ) | cxone_domain_env("telephony", cxone.auth_url, _KEY, _SECRET)
    code, output = await run_once_process(env, timeout_s=120)
    assert code == 0, output
    checkpoint = orjson.loads((lake / _PREFIX / "_state" / "checkpoint.json").read_bytes())
    landed_until = datetime.fromisoformat(checkpoint["watermark"])
    assert landed_until >= end
    truth = _contacts(cxone, start, landed_until)

    records, dead = _split(_read(lake))
    emails = {_dead_id(line) for line in dead if _email_only(line)}
    assert emails, "no email contact was dead-lettered: the fix has nothing to move"
    assert_each_once([r["interaction_id"] for r in records], [_dead_id(d) for d in dead], truth)

    fixed = env | {"MESH_CONTRACTS_DIR": str(email_contracts(tmp_path / "contracts"))}
    code, done = await run_cli(fixed, "dlq", "replay", "--domain", "telephony")
    assert code == 0, done
    assert f": moved {len(emails)} record(s)" in done, done
    assert "against contract 1.1" in done, done

    records, dead = _split(_read(lake))
    landed = [r["interaction_id"] for r in records]
    assert_each_once(landed, [_dead_id(line) for line in dead], truth, context="after replay")
    assert emails <= set(landed)
    assert not any(_email_only(line) for line in dead)

    code, again = await run_cli(fixed, "dlq", "replay", "--domain", "telephony")
    assert code == 0, again
    assert ": moved 0 record(s)" in again, again
    code, report = await run_cli(fixed, "lake", "audit", "--domain", "telephony")
    assert code == 0, report
    assert report.strip().endswith(": consistent"), report
