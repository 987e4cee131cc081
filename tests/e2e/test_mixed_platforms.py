"""Two platforms, one lake: Telephony moves from Genesys Cloud to NICE CXone, Quality stays.

A deployment mid-migration, as ``run --once`` processes against both simulators and one
``file://`` lake: first Telephony and Quality from Genesys, then Telephony from CXone
(``MESH_TELEPHONY__PLATFORM=nice``) while Quality goes on from Genesys. The Telephony product
continues from its checkpoint: every contact of each platform's windows is in the lake exactly
once (data or DLQ), both platforms' records sit in the same ``v1`` table under the same contract
version, Quality lands beside them exactly once, and ``lake audit`` finds both products
consistent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from producer.contracts.registry import load_domain_contracts, select_contract
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.platforms.nice import ids
from producer.platforms.nice.simulator import (
    NiceSimulatorConfig,
    RunningNiceSimulator,
    data,
)
from producer.platforms.nice.simulator import serve as serve_nice
from producer.settings import default_contracts_dir
from producer.windows import align_down
from tests.fixtures.lake import assert_each_once, lake_lines
from tests.fixtures.process import cxone_domain_env, process_env, run_cli, run_once_process
from tests.fixtures.simulator import conversation_ids

pytestmark = pytest.mark.e2e

# The Genesys tenant's clock is frozen two hours back; CXone runs on the real clock. Telephony's
# Genesys windows therefore end well before the CXone ones can start being available.
_NOW = align_down(datetime.now(UTC), 900) - timedelta(hours=2) + timedelta(minutes=7)
_START = _NOW - timedelta(hours=1, minutes=7)
_TELEPHONY, _QUALITY = "telephony-cdr-export", "qms-scores-export"
_KEY, _KEY_SECRET = "telephony-access-key", "telephony-access-key-secret-0123"


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """Genesys: Telephony's and Quality's OAuth clients, a frozen clock, rejections to find."""
    return SimulatorConfig(
        clients={"telephony-client": "telephony-secret", "quality-client": "quality-secret"},
        conversations_per_hour=300.0,
        evaluations_per_hour=200.0,
        rate_limit_per_minute=3000,
        availability_lag_seconds=900.0,
        evaluation_index_lag_seconds=0.0,
        now=lambda: _NOW,
    )


@pytest.fixture
async def cxone() -> AsyncIterator[RunningNiceSimulator]:
    """The CXone tenant of Telephony's new access key (real clock, contacts since its epoch)."""
    async with serve_nice(NiceSimulatorConfig(access_keys={_KEY: _KEY_SECRET})) as running:
        yield running


def _env(simulator: RunningSimulator, lake: Path, **variables: str) -> dict[str, str]:
    return process_env(
        api_url=simulator.base_url,
        lake_url=lake.as_uri(),
        start=_START,
        MESH_DOMAINS="telephony,quality",
        MESH_REQUEST_RETRY_SECONDS="30",
        MESH_TELEPHONY__CLIENT_ID="telephony-client",
        MESH_TELEPHONY__CLIENT_SECRET="telephony-secret",
        MESH_TELEPHONY__JOB_POLL_SECONDS="0.05",
        MESH_TELEPHONY__RATE_LIMIT_PER_MINUTE="2400",
        # A re-sweep of every landed window on every run: after the switch, the windows landed
        # from Genesys must not be re-read from CXone (which would replace their records).
        MESH_TELEPHONY__RESWEEP_HOURS="24",
        MESH_TELEPHONY__RESWEEP_INTERVAL_SECONDS="0.001",
        MESH_QUALITY__CLIENT_ID="quality-client",
        MESH_QUALITY__CLIENT_SECRET="quality-secret",
        MESH_QUALITY__RATE_LIMIT_PER_MINUTE="2400",
        MESH_QUALITY__SETTLE_SECONDS="0",
        **variables,
    )


