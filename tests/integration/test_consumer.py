"""The consumer library: records projected to the declared version, majors never mixed.

``project`` is pure; the reading tests land parts with the producer's own ``BatchWriter`` and
envelope lines in both stores (S3 on moto, file://), as the daemon would, including a domain
writing 1.x and 2.x side by side during a major migration (the guide's Edge Case 2).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from producer.catalog.consumer import ContractViolationError, LakeConsumer, project
from producer.catalog.publish import publish_contracts, subscribe
from producer.contracts.registry import Contract, load_contracts
from producer.envelope import envelope_line
from producer.errors import ConfigError
from producer.lake.encode import encode_part, json_line
from producer.lake.keys import data_key, dlq_key
from producer.lake.store import ObjectStore
from producer.lake.writer import BatchWriter
from producer.settings import default_contracts_dir
from producer.telemetry.metrics import Metrics
from producer.windows import Window

START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
W1 = Window(START, START + timedelta(minutes=15))
W2 = Window(W1.end, W1.end + timedelta(minutes=15))
PREFIX = "telephony-cdr-export"
UUIDS = [f"550e8400-e29b-41d4-a716-44665544{n:04d}" for n in range(20)]


def _body(version: str, edit: Any = None, defaults: dict[str, Any] | None = None) -> Any:
    body = json.loads((default_contracts_dir() / "telephony" / "1.0.json").read_text())
    body["version"] = version
    if edit is not None:
        edit(body["schema"]["properties"])
    body["defaults"] = defaults or {}
    return body


def _v11(props: dict[str, Any]) -> None:
    props["queue_name"] = {"type": "string"}
    props["metadata"]["properties"]["wrapup_code"] = {"type": "string"}


def _v20(props: dict[str, Any]) -> None:
    meta = props["metadata"]["properties"]
    meta["staff_id"] = meta.pop("agent_id")


@pytest.fixture
def contracts(tmp_path: Path) -> dict[str, Contract]:
    """telephony 1.0, 1.1 (two optional fields with defaults) and 2.0 (agent_id -> staff_id)."""
    bodies = {
        "1.0": _body("1.0"),
        "1.1": _body("1.1", _v11, {"queue_name": "unassigned", "metadata.wrapup_code": "none"}),
        "2.0": _body("2.0", _v20),
    }
    for version, body in bodies.items():
        path = tmp_path / "contracts" / "telephony" / f"{version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))
    return {c.version: c for c in load_contracts(tmp_path / "contracts")["telephony"]}


def _record(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "interaction_id": UUIDS[n],
        "channel_type": "voice",
        "duration_seconds": n,
        "metadata": {"agent_id": f"agent-{n}"},
        **extra,
    }


async def _land(
    store: ObjectStore, contract: Contract, window: Window, records: list[dict[str, Any]]
) -> None:
    """Land ``records`` as the daemon would for ``contract``: envelopes under v{MAJOR}/."""
    writer = BatchWriter(
        store,
        prefix=PREFIX,
        domain="telephony",
        major=contract.major,
        compression="gzip",
        part_max_records=2,
        metrics=Metrics(CollectorRegistry()).for_domain("telephony"),
        object_metadata={"x-schema-version": contract.version},
    )
    write = writer.open_window(window)
    for record in records:
        await write.add_landed(envelope_line(contract, record))
    await write.add_dead_letter(json_line({"domain": "telephony", "record": {"bad": True}}))
    await write.finish()


async def _read(consumer: LakeConsumer, **bounds: datetime) -> list[dict[str, Any]]:
    return [record.data async for record in consumer.records(**bounds)]


class TestProject:
    def test_newer_minor_to_older(self, contracts: dict[str, Contract]) -> None:
        """A 1.1 record seen by a 1.0 consumer loses the fields 1.0 does not declare."""
        record = _record(1, queue_name="billing", caller_number="+1555")
        record["metadata"]["wrapup_code"] = "sale"
        assert project(record, contracts["1.0"]) == {
            "interaction_id": UUIDS[1],
            "channel_type": "voice",
            "duration_seconds": 1,
            "caller_number": "+1555",
            "metadata": {"agent_id": "agent-1"},
        }
        assert record["queue_name"] == "billing"  # the input is not changed

    def test_older_minor_to_newer(self, contracts: dict[str, Contract]) -> None:
        """A 1.0 record seen by a 1.1 consumer gets the defaults of the fields it lacks."""
        projected = project(_record(2), contracts["1.1"])
        assert projected["queue_name"] == "unassigned"
        assert projected["metadata"] == {"agent_id": "agent-2", "wrapup_code": "none"}
        without_metadata = {k: v for k, v in _record(3).items() if k != "metadata"}
        assert "metadata" not in project(without_metadata, contracts["1.1"])

    def test_present_fields_are_kept_and_defaults_are_copies(
        self, contracts: dict[str, Contract]
    ) -> None:
        """A field that is present keeps its value; a filled default is never shared state."""
        kept = project(_record(4, queue_name="sales"), contracts["1.1"])
        assert kept["queue_name"] == "sales"
        schema = copy.deepcopy(dict(contracts["1.1"].schema))
        schema["properties"]["tags"] = {"type": "array", "items": {"type": "object"}}
        tagged = dataclasses.replace(contracts["1.1"], schema=schema, defaults={"tags": []})
        first, second = project({}, tagged), project({}, tagged)
        first["tags"].append({"x": 1})
        assert second["tags"] == []
        assert tagged.defaults["tags"] == []


class TestLakeConsumer:
    async def test_a_1_0_consumer_reads_1_1_records_projected(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """Records written under 1.0 then 1.1 all reach a 1.0 consumer, as 1.0 records."""
        await _land(store, contracts["1.0"], W1, [_record(0), _record(1)])
        await _land(store, contracts["1.1"], W2, [_record(2, queue_name="q"), _record(3)])
        consumer = LakeConsumer(store, contracts["1.0"])
        seen = await _read(consumer)
        assert [r["duration_seconds"] for r in seen] == [0, 1, 2, 3]
        assert all("queue_name" not in r for r in seen)
        assert (consumer.stats.records, consumer.stats.projected) == (4, 2)
        newer = LakeConsumer(store, contracts["1.1"])
        assert [r["queue_name"] for r in await _read(newer)] == [
            "unassigned",
            "unassigned",
            "q",
            "unassigned",
        ]

    async def test_two_majors_side_by_side_are_never_mixed(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """During a major migration v1/ and v2/ both land; each consumer sees only its major."""
        await _land(store, contracts["1.0"], W1, [_record(0), _record(1)])
        renamed = [{**_record(n), "metadata": {"staff_id": f"agent-{n}"}} for n in (0, 1, 5)]
        await _land(store, contracts["2.0"], W1, renamed)
        keys = await store.list_keys(PREFIX + "/")
        assert any("/v1/" in key for key in keys)
        assert any("/v2/" in key for key in keys)
        v1 = await _read(LakeConsumer(store, contracts["1.0"]))
        v2 = await _read(LakeConsumer(store, contracts["2.0"]))
        assert [r["metadata"] for r in v1] == [{"agent_id": "agent-0"}, {"agent_id": "agent-1"}]
        assert [r["metadata"] for r in v2] == [{"staff_id": f"agent-{n}"} for n in (0, 1, 5)]

    async def test_a_stray_envelope_of_another_major_is_skipped(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """Even a 2.x line inside v1/ never reaches a 1.x consumer; it is counted instead."""
        lines = [envelope_line(contracts["1.0"], _record(0)), envelope_line(contracts["2.0"], {})]
        key = data_key(PREFIX, 1, "telephony", W1, 0)
        await store.put(key, encode_part(lines, "gzip"))
        consumer = LakeConsumer(store, contracts["1.0"])
        assert [r["duration_seconds"] for r in await _read(consumer)] == [0]
        assert consumer.stats.other_major == 1

    async def test_time_bounds_select_windows(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """start/end keep the parts whose window overlaps [start, end)."""
        await _land(store, contracts["1.0"], W1, [_record(0)])
        await _land(store, contracts["1.0"], W2, [_record(1)])
        consumer = LakeConsumer(store, contracts["1.0"])
        assert [r["duration_seconds"] for r in await _read(consumer, start=W2.start)] == [1]
        assert [r["duration_seconds"] for r in await _read(consumer, end=W2.start)] == [0]
        assert consumer.stats.objects == 1

    async def test_a_record_that_breaks_the_contract_is_an_error(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """A landed line that does not fit the declared version is reported, not passed on."""
        bad = envelope_line(contracts["1.0"], {**_record(0), "duration_seconds": -5})
        key = data_key(PREFIX, 1, "telephony", W1, 0)
        await store.put(key, encode_part([bad], "gzip"))
        with pytest.raises(
            ContractViolationError, match=r"part-00000\.ndjson\.gz line 1: .*minimum"
        ):
            await _read(LakeConsumer(store, contracts["1.0"]))
        await store.put(key, encode_part([b'{"data": {}}'], "gzip"))
        with pytest.raises(ContractViolationError, match="not an envelope"):
            await _read(LakeConsumer(store, contracts["1.0"]))

    async def test_dead_letters_are_not_data(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """failed-records/ is the DLQ: a consumer never reads it as data."""
        await _land(store, contracts["1.0"], W1, [])
        assert await store.get(dlq_key(PREFIX, "telephony", W1, 0)) is not None
        assert await _read(LakeConsumer(store, contracts["1.0"])) == []

    async def test_consumers_from_the_registry(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """A consumer can start from a published version or from its own subscription."""
        await publish_contracts(store, list(contracts.values()))
        await subscribe(store, "telephony", "bi", "1.0", now=START)
        await _land(store, contracts["1.1"], W1, [_record(0, queue_name="q")])
        declared = await LakeConsumer.declared(store, "telephony", "1.1")
        assert (await _read(declared))[0]["queue_name"] == "q"
        subscribed = await LakeConsumer.subscribed(store, "telephony", "bi")
        assert subscribed.contract.version == "1.0"
        assert "queue_name" not in (await _read(subscribed))[0]
        with pytest.raises(ConfigError, match="no subscription"):
            await LakeConsumer.subscribed(store, "telephony", "nobody")
        with pytest.raises(ConfigError, match="not published"):
            await LakeConsumer.declared(store, "telephony", "3.0")
