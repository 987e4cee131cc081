"""Step 5, sink: the ``az://`` object store, on Azure Blob Storage's async SDK, bounded retries.

Owns ``AzureBlobStore`` (the ``ObjectStore`` seam on a blob container) and ``open_azure_store``,
the only place an Azure Blob client is created: from ``AZURE_STORAGE_CONNECTION_STRING``, or from
the account (``AZURE_STORAGE_ACCOUNT_URL`` or ``AZURE_STORAGE_ACCOUNT``) with ``azure-identity``'s
default credential chain (AKS workload identity, managed identity, environment, Azure CLI). The
only module importing ``azure.*``; it knows nothing of keys, windows or formats and never logs
credentials.

The seam's ETag is the quoted MD5 of the content (``objects.md5_etag``), as on S3 and ``file://``:
the writer recognises an unchanged part by it. Blob Storage compares on its own ETag, so a CAS
put reads the blob's properties (its ETag and stored Content-MD5), refuses a different MD5, then
writes with ``If-Match: <the blob's ETag>``: the write lands only on the very version that had
the expected content. Create-only puts send ``If-None-Match: *``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobProperties, ContentSettings
from azure.storage.blob.aio import BlobServiceClient, ContainerClient, ExponentialRetry

from producer.lake.azure_account import azure_account
from producer.lake.cloud import CloudLake, CloudStore
from producer.lake.objects import ObjectWrite, StoredObject, content_etag, md5_etag, put_refused

__all__ = [
    "AZURE_CONNECT_TIMEOUT_S",
    "AZURE_MAX_RETRIES",
    "AZURE_READ_TIMEOUT_S",
    "AzureBlobStore",
    "open_azure_store",
]

# Retries per call (the SDK's exponential policy: about 3, 5 and 9 s apart, +/- 1 s of jitter,
# on 408/429/500/502/503/504, resets and timeouts): four attempts, about 17 s of waiting at most.
# The SDK also caps retries per kind (status, connect, read) at 3 by default; all are set here.
AZURE_MAX_RETRIES = 3
AZURE_CONNECT_TIMEOUT_S = 10.0
AZURE_READ_TIMEOUT_S = 30.0
_SINGLE_PUT_BYTES = 256 * 1024 * 1024  # one Put Blob up to this size: one atomic request
_METADATA_NAME = re.compile(r"[^A-Za-z0-9_]")


class AzureBlobStore(CloudStore):
    """An ``ObjectStore`` on a blob container through a ``ContainerClient`` the caller owns.

    ``root`` is a name prefix inside the container (``az://container/root``). Blobs are block
    blobs written in one Put Blob with their Content-MD5 set, so the MD5 ETag of a HEAD is the
    stored one. Metadata names must be identifiers on Azure: ``-`` becomes ``_``
    (``x-schema-version`` is stored as ``x_schema_version``). Conditional refusals (412, a 409
    on create-only, a 404 for If-Match on a missing blob) raise ``PreconditionFailedError``;
    other failures, after the SDK's retries, a ``StoreError`` naming the key.
    """

    def __init__(self, container: ContainerClient, name: str, root: str = "") -> None:
        super().__init__("az", name, root)
        self._container = container
        self.container = name

    async def get(self, key: str) -> StoredObject | None:
        try:
            downloader = await self._container.download_blob(self._names.name(key))
            data = await downloader.readall()
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self._failure("get", key, exc) from exc
        return StoredObject(data, md5_etag(data))

    async def etag(self, key: str) -> str | None:
        try:
            properties = await self._container.get_blob_client(
                self._names.name(key)
            ).get_blob_properties()
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self._failure("head", key, exc) from exc
        stored = _stored_md5(properties)
        if stored is not None:
            return stored
        return await content_etag(self, key)  # a blob written without Content-MD5 (not by us)

    async def delete(self, key: str) -> None:
        try:
            await self._container.delete_blob(self._names.name(key), delete_snapshots="include")
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise self._failure("delete", key, exc) from exc

    async def list_keys(self, prefix: str) -> list[str]:
        try:
            names = [
                self._names.key(name)
                async for name in self._container.list_blob_names(
                    name_starts_with=self._names.name(prefix)
                    if prefix or self._names.root
                    else None
                )
            ]
        except AzureError as exc:
            raise self._failure("list", prefix, exc) from exc
        return sorted(names)

    async def _write(self, write: ObjectWrite) -> str:
        key, expected = write.key, write.expected
        blob = self._container.get_blob_client(self._names.name(key))
        request: dict[str, Any] = {
            "overwrite": not write.creates,  # False sends If-None-Match: *
            "content_settings": ContentSettings(
                content_type=write.content_type, content_md5=bytearray(write.md5)
            ),
            "metadata": {_METADATA_NAME.sub("_", k): v for k, v in write.metadata.items()},
        }
        try:
            if expected is not None:
                request["etag"] = await self._version_with(key, expected)
                request["match_condition"] = MatchConditions.IfNotModified
            await blob.upload_blob(write.data, **request)
        except (ResourceModifiedError, ResourceExistsError, _StaleError) as exc:
            raise put_refused(self.description, key, _code(exc)) from None
        except ResourceNotFoundError as exc:
            if expected is not None:
                raise put_refused(self.description, key, "BlobNotFound") from None
            raise self._failure("put", key, exc) from exc
        except HttpResponseError as exc:
            if exc.status_code in (409, 412) and write.only_if is not None:
                raise put_refused(self.description, key, _code(exc)) from None
            raise self._failure("put", key, exc) from exc
        except AzureError as exc:
            raise self._failure("put", key, exc) from exc
        return write.etag

    async def _version_with(self, key: str, expected: str) -> str:
        """The blob's own ETag if its content has the MD5 ETag ``expected``.

        Raises ``ResourceNotFoundError`` (absent) or ``_StaleError`` (other content).
        """
        blob = self._container.get_blob_client(self._names.name(key))
        properties = await blob.get_blob_properties()
        current = _stored_md5(properties)
        version: str = properties.etag
        if current is None:  # no stored MD5: hash the content, at the version read
            downloader = await blob.download_blob()
            current = md5_etag(await downloader.readall())
            version = downloader.properties.etag
        if current != expected:
            raise _StaleError("ConditionNotMet")
        return version

    def _reason(self, exc: Exception) -> str:
        if isinstance(exc, HttpResponseError):
            return f"{_code(exc)}: {exc.reason or ''}".rstrip(": ")
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@contextlib.asynccontextmanager
async def open_azure_store(lake: CloudLake) -> AsyncIterator[AzureBlobStore]:
    """An ``AzureBlobStore`` on the lake's container and root whose client lives for the
    ``async with``.

    The account comes from ``lake.environ`` (``azure_account``); without a connection string
    the default credential chain of ``azure-identity`` signs the requests (and is closed on
    exit). Each call may take ``AZURE_CONNECT_TIMEOUT_S`` to connect and the lake's read timeout
    (``AZURE_READ_TIMEOUT_S`` by default) to answer per attempt, with ``AZURE_MAX_RETRIES``
    retries: it returns or raises in bounded time.
    """
    account = azure_account(lake.environ)
    options: dict[str, Any] = {
        "retry_policy": ExponentialRetry(
            initial_backoff=1,
            increment_base=2,
            retry_total=AZURE_MAX_RETRIES,
            retry_status=AZURE_MAX_RETRIES,
            retry_connect=AZURE_MAX_RETRIES,
            retry_read=AZURE_MAX_RETRIES,
            random_jitter_range=1,
        ),
        "connection_timeout": AZURE_CONNECT_TIMEOUT_S,
        "read_timeout": lake.read_timeout(AZURE_READ_TIMEOUT_S),
        "max_single_put_size": _SINGLE_PUT_BYTES,
    }
    async with contextlib.AsyncExitStack() as stack:
        if account.connection_string is not None:
            service = BlobServiceClient.from_connection_string(account.connection_string, **options)
        else:
            from azure.identity.aio import DefaultAzureCredential

            credential = await stack.enter_async_context(DefaultAzureCredential())
            service = BlobServiceClient(account.url or "", credential=credential, **options)
        await stack.enter_async_context(service)
        yield AzureBlobStore(
            service.get_container_client(lake.container), lake.container, lake.root
        )


class _StaleError(Exception):
    """The blob's content is not the one the caller's ETag names."""


def _stored_md5(properties: BlobProperties) -> str | None:
    stored = properties.content_settings.content_md5
    return '"' + bytes(stored).hex() + '"' if stored else None


def _code(exc: Exception) -> str:
    if isinstance(exc, HttpResponseError):
        return str(getattr(exc, "error_code", None) or exc.status_code or type(exc).__name__)
    return str(exc) or type(exc).__name__
