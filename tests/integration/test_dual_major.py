"""A major migration: the guide's Edge Case 2 (``agent_id`` renamed ``staff_id``) written as 2.0
next to 1.0, both majors landing side by side from one extraction.

The 2.0 contract declares the rename and also requires ``caller_number``, so chats (which have
none) are valid in 1.0 and dead-lettered in 2.0: each major's data and rejections must account
for every record of every window, each in one place. Runs against the simulator and both stores
(``file://`` and moto S3), through ``daemon.run(once=True)`` with a re-sweep, so every window is
also re-exported: a re-export in two majors rewrites and deletes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from producer.catalog.consumer import LakeConsumer
from producer.catalog.publish import publish_contracts, subscribe
from producer.contracts.compat import check_contracts
from producer.contracts.registry import load_contracts
from producer.lake.keys import OLDER_MAJOR_DLQ_FIRST_PART, parse_part_key
from producer.lake.store import ObjectStore
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.settings import Settings
from producer.windows import align_down
from tests.fixtures.lake import lake_lines, lake_objects
from tests.fixtures.product import audit
from tests.fixtures.runs import run_once, telephony_domain, telephony_settings
from tests.fixtures.simulator import telephony_config

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW, 900) - timedelta(minutes=60)
_PREFIX = "telephony-cdr-export"
_SHIPPED = Path(__file__).resolve().parents[2] / "config" / "contracts" / "telephony" / "1.0.json"


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen simulator clock: the same three windows are available on every run."""
    return telephony_config(lambda: _NOW, conversations_per_hour=600.0)


def _contracts(tmp_path: Path) -> Path:
    """``telephony/1.0.json`` as shipped, and a 2.0 that renames the field and needs a number."""
    folder = tmp_path / "contracts" / "telephony"
    folder.mkdir(parents=True)
    v1 = json.loads(_SHIPPED.read_text(encoding="utf-8"))
    (folder / "1.0.json").write_text(json.dumps(v1), encoding="utf-8")
    v2 = json.loads(json.dumps(v1))
    v2["version"] = "2.0"
    v2["rename"] = {"metadata.agent_id": "metadata.staff_id"}
    schema = v2["schema"]
    schema["title"] = "telephony 2.0"
    schema["required"] = [*schema["required"], "caller_number"]
    metadata = schema["properties"]["metadata"]
    metadata["properties"]["staff_id"] = metadata["properties"].pop("agent_id")
    metadata["additionalProperties"] = False  # an agent_id that was not renamed is refused
    (folder / "2.0.json").write_text(json.dumps(v2), encoding="utf-8")
    return folder.parent


def _settings(simulator: RunningSimulator, lake_url: str, contracts: Path) -> Settings:
    """Both majors written, 15 records a part, every window re-swept on the next run."""
    return telephony_settings(
        simulator.base_url,
        lake_url,
        contracts_dir=contracts,
        start_at=_START,
        telephony=telephony_domain(
            part_max_records=15,
            resweep_hours=24,
            resweep_interval_seconds=0.001,
            schema_version="1.0,2.0",
        ),
    )


def _id(line: dict[str, Any]) -> str:
    if "data" in line:
        return str(line["data"]["interaction_id"])
    return str(line["source"]["conversationId"])


