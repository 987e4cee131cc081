"""Step 5, sink: the ``gs://`` object store, on gcloud-aio-storage (aiohttp), bounded retries.

Owns ``GcsStore`` (the ``ObjectStore`` seam on a Cloud Storage bucket, through the JSON API) and
``open_gcs_store``, the only place a GCS client is created: Application Default Credentials
(GKE workload identity, the metadata server, ``GOOGLE_APPLICATION_CREDENTIALS``), or an emulator
without credentials when ``STORAGE_EMULATOR_HOST`` is set. The only module importing
``gcloud.aio``; it knows nothing of keys, windows or formats and never logs credentials.

The seam's ETag is the quoted MD5 of the content (``objects.md5_etag``), as on S3 and ``file://``:
the writer recognises an unchanged part by it. Cloud Storage compares on the object's generation,
so a CAS put reads the object's metadata (generation and ``md5Hash``), refuses another MD5, then
uploads with ``ifGenerationMatch=<that generation>``: the write lands only on the very generation
that had the expected content. Create-only is ``ifGenerationMatch=0``. Every upload is a
multipart upload carrying its ``md5Hash``, which Cloud Storage verifies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

import aiohttp
from gcloud.aio.storage import Storage

from producer.lake.cloud import CloudLake, CloudStore
from producer.lake.objects import ObjectWrite, StoredObject, content_etag, md5_etag, put_refused

__all__ = [
    "GCS_CONNECT_TIMEOUT_S",
    "GCS_MAX_ATTEMPTS",
    "GCS_READ_TIMEOUT_S",
    "GcsStore",
    "open_gcs_store",
]

# Attempts per call: exponential backoff with full jitter (0.5 s doubling, capped at 8 s) on
# 408/429/5xx, resets and timeouts: at most 7.5 s of waiting between five attempts, each
# bounded by GCS_CONNECT_TIMEOUT_S to connect and the read timeout to answer.
GCS_MAX_ATTEMPTS = 5
GCS_CONNECT_TIMEOUT_S = 10.0
GCS_READ_TIMEOUT_S = 30.0
_BACKOFF_BASE_S = 0.5
_BACKOFF_CAP_S = 8.0
_RETRIED_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_T = TypeVar("_T")


class GcsStore(CloudStore):
    """An ``ObjectStore`` on a GCS bucket through a ``Storage`` client the caller owns.

    ``root`` is a name prefix inside the bucket (``gs://bucket/root``). A 412 on a conditional
    put (or a 404 for a CAS on a missing object) raises ``PreconditionFailedError``; other
    failures, after ``GCS_MAX_ATTEMPTS`` attempts, a ``StoreError`` naming the key.
    """

    def __init__(
        self,
        client: Storage,
        bucket: str,
        root: str = "",
        *,
        read_timeout_s: float = GCS_READ_TIMEOUT_S,
    ) -> None:
        super().__init__("gs", bucket, root)
        self._client = client
        self.bucket = bucket
        # Per attempt: gcloud-aio replaces the session's timeout by the one each call passes
        # (a bare number would become a total, dropping the connect and read bounds), so every
        # call passes this one. Its stubs say ``int``; its session takes an aiohttp timeout.
        self._timeout = cast(
            "int",
            aiohttp.ClientTimeout(
                total=GCS_CONNECT_TIMEOUT_S + read_timeout_s,
                sock_connect=GCS_CONNECT_TIMEOUT_S,
                sock_read=read_timeout_s,
            ),
        )

    async def get(self, key: str) -> StoredObject | None:
        async def download() -> bytes:
            return await self._client.download(
                self.bucket, self._names.name(key), timeout=self._timeout
            )

        try:
            data = await self._retried(download)
        except aiohttp.ClientResponseError as exc:
            if exc.status == 404:
                return None
            raise self._failure("get", key, exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failure("get", key, exc) from exc
        return StoredObject(data, md5_etag(data))

    async def etag(self, key: str) -> str | None:
        try:
            metadata = await self._metadata(key)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failure("head", key, exc) from exc
        if metadata is None:
            return None
        stored = _stored_md5(metadata)
        if stored is not None:
            return stored
        return await content_etag(self, key)  # a composite object has no MD5: hash its content

    async def delete(self, key: str) -> None:
        async def delete() -> None:
            await self._client.delete(self.bucket, self._names.name(key), timeout=self._timeout)

        try:
            await self._retried(delete)
        except aiohttp.ClientResponseError as exc:
            if exc.status != 404:
                raise self._failure("delete", key, exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failure("delete", key, exc) from exc

    async def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        params = {"prefix": self._names.name(prefix), "fields": "items(name),nextPageToken"}
        try:
            while True:
                page_params = dict(params)

                async def page(page_params: dict[str, str] = page_params) -> dict[str, Any]:
                    return await self._client.list_objects(
                        self.bucket, params=page_params, timeout=self._timeout
                    )

                listed = await self._retried(page)
                keys.extend(self._names.key(item["name"]) for item in listed.get("items", []))
                token = listed.get("nextPageToken")
                if not token:
                    break
                params["pageToken"] = token
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failure("list", prefix, exc) from exc
        return sorted(keys)

    async def _write(self, write: ObjectWrite) -> str:
        key = write.key
        resource: dict[str, Any] = {"md5Hash": base64.b64encode(write.md5).decode()}
        if write.metadata:
            resource["metadata"] = dict(write.metadata)
        try:
            parameters: dict[str, str] = {}
            if write.only_if is not None:
                expected = write.expected
                parameters["ifGenerationMatch"] = (
                    "0" if expected is None else await self._generation_with(key, expected)
                )

            async def upload() -> dict[str, Any]:
                return await self._client.upload(
                    self.bucket,
                    self._names.name(key),
                    write.data,
                    content_type=write.content_type,
                    parameters=dict(parameters),
                    metadata=dict(resource),  # with metadata: always a multipart upload
                    force_resumable_upload=False,
                    timeout=self._timeout,
                )

            await self._retried(upload)
        except _StaleError:
            raise put_refused(self.description, key, "generation") from None
        except aiohttp.ClientResponseError as exc:
            if write.only_if is not None and exc.status == 412:
                raise put_refused(self.description, key, "412") from None
            raise self._failure("put", key, exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failure("put", key, exc) from exc
        return write.etag

    async def _metadata(self, key: str) -> dict[str, Any] | None:
        async def fetch() -> dict[str, Any]:
            return await self._client.download_metadata(
                self.bucket, self._names.name(key), timeout=self._timeout
            )

        try:
            return await self._retried(fetch)
        except aiohttp.ClientResponseError as exc:
            if exc.status == 404:
                return None
            raise

    async def _generation_with(self, key: str, expected: str) -> str:
        """The object's generation if its content has the MD5 ETag ``expected``.

        Raises ``_StaleError`` when it is absent or holds other content.
        """
        metadata = await self._metadata(key)
        if metadata is None:
            raise _StaleError
        current = _stored_md5(metadata)
        if current is None:  # no MD5 (composite): hash the content of that generation
            current = await content_etag(self, key)
        if current != expected:
            raise _StaleError
        return str(metadata["generation"])

    async def _retried(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """``call()``, retried on 408/429/5xx, connection failures and timeouts."""
        for attempt in range(1, GCS_MAX_ATTEMPTS + 1):
            try:
                return await call()
            except aiohttp.ClientResponseError as exc:
                if exc.status not in _RETRIED_STATUS or attempt == GCS_MAX_ATTEMPTS:
                    raise
            except (aiohttp.ClientError, TimeoutError):
                if attempt == GCS_MAX_ATTEMPTS:
                    raise
            cap = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** (attempt - 1))
            await asyncio.sleep(random.uniform(0, cap))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _reason(self, exc: Exception) -> str:
        if isinstance(exc, aiohttp.ClientResponseError):
            return f"{exc.status}: {_first_line(exc.message)}".rstrip()
        return f"{type(exc).__name__}: {_first_line(str(exc))}".rstrip()


@contextlib.asynccontextmanager
async def open_gcs_store(lake: CloudLake) -> AsyncIterator[GcsStore]:
    """A ``GcsStore`` on the lake's bucket and root whose client lives for the ``async with``.

    ``STORAGE_EMULATOR_HOST`` (``http://host:port``) in ``lake.environ`` points it at an
    emulator, without credentials; otherwise Application Default Credentials sign the requests.
    Each attempt may take ``GCS_CONNECT_TIMEOUT_S`` to connect and the lake's read timeout
    (``GCS_READ_TIMEOUT_S`` by default) to answer.
    """
    read_timeout_s = lake.read_timeout(GCS_READ_TIMEOUT_S)
    emulator = lake.environ.get("STORAGE_EMULATOR_HOST", "").strip()
    if emulator and not emulator.startswith(("http://", "https://")):
        emulator = f"http://{emulator}"
    timeout = aiohttp.ClientTimeout(sock_connect=GCS_CONNECT_TIMEOUT_S, sock_read=read_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        # Its stubs name requests' Session (the sync build); the aio build takes aiohttp's.
        client = Storage(session=session, api_root=emulator or None)  # type: ignore[arg-type]
        try:
            yield GcsStore(client, lake.container, lake.root, read_timeout_s=read_timeout_s)
        finally:
            await client.close()


class _StaleError(Exception):
    """The object is absent or its content is not the one the caller's ETag names."""


def _stored_md5(metadata: Mapping[str, Any]) -> str | None:
    stored = metadata.get("md5Hash")
    return '"' + base64.b64decode(stored).hex() + '"' if stored else None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