def _on_cxone(env: dict[str, str], cxone: RunningNiceSimulator) -> dict[str, str]:
    """Telephony switched to CXone: its own access key; the Genesys client is not needed."""
    moved = {k: v for k, v in env.items() if k != "MESH_TELEPHONY__CLIENT_SECRET"}
    return (
        moved
        | cxone_domain_env("telephony", cxone.auth_url, _KEY, _KEY_SECRET)
        | {
            "MESH_TELEPHONY__NICE_COMPLETION_LAG_SECONDS": "1800",
            "MESH_TELEPHONY__PAGE_SIZE": "25",
        }
    )


def _read(lake: Path) -> dict[str, bytes]:
    return {
        path.relative_to(lake).as_posix(): path.read_bytes()
        for path in lake.rglob("*")
        if path.is_file()
    }


def _lines(objects: Mapping[str, bytes], prefix: str, *, dlq: bool) -> list[dict[str, Any]]:
    return lake_lines(
        objects, lambda key: key.startswith(f"{prefix}/") and ("/failed-records/" in key) == dlq
    )


def _watermark(objects: Mapping[str, bytes], prefix: str) -> datetime:
    checkpoint = orjson.loads(objects[f"{prefix}/_state/checkpoint.json"])
    return datetime.fromisoformat(checkpoint["watermark"])


def _cxone_contacts(running: RunningNiceSimulator, start: datetime, end: datetime) -> set[str]:
    """Ground truth on CXone: the contact ids that started in ``[start, end)``."""
    config = running.sim.config
    return {
        str(item.body["contactId"])
        for index in data.indexes_between(config.epoch, config.contacts_per_hour, start, end)
        if start
        <= (item := data.contact(config.epoch, config.contacts_per_hour, config.seed, index)).start
        < end
    }


CONSUMER_QUERY = """
SELECT data.channel_type AS channel, count(*) AS calls, sum(data.duration_seconds) AS seconds
FROM read_ndjson_auto('LAKE/telephony-cdr-export/v1/*/*/*.ndjson.gz', union_by_name = true)
GROUP BY 1 ORDER BY 1
"""
"""docs/nice.md's consumer query: Telephony from either platform, no platform in sight."""
_IDS_QUERY = (
    "SELECT data.interaction_id "
    "FROM read_ndjson_auto('LAKE/telephony-cdr-export/v1/*/*/*.ndjson.gz', union_by_name = true)"
)


def _sql(query: str) -> list[tuple[Any, ...]]:
    relation = duckdb.sql(query)
    assert relation is not None
    return relation.fetchall()


def _in(start: datetime, end: datetime, value: str) -> bool:
    return start <= datetime.fromisoformat(value) < end


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _version(domain: str) -> str:
    contracts = load_domain_contracts(default_contracts_dir(), domain)
    return select_contract(contracts, domain, None).version