async def test_both_majors_land_side_by_side_each_accounting_for_every_record(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, tmp_path: Path
) -> None:
    contracts = _contracts(tmp_path)
    assert check_contracts(load_contracts(contracts)) == []  # a rename is fine as a new major
    loaded = load_contracts(contracts)["telephony"]
    await publish_contracts(store, loaded)
    now = datetime.now(UTC)
    await subscribe(store, "telephony", "bi-dashboards", "1.0", now=now)
    await subscribe(store, "telephony", "data-science", "2.0", now=now)
    registry = CollectorRegistry()
    await run_once(_settings(simulator, lake_url, contracts), registry)
    objects = await lake_objects(store, _PREFIX)
    # One consumer still reads 1.x: the older major must go on being written.
    subscribers = registry.get_sample_value(
        "mesh_older_major_subscribers", {"domain": "telephony", "version": "1.0"}
    )
    assert subscribers == 1
    older_landed = registry.get_sample_value(
        "mesh_older_major_records_total",
        {"domain": "telephony", "version": "1.0", "outcome": "landed"},
    )

    def dlq(first: int, last: int) -> Any:
        return lambda key: "/failed-records/" in key and first <= parse_part_key(key).part < last

    v1 = lake_lines(objects, "/v1/")
    v2 = lake_lines(objects, "/v2/")
    v2_rejected = lake_lines(objects, dlq(0, OLDER_MAJOR_DLQ_FIRST_PART))
    v1_rejected = lake_lines(objects, dlq(OLDER_MAJOR_DLQ_FIRST_PART, 100_000))
    assert older_landed == len(v1)
    assert {line["x-schema-version"] for line in v1 + v1_rejected} == {"1.0"}
    assert {line["x-schema-version"] for line in v2 + v2_rejected} == {"2.0"}

    # Each major holds every record of the exported windows exactly once, landed or rejected.
    one = Counter(_id(line) for line in v1 + v1_rejected)
    two = Counter(_id(line) for line in v2 + v2_rejected)
    assert one == two
    assert set(one.values()) == {1}
    assert len(one) > 30

    # The rename: 2.0 has staff_id where 1.0 has agent_id, nothing else differs.
    by_id = {line["data"]["interaction_id"]: line["data"] for line in v1}
    renamed = 0
    for line in v2:
        record = line["data"]
        old = by_id[record["interaction_id"]]
        assert "agent_id" not in record.get("metadata", {})
        if "agent_id" in old.get("metadata", {}):
            renamed += 1
            assert record["metadata"]["staff_id"] == old["metadata"]["agent_id"]
            old = {**old, "metadata": {**old["metadata"]}}
            old["metadata"]["staff_id"] = old["metadata"].pop("agent_id")
        assert record == old
    assert renamed > 0

    # Chats have no number: valid in 1.0, rejected by 2.0 with the reason.
    chats = {line["data"]["interaction_id"] for line in v1 if "caller_number" not in line["data"]}
    assert chats
    rejected_for_number = {
        _id(line)
        for line in v2_rejected
        if any(error["rule"] == "required" for error in line["errors"])
    }
    assert chats <= rejected_for_number
    assert len(v2_rejected) > len(v1_rejected)

    # The checkpoint counts the newest major; the re-sweep of every window changed nothing.
    checkpoint = orjson.loads(objects[f"{_PREFIX}/_state/checkpoint.json"])
    assert checkpoint["schema_version"] == "2.0,1.0"
    assert checkpoint["totals"] == {
        "fetched": len(two),
        "landed": len(v2),
        "dead_lettered": len(v2_rejected),
    }
    windows = len(checkpoint["recent_windows"])
    assert windows >= 3
    again = CollectorRegistry()
    await run_once(_settings(simulator, lake_url, contracts), again)
    resweeps = again.get_sample_value(
        "mesh_resweeps_total", {"domain": "telephony", "outcome": "unchanged"}
    )
    assert resweeps == windows
    after = await lake_objects(store, _PREFIX)
    assert {k: v for k, v in after.items() if "_state" not in k} == {
        k: v for k, v in objects.items() if "_state" not in k
    }

    # The audit of the product (newest major) is consistent; the older copy is a note.
    report = await audit(store)
    assert report.consistent, report.discrepancies
    assert (report.landed, report.dead_lettered) == (len(v2), len(v2_rejected))
    assert any("also has data under v1" in note for note in report.notes)

    # Consumers of each major read their own records only, never the other major's.
    for contract, expected in ((loaded[0], v1), (loaded[1], v2)):
        consumer = LakeConsumer(store, contract, prefix=_PREFIX)
        read = [record async for record in consumer.records()]
        assert [record.data for record in read] == [line["data"] for line in expected]
        assert {record.written_version for record in read} == {contract.version}


async def test_a_re_export_in_one_major_keeps_the_older_majors_rejections(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, tmp_path: Path
) -> None:
    """Ending the migration (2.0 only) re-sweeps windows without deleting 1.0's DLQ series."""
    contracts = _contracts(tmp_path)
    settings = _settings(simulator, lake_url, contracts)
    first_registry = CollectorRegistry()
    await run_once(settings, first_registry)
    # No consumer subscribed to 1.x: the producer says it can stop being written.
    subscribers = first_registry.get_sample_value(
        "mesh_older_major_subscribers", {"domain": "telephony", "version": "1.0"}
    )
    assert subscribers == 0
    before = await lake_objects(store, _PREFIX)
    older_dlq = {
        key
        for key in before
        if "/failed-records/" in key and parse_part_key(key).part >= OLDER_MAJOR_DLQ_FIRST_PART
    }
    assert older_dlq

    assert settings.telephony is not None
    only_v2 = settings.model_copy(
        update={"telephony": settings.telephony.model_copy(update={"schema_version": "2.0"})}
    )
    registry = CollectorRegistry()
    await run_once(only_v2, registry)
    after = await lake_objects(store, _PREFIX)
    # Every object is byte-identical: the newest major's were unchanged, and the older major's
    # copy (data and rejections) is left as it was for whoever still reads it.
    assert {k: v for k, v in after.items() if "_state" not in k} == {
        k: v for k, v in before.items() if "_state" not in k
    }
    assert older_dlq <= set(after)
    resweeps = registry.get_sample_value(
        "mesh_resweeps_total", {"domain": "telephony", "outcome": "unchanged"}
    )
    assert resweeps is not None
    assert resweeps >= 3


async def test_an_unreadable_registry_is_logged_and_the_export_goes_on(
    simulator: RunningSimulator, lake_url: str, store: ObjectStore, tmp_path: Path
) -> None:
    """A subscription object that is not one: logged, no gauge, both majors still land."""
    await store.put("_registry/telephony/subscriptions/broken.json", b"{not json")
    registry = CollectorRegistry()
    with capture_logs() as logs:
        await run_once(_settings(simulator, lake_url, _contracts(tmp_path)), registry)
    unreadable = [entry for entry in logs if entry["event"] == "registry_unreadable"]
    assert len(unreadable) == 1
    assert "broken.json" in unreadable[0]["error"]
    gauge = registry.get_sample_value(
        "mesh_older_major_subscribers", {"domain": "telephony", "version": "1.0"}
    )
    assert gauge is None
    objects = await lake_objects(store, _PREFIX)
    assert lake_lines(objects, "/v1/")
    assert lake_lines(objects, "/v2/")
