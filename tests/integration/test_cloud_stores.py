"""The Azure Blob and GCS stores beyond the shared contract (``test_store.py`` runs that on all
four backends): the lake root, metadata and content type as the clouds keep them, a domain's own
container or bucket, failures as ``StoreError``, conditions enforced by the server itself, and
the configuration errors that must stop the producer before it starts (exit 2, one line).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from azure.storage.blob import BlobServiceClient

import producer
from producer.errors import ConfigError, PreconditionFailedError, StoreError
from producer.lake.azure import AzureBlobStore
from producer.lake.gcs import GcsStore
from producer.lake.store import Precondition, md5_etag, open_store
from producer.platforms.genesys.simulator import RunningSimulator
from producer.settings import LakeLocation, load_settings
from tests.fixtures.azure import read_container
from tests.fixtures.gcs import gcs_request, read_gcs_bucket
from tests.fixtures.runs import daemon_running, free_port, telephony_domain, telephony_settings

_PROJECT = Path(producer.__file__).resolve().parents[1]


class TestAzureBlobStore:
    async def test_root_prefix_metadata_and_type(self, azure_env: str, container: str) -> None:
        """az://container/root puts blobs under root (listed without it), with the metadata
        (names made identifiers), the content type and the Content-MD5 Azure keeps."""
        async with open_store(LakeLocation.parse(f"az://{container}/nested/root/")) as store:
            assert isinstance(store, AzureBlobStore)
            assert store.description == f"az://{container}/nested/root"
            await store.put("p/a.ndjson.gz", b"gz", metadata={"x-schema-version": "1.0"})
            await store.put("p/_state/checkpoint.json", b"{}")
            assert await store.list_keys("") == ["p/_state/checkpoint.json", "p/a.ndjson.gz"]
            assert await store.etag("p/a.ndjson.gz") == md5_etag(b"gz")
        assert set(read_container(azure_env, container)) == {
            "nested/root/p/a.ndjson.gz",
            "nested/root/p/_state/checkpoint.json",
        }
        with BlobServiceClient.from_connection_string(azure_env) as client:
            blob = client.get_blob_client(container, "nested/root/p/a.ndjson.gz")
            properties = blob.get_blob_properties()
        assert properties.metadata == {"x_schema_version": "1.0"}
        assert properties.content_settings.content_type == "application/gzip"

    async def test_a_blob_changed_behind_our_back_refuses_the_cas(
        self, azure_env: str, container: str
    ) -> None:
        """A CAS put holding the ETag of content that another client has since replaced is
        refused, and the other client's blob is left as it is."""
        async with open_store(LakeLocation.parse(f"az://{container}")) as store:
            etag = await store.put("_state/c.json", b"ours")
            with BlobServiceClient.from_connection_string(azure_env) as client:
                client.get_blob_client(container, "_state/c.json").upload_blob(
                    b"theirs", overwrite=True
                )
            with pytest.raises(PreconditionFailedError):
                await store.put("_state/c.json", b"next", only_if=Precondition.replacing(etag))
            found = await store.get("_state/c.json")
            assert found is not None
            assert found.data == b"theirs"

    async def test_container_override(self, azure_env: str, container: str) -> None:
        """A domain's own container overrides the lake's (per-domain output ports)."""
        async with open_store(LakeLocation.parse("az://shared-lake"), bucket=container) as store:
            await store.put("k.json", b"{}")
        assert read_container(azure_env, container) == {"k.json": b"{}"}

    async def test_failures_are_store_errors_naming_the_key(self, azure_env: str) -> None:
        """A missing container is a StoreError naming the key and Azure's code, never the key."""
        async with open_store(LakeLocation.parse("az://no-such-container")) as store:
            with pytest.raises(StoreError) as caught:
                await store.put("p/_state/checkpoint.json", b"{}")
            with pytest.raises(StoreError, match="ContainerNotFound"):
                await store.list_keys("p/")
        message = str(caught.value)
        assert "p/_state/checkpoint.json" in message
        assert "ContainerNotFound" in message
        assert "Eby8vdM02" not in message
        assert not isinstance(caught.value, PreconditionFailedError)


