"""The contract registry in the lake: create-only versions, subscriptions, and the CLI on top.

Tests taking ``store`` or ``lake_url`` run against both backends: S3 (moto over HTTP, which
enforces If-None-Match) and the file:// lake.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from producer.catalog.publish import (
    ContractConflictError,
    fetch_contract,
    publish_contracts,
    published_versions,
    registry_bytes,
    subscribe,
    subscription_key,
    subscriptions,
    unsubscribe,
)
from producer.cli import main
from producer.contracts.registry import Contract, contract_document, load_contracts
from producer.errors import ConfigError
from producer.lake.keys import registry_key
from producer.lake.store import ObjectStore, open_store
from producer.settings import LakeLocation, default_contracts_dir
from tests.fixtures.s3 import read_lake, s3_client

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def shipped() -> dict[str, Any]:
    """The shipped telephony 1.0 contract file, as JSON."""
    raw: dict[str, Any] = json.loads(
        (default_contracts_dir() / "telephony" / "1.0.json").read_text()
    )
    return raw


def write_contracts(root: Path, files: dict[str, dict[str, Any]]) -> Path:
    """Write ``{"telephony/1.0": body}`` as contract files under ``root``; returns ``root``."""
    for name, body in files.items():
        path = root / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2))
    return root


def minor_1_1() -> dict[str, Any]:
    """telephony 1.1: 1.0 plus an optional queue_name with a default (a compatible minor)."""
    body = copy.deepcopy(shipped())
    body["version"] = "1.1"
    body["schema"]["properties"]["queue_name"] = {"type": "string"}
    body["defaults"] = {"queue_name": "unassigned"}
    return body


@pytest.fixture
def contracts(tmp_path: Path) -> dict[str, Contract]:
    """telephony 1.0 and 1.1 loaded from contract files, by version."""
    root = write_contracts(
        tmp_path / "contracts", {"telephony/1.0": shipped(), "telephony/1.1": minor_1_1()}
    )
    return {c.version: c for c in load_contracts(root)["telephony"]}


def edited(contract: Contract, **changes: Any) -> Contract:
    """``contract`` with other content under the same version."""
    return dataclasses.replace(contract, **changes)


class TestPublish:
    async def test_each_version_is_created_once(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """Publishing creates every version; publishing again is a no-op that rewrites nothing."""
        first = await publish_contracts(store, list(contracts.values()))
        assert [(o.version, o.outcome) for o in first] == [("1.0", "created"), ("1.1", "created")]
        etags = {v: await store.etag(registry_key("telephony", v)) for v in contracts}
        again = await publish_contracts(store, list(contracts.values()))
        assert [o.outcome for o in again] == ["unchanged", "unchanged"]
        assert {v: await store.etag(registry_key("telephony", v)) for v in contracts} == etags
        stored = await store.get(registry_key("telephony", "1.1"))
        assert stored is not None
        assert stored.data == registry_bytes(contracts["1.1"])
        assert await published_versions(store, "telephony") == ["1.0", "1.1"]

    async def test_other_content_for_a_published_version_fails_and_writes_nothing(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """A published version is immutable: other content is refused loudly, nothing else lands."""
        await publish_contracts(store, [contracts["1.0"]])
        before = await store.get(registry_key("telephony", "1.0"))
        changed = edited(contracts["1.0"], description="silently edited")
        with pytest.raises(ContractConflictError) as caught:
            await publish_contracts(store, [changed, contracts["1.1"]])
        assert caught.value.conflicts == (("telephony", "1.0"),)
        assert "telephony 1.0" in str(caught.value)
        assert "immutable" in str(caught.value)
        assert await store.get(registry_key("telephony", "1.0")) == before
        assert await published_versions(store, "telephony") == ["1.0"]

    async def test_concurrent_publishers_of_different_content_one_wins(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """Two publishers racing on one version: exactly one succeeds, the other conflicts."""
        mine, theirs = contracts["1.0"], edited(contracts["1.0"], owner_role="Someone_Else")
        results = await asyncio.gather(
            publish_contracts(store, [mine]),
            publish_contracts(store, [theirs]),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        assert len(failures) == 1
        assert isinstance(failures[0], ContractConflictError)
        winner = mine if failures[0] is results[1] else theirs
        stored = await store.get(registry_key("telephony", "1.0"))
        assert stored is not None
        assert stored.data == registry_bytes(winner)

    async def test_same_content_in_other_formatting_is_unchanged(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """A version published by an older publisher with other JSON formatting is the same."""
        key = registry_key("telephony", "1.0")
        compact = json.dumps(contract_document(contracts["1.0"])).encode()
        await store.put(key, compact)
        (outcome,) = await publish_contracts(store, [contracts["1.0"]])
        assert outcome.outcome == "unchanged"
        stored = await store.get(key)
        assert stored is not None
        assert stored.data == compact

    async def test_fetch_contract_round_trips(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """A consumer gets back exactly the published contract; unknown versions are None."""
        await publish_contracts(store, list(contracts.values()))
        fetched = await fetch_contract(store, "telephony", "1.1")
        assert fetched is not None
        assert contract_document(fetched) == contract_document(contracts["1.1"])
        assert (fetched.major, fetched.minor) == (1, 1)
        assert await fetch_contract(store, "telephony", "9.0") is None

    async def test_a_corrupt_registry_object_is_a_one_line_error(self, store: ObjectStore) -> None:
        """A registry object that is not a contract names the store and the problem."""
        await store.put(registry_key("telephony", "1.0"), b"{not json")
        with pytest.raises(ConfigError, match=r"_registry/telephony/1\.0\.json: invalid JSON"):
            await fetch_contract(store, "telephony", "1.0")


class TestSubscriptions:
    async def test_subscribe_move_and_unsubscribe(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """A consumer declares a published version, may move to another, and may leave."""
        await publish_contracts(store, list(contracts.values()))
        new, previous = await subscribe(store, "telephony", "bi-dashboards", "1.0", now=NOW)
        assert (new.version, new.major, previous) == ("1.0", 1, None)
        same, previous = await subscribe(store, "telephony", "bi-dashboards", "1.0", now=NOW)
        assert same == new
        assert previous == new
        moved, previous = await subscribe(store, "telephony", "bi-dashboards", "1.1", now=NOW)
        assert (moved.version, previous.version if previous else None) == ("1.1", "1.0")
        await subscribe(store, "telephony", "compliance", "1.0", now=NOW)
        found = await subscriptions(store, "telephony")
        assert [(s.consumer, s.version) for s in found] == [
            ("bi-dashboards", "1.1"),
            ("compliance", "1.0"),
        ]
        removed = await unsubscribe(store, "telephony", "compliance")
        assert removed is not None
        assert removed.version == "1.0"
        assert await unsubscribe(store, "telephony", "compliance") is None
        assert [s.consumer for s in await subscriptions(store, "telephony")] == ["bi-dashboards"]
        stored = await store.get(subscription_key("telephony", "bi-dashboards"))
        assert stored is not None
        assert json.loads(stored.data)["subscribed_at"] == "2024-05-01T12:00:00Z"

    async def test_only_published_versions_can_be_subscribed(
        self, store: ObjectStore, contracts: dict[str, Contract]
    ) -> None:
        """Subscribing to a version the registry does not hold is bad input, naming what is."""
        await publish_contracts(store, [contracts["1.0"]])
        with pytest.raises(
            ConfigError, match=r"telephony 1\.1 is not published .*\(published: 1\.0\)"
        ):
            await subscribe(store, "telephony", "bi", "1.1", now=NOW)
        assert await subscriptions(store, "telephony") == []

    async def test_consumer_names_are_checked(self, store: ObjectStore) -> None:
        """A consumer name that cannot be a key segment is refused before any I/O."""
        for bad in ("", "../x", "Upper", ".hidden", "a/b"):
            with pytest.raises(ConfigError, match="consumer name"):
                await unsubscribe(store, "telephony", bad)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


async def _read(lake_url: str, key: str, bucket: str | None = None) -> bytes | None:
    async with open_store(LakeLocation.parse(lake_url), bucket=bucket) as store:
        found = await store.get(key)
    return None if found is None else found.data


class TestCommandLine:
    @pytest.fixture
    def lake_env(self, lake_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
        """MESH_LAKE_URL set, a domain enabled without any OAuth variable, contracts in tmp."""
        monkeypatch.setenv("MESH_LAKE_URL", lake_url)
        monkeypatch.setenv("MESH_DOMAINS", "telephony")
        root = write_contracts(
            tmp_path / "contracts", {"telephony/1.0": shipped(), "telephony/1.1": minor_1_1()}
        )
        monkeypatch.setenv("MESH_CONTRACTS_DIR", str(root))
        return root

    def test_publish_list_subscribe(
        self, lake_env: Path, lake_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """publish, subscribe and list work from MESH_LAKE_URL alone (no OAuth client needed)."""
        code, out, _ = _run(["contracts", "publish"], capsys)
        assert code == 0
        assert out.count("created") == 2
        assert "_registry/telephony/1.1.json" in out
        argv = ["contracts", "subscribe", "--domain", "telephony", "--consumer", "bi"]
        code, out, _ = _run([*argv, "--version", "1.0"], capsys)
        assert (code, out.split()) == (0, ["created", "bi", "reads", "telephony", "1.0"])
        code, out, _ = _run([*argv, "--version", "1.1"], capsys)
        assert code == 0
        assert "(was 1.0)" in out
        code, out, _ = _run(["contracts", "list"], capsys)
        assert code == 0
        lines = [line.split(None, 3) for line in out.splitlines()]
        assert lines == [
            ["domain", "version", "status", "subscribers"],
            ["telephony", "1.0", "published", "-"],
            ["telephony", "1.1", "published", "bi"],
        ]
        stored = asyncio.run(_read(lake_url, subscription_key("telephony", "bi")))
        assert stored is not None
        assert json.loads(stored)["version"] == "1.1"

    @pytest.mark.parametrize("lake_backend", ["file"], indirect=True)  # the store is covered above
    def test_list_shows_unpublished_files(
        self, lake_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Before publishing, list shows the contract files as not published."""
        code, out, _ = _run(["contracts", "list", "--domain", "telephony"], capsys)
        assert code == 0
        rows = out.splitlines()[1:]
        assert [row.split()[1] for row in rows] == ["1.0", "1.1"]
        assert all("not published" in row for row in rows)

    @pytest.mark.parametrize("lake_backend", ["file"], indirect=True)  # the store is covered above
    def test_publish_conflict_exits_1(
        self, lake_env: Path, lake_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Re-publishing an edited released version exits 1 and leaves the registry as it was."""
        assert _run(["contracts", "publish"], capsys)[0] == 0
        before = asyncio.run(_read(lake_url, registry_key("telephony", "1.0")))
        body = shipped()
        body["description"] = "edited after release"
        write_contracts(lake_env, {"telephony/1.0": body})
        code, out, _ = _run(["contracts", "publish"], capsys)
        assert code == 1
        assert out.startswith("CONFLICT ")
        assert "telephony 1.0" in out
        assert asyncio.run(_read(lake_url, registry_key("telephony", "1.0"))) == before

    @pytest.mark.parametrize("lake_backend", ["file"], indirect=True)  # the store is covered above
    def test_publish_refuses_breaking_contracts(
        self, lake_env: Path, lake_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """publish runs the compatibility gate first: a breaking minor publishes nothing."""
        body = minor_1_1()
        del body["schema"]["properties"]["caller_number"]
        write_contracts(lake_env, {"telephony/1.1": body})
        code, out, err = _run(["contracts", "publish"], capsys)
        assert code == 1
        assert "BREAKING telephony 1.0 -> 1.1: field caller_number: removed" in out
        assert "refused" in err
        assert asyncio.run(_read(lake_url, registry_key("telephony", "1.0"))) is None

    @pytest.mark.parametrize("lake_backend", ["file"], indirect=True)  # the store is covered above
    def test_subscribe_to_unpublished_version_exits_2(
        self, lake_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Bad input is exit 2 with one line saying what is wrong."""
        argv = ["contracts", "subscribe", "--domain", "telephony", "--consumer", "bi"]
        code, _, err = _run([*argv, "--version", "1.0"], capsys)
        assert code == 2
        assert len(err.strip().splitlines()) == 1
        assert "telephony 1.0 is not published" in err

    @pytest.mark.parametrize("lake_backend", ["s3"], indirect=True)
    def test_a_domain_bucket_holds_its_own_registry(
        self, lake_env: Path, lake_url: str, domain_bucket: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With MESH_TELEPHONY__BUCKET, telephony's registry is in that bucket, not the lake's."""
        moto_server = os.environ["AWS_ENDPOINT_URL_S3"]
        assert _run(["contracts", "publish"], capsys)[0] == 0
        assert sorted(read_lake(moto_server, domain_bucket)) == [
            "_registry/telephony/1.0.json",
            "_registry/telephony/1.1.json",
        ]
        assert read_lake(moto_server, lake_url.removeprefix("s3://")) == {}

    @pytest.fixture
    def domain_bucket(self, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
        """A second bucket set as MESH_TELEPHONY__BUCKET; emptied and removed afterwards."""
        client = s3_client(moto_server)
        name = "telephony-own-bucket"
        client.create_bucket(Bucket=name)
        monkeypatch.setenv("MESH_TELEPHONY__BUCKET", name)
        try:
            yield name
        finally:
            for item in client.list_objects_v2(Bucket=name).get("Contents", []):
                client.delete_object(Bucket=name, Key=item["Key"])
            client.delete_bucket(Bucket=name)
            client.close()