async def test_telephony_from_cxone_beside_quality_from_genesys(
    simulator: RunningSimulator, cxone: RunningNiceSimulator, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    env = _env(simulator, lake)
    code, output = await run_once_process(env, timeout_s=150)
    assert code == 0, output
    switched = _watermark(_read(lake), _TELEPHONY)
    assert switched > _START

    env = _on_cxone(env, cxone)
    code, output = await run_once_process(env, timeout_s=240)
    assert code == 0, output
    assert _KEY_SECRET not in output
    objects = _read(lake)
    end = _watermark(objects, _TELEPHONY)
    assert end > switched, "no CXone window was landed"

    data_lines = _lines(objects, _TELEPHONY, dlq=False)
    dead_lines = _lines(objects, _TELEPHONY, dlq=True)
    # Each record named by its platform and source id: a Genesys conversation id, or the CXone
    # contact number whose uuid5 is the record's interaction_id (docs/nice.md).
    truth = {f"genesys:{c}" for c in conversation_ids(simulator.sim, _START, switched)}
    contacts = _cxone_contacts(cxone, switched, end)
    truth |= {f"cxone:{n}" for n in contacts}
    by_uuid = {ids.contact_uuid(int(n)): n for n in contacts}

    def landed(record: dict[str, Any]) -> str:
        found = by_uuid.get(record["interaction_id"])
        return f"cxone:{found}" if found else f"genesys:{record['interaction_id']}"

    def dead(source: dict[str, Any]) -> str:
        if "contactId" in source:
            return f"cxone:{source['contactId']}"
        return f"genesys:{source['conversationId']}"

    landed_keys = [landed(line["data"]) for line in data_lines]
    dead_keys = [dead(line["source"]) for line in dead_lines]
    assert_each_once(landed_keys, dead_keys, truth, context="telephony")
    for platform in ("genesys", "cxone"):
        assert any(k.startswith(platform) for k in landed_keys), f"no {platform} record landed"
        assert any(k.startswith(platform) for k in dead_keys), f"no {platform} record rejected"
    assert all(line["errors"] for line in dead_lines)
    # One table, one contract version, whichever platform a call was handled in.
    versions = {line["x-schema-version"] for line in data_lines}
    assert versions == {_version("telephony")}
    assert {line["x-schema-version"] for line in dead_lines} == versions

    quality_end = _watermark(objects, _QUALITY)
    evaluations = {
        e["id"]
        for e in simulator.sim.evaluations(_START, quality_end)
        if _in(_START, quality_end, e["changedDate"])
    }
    quality_lines = _lines(objects, _QUALITY, dlq=False)
    quality_dead = [line["source"]["id"] for line in _lines(objects, _QUALITY, dlq=True)]
    quality_landed = [line["data"]["evaluation_id"] for line in quality_lines]
    assert_each_once(quality_landed, quality_dead, evaluations, context="quality")
    assert quality_landed
    assert quality_dead
    assert {line["x-schema-version"] for line in quality_lines} == {_version("quality")}

    # The consumer's query of docs/nice.md reads both platforms' rows as one table.
    rows = _sql(CONSUMER_QUERY.replace("LAKE", str(lake)))
    assert sum(calls for _, calls, _ in rows) == len(data_lines)
    assert {channel for channel, _, _ in rows} <= {"voice", "chat"}
    ids_read = _sql(_IDS_QUERY.replace("LAKE", str(lake)))
    assert sorted(landed({"interaction_id": str(i)}) for (i,) in ids_read) == sorted(landed_keys)

    for domain in ("telephony", "quality"):
        code, output = await run_cli(env, "lake", "audit", "--domain", domain)
        assert (code, output.strip().rsplit(": ", 1)[-1]) == (0, "consistent"), output

    # The checkpoint says where CXone took over; a backfill of the Genesys windows is refused.
    checkpoint = orjson.loads(objects[f"{_TELEPHONY}/_state/checkpoint.json"])
    assert checkpoint["platform"] == "nice"
    assert datetime.fromisoformat(checkpoint["platform_since"]) == switched
    code, output = await run_cli(
        env,
        "backfill",
        "--domain",
        "telephony",
        "--from",
        _iso(switched - timedelta(minutes=15)),
        "--to",
        _iso(switched),
    )
    assert code == 2, output
    refused = [line for line in output.splitlines() if line.startswith("mesh-producer:")]
    assert len(refused) == 1, output
    assert "when telephony moved to nice" in refused[0], output


async def test_a_refused_cxone_key_fails_telephony_alone(
    simulator: RunningSimulator, cxone: RunningNiceSimulator, tmp_path: Path
) -> None:
    """Telephony's access key is refused: Quality (Genesys) lands; exit 1 naming Telephony, the
    reason in our words, never the secret; nothing of Telephony in the lake."""
    lake = tmp_path / "lake"
    env = _on_cxone(_env(simulator, lake), cxone)
    env["MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET"] = "not-the-secret-4242"
    code, output = await run_once_process(env, timeout_s=150)
    assert code == 1, output
    failed = [line for line in output.splitlines() if line.startswith("mesh-producer:")]
    assert len(failed) == 1, output
    assert "domain telephony failed" in failed[0]
    assert "invalid_client" in failed[0]
    assert "not-the-secret-4242" not in output
    objects = _read(lake)
    assert not any(key.startswith(f"{_TELEPHONY}/") for key in objects)
    assert _watermark(objects, _QUALITY) > _START