class TestGcsStore:
    async def test_root_prefix_metadata_and_type(self, gcs_env: str, gcs_bucket: str) -> None:
        """gs://bucket/root puts objects under root (listed without it), with metadata, the
        content type and the MD5 GCS keeps."""
        async with open_store(LakeLocation.parse(f"gs://{gcs_bucket}/nested/root/")) as store:
            assert isinstance(store, GcsStore)
            assert store.description == f"gs://{gcs_bucket}/nested/root"
            await store.put("p/a.ndjson.gz", b"gz", metadata={"x-schema-version": "1.0"})
            await store.put("p/_state/checkpoint.json", b"{}")
            assert await store.list_keys("") == ["p/_state/checkpoint.json", "p/a.ndjson.gz"]
            assert await store.etag("p/a.ndjson.gz") == md5_etag(b"gz")
        assert set(read_gcs_bucket(gcs_env, gcs_bucket)) == {
            "nested/root/p/a.ndjson.gz",
            "nested/root/p/_state/checkpoint.json",
        }
        name = urllib.parse.quote("nested/root/p/a.ndjson.gz", safe="")
        status, body = gcs_request(f"{gcs_env}/storage/v1/b/{gcs_bucket}/o/{name}")
        assert status == 200
        resource = json.loads(body)
        assert resource["metadata"] == {"x-schema-version": "1.0"}
        assert resource["contentType"] == "application/gzip"

    async def test_an_object_changed_behind_our_back_refuses_the_cas(
        self, gcs_env: str, gcs_bucket: str
    ) -> None:
        """A CAS put holding the ETag of content another client has since replaced (a new
        generation) is refused, and that client's object is left as it is."""
        async with open_store(LakeLocation.parse(f"gs://{gcs_bucket}")) as store:
            etag = await store.put("_state/c.json", b"ours")
            status, _ = gcs_request(
                f"{gcs_env}/upload/storage/v1/b/{gcs_bucket}/o?uploadType=media&name=_state/c.json",
                "POST",
                b"theirs",
                {"Content-Type": "application/json"},
            )
            assert status == 200
            with pytest.raises(PreconditionFailedError):
                await store.put("_state/c.json", b"next", only_if=Precondition.replacing(etag))
            found = await store.get("_state/c.json")
            assert found is not None
            assert found.data == b"theirs"

    async def test_bucket_override(self, gcs_env: str, gcs_bucket: str) -> None:
        """A domain's own bucket overrides the lake's (per-domain output ports)."""
        async with open_store(LakeLocation.parse("gs://shared-lake"), bucket=gcs_bucket) as store:
            await store.put("k.json", b"{}")
        assert read_gcs_bucket(gcs_env, gcs_bucket) == {"k.json": b"{}"}

    async def test_failures_are_store_errors_naming_the_key(self, gcs_env: str) -> None:
        """A missing bucket is a StoreError naming the key and the status."""
        async with open_store(LakeLocation.parse("gs://no-such-bucket-here")) as store:
            with pytest.raises(StoreError) as caught:
                await store.put("p/_state/checkpoint.json", b"{}")
            with pytest.raises(StoreError, match="404"):
                await store.list_keys("p/")
        assert "p/_state/checkpoint.json" in str(caught.value)
        assert not isinstance(caught.value, PreconditionFailedError)


@pytest.mark.parametrize(
    ("lake_url", "extra", "variable"),
    [
        ("az://lake", {}, "AZURE_STORAGE_ACCOUNT"),
        ("az://lake", {"AZURE_STORAGE_ACCOUNT": "Not_An_Account"}, "AZURE_STORAGE_ACCOUNT"),
        ("az://lake", {"AZURE_STORAGE_ACCOUNT_URL": "ftp:/x"}, "AZURE_STORAGE_ACCOUNT_URL"),
        ("az://lake", {"AZURE_STORAGE_CONNECTION_STRING": "x"}, "AZURE_STORAGE_CONNECTION_STRING"),
        ("az://Bad_Container", {"AZURE_STORAGE_ACCOUNT": "acct"}, "MESH_LAKE_URL"),
        ("az://two--hyphens", {"AZURE_STORAGE_ACCOUNT": "acct"}, "MESH_LAKE_URL"),
        ("gs://goog-lake", {}, "MESH_LAKE_URL"),
        ("gs://UPPER", {}, "MESH_LAKE_URL"),
        ("abfss://lake@acct.dfs.core.windows.net", {}, "MESH_LAKE_URL"),
        (
            "az://lake",
            {"AZURE_STORAGE_ACCOUNT": "acct", "MESH_TELEPHONY__BUCKET": "two--hyphens"},
            "MESH_TELEPHONY__BUCKET",
        ),
        ("gs://lake", {"MESH_TELEPHONY__BUCKET": "goog-bucket"}, "MESH_TELEPHONY__BUCKET"),
    ],
)
def test_bad_lake_configuration_names_the_variable(
    lake_url: str, extra: dict[str, str], variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown scheme, a container or bucket name the cloud rejects, a missing or malformed
    Azure account: one ``ConfigError`` line that starts with the variable to fix."""
    monkeypatch.setenv("MESH_LAKE_URL", lake_url)
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", "id")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", "secret")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{variable}: "), message


def test_a_missing_azure_account_exits_2_before_any_request() -> None:
    """The CLI turns it into exit 2 and one line on stderr, before touching the lake."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MESH_", "AWS_", "AZURE_"))
    }
    env.update(
        {
            "MESH_LAKE_URL": "az://lake",
            "MESH_DOMAINS": "telephony",
            "MESH_TELEPHONY__CLIENT_ID": "id",
            "MESH_TELEPHONY__CLIENT_SECRET": "secret",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "producer", "run", "--once"],
        env=env,
        cwd=_PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "AZURE_STORAGE_ACCOUNT" in lines[0], lines[0]


@pytest.mark.parametrize(
    ("env_fixture", "lake_url"),
    [("azure_env", "az://no-such-container"), ("gcs_env", "gs://no-such-bucket-here")],
)
async def test_readyz_names_a_cloud_lake_that_cannot_be_reached(
    simulator: RunningSimulator, request: pytest.FixtureRequest, env_fixture: str, lake_url: str
) -> None:
    """As for S3: a container or bucket that does not exist keeps the daemon up, /readyz is 503
    naming the domain and the lake, and nothing is committed."""
    request.getfixturevalue(env_fixture)
    port = free_port()
    settings = telephony_settings(
        simulator.base_url,
        lake_url,
        start_at=datetime(2024, 1, 1, tzinfo=UTC),
        request_retry_seconds=10,
        http_port=port,
        telephony=telephony_domain(page_size=50),
    )
    async with daemon_running(settings) as running:
        body, status = "", 0
        for _ in range(200):
            await asyncio.sleep(0.05)
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/readyz") as response,
            ):
                status, body = response.status, await response.text()
            if "lake:" in body:
                break
        assert status == 503
        assert "telephony" in body
        assert "lake:" in body
        assert lake_url in body
    assert running.result().reports["telephony"].windows == 0
