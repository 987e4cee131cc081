"""Step 5, sink: the ``s3://`` object store, on aiobotocore, with bounded retries.

Owns ``S3Store`` (the ``ObjectStore`` seam on a bucket: conditional puts by If-Match and
If-None-Match) and ``open_s3_store``, the only place an S3 client is created, with deliberate
timeouts and retries so a slow or failing S3 fails the window in bounded time instead of hanging
it. The only module importing aiobotocore/botocore; it knows nothing of keys, windows or formats
and never logs credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from producer.lake.cloud import CloudLake, CloudStore
from producer.lake.objects import ObjectWrite, StoredObject, put_refused

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client

__all__ = [
    "S3_CONNECT_TIMEOUT_S",
    "S3_MAX_ATTEMPTS",
    "S3_READ_TIMEOUT_S",
    "S3Store",
    "open_s3_store",
]

# Attempts per S3 call (botocore "standard" mode: exponential backoff with full jitter, capped
# at 20 s, retrying 500/502/503/504, SlowDown and other throttling codes, resets and timeouts).
# Five attempts wait about 7 s in all on average and 15 s at most between them.
S3_MAX_ATTEMPTS = 5
S3_CONNECT_TIMEOUT_S = 10.0
S3_READ_TIMEOUT_S = 30.0  # per attempt; botocore's 60 s default doubles a stalled window's time
_TRANSPORT_ATTEMPTS = 3  # for what botocore does not retry: see S3Store._transport_retried
_TRANSPORT_RETRY_S = 0.2
_T = TypeVar("_T")

_PRECONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_ABSENT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3Store(CloudStore):
    """An ``ObjectStore`` on an S3 bucket through an aiobotocore client the caller owns.

    ``root`` is a key prefix inside the bucket (``s3://bucket/root``). Conditional puts use
    ``IfMatch`` / ``IfNoneMatch="*"``; a 412 (or a 409 ConditionalRequestConflict, or a 404 for
    If-Match on a missing key) raises ``PreconditionFailedError``. botocore's own retries apply
    (see ``open_s3_store``); a response body cut short, which they never see, is retried here.
    What is left is a ``StoreError`` naming the key.
    """

    def __init__(self, client: S3Client, bucket: str, root: str = "") -> None:
        super().__init__("s3", bucket, root)
        self._client = client
        self.bucket = bucket

    async def get(self, key: str) -> StoredObject | None:
        async def fetch() -> StoredObject | None:
            response = await _unless_absent(
                self._client.get_object(Bucket=self.bucket, Key=self._names.name(key))
            )
            if response is None:
                return None
            try:
                async with response["Body"] as body:
                    data = await body.read()
            except BotoCoreError as exc:  # botocore's retries end with the headers
                raise _ShortBodyError(f"{type(exc).__name__}: {exc}") from exc
            return StoredObject(data, response["ETag"])

        return await self._called("get", key, fetch)

    async def etag(self, key: str) -> str | None:
        async def head() -> str | None:
            response = await _unless_absent(
                self._client.head_object(Bucket=self.bucket, Key=self._names.name(key))
            )
            return None if response is None else response["ETag"]

        return await self._called("head", key, head)

    async def delete(self, key: str) -> None:
        async def delete() -> None:
            await self._client.delete_object(Bucket=self.bucket, Key=self._names.name(key))

        try:
            await self._transport_retried("delete", key, delete)
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) not in _ABSENT_CODES:
                raise self._failure("delete", key, exc) from exc

    async def list_keys(self, prefix: str) -> list[str]:

        async def list_all() -> list[str]:
            keys: list[str] = []
            paginator = self._client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(
                Bucket=self.bucket, Prefix=self._names.name(prefix)
            ):
                keys.extend(self._names.key(item["Key"]) for item in page.get("Contents", []))
            return keys

        return sorted(await self._called("list", prefix, list_all))

    async def _write(self, write: ObjectWrite) -> str:
        key, only_if = write.key, write.only_if
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._names.name(key),
            "Body": write.data,
            "ContentType": write.content_type,
        }
        if write.metadata:
            request["Metadata"] = dict(write.metadata)
        if write.expected is not None:
            request["IfMatch"] = write.expected
        elif write.creates:
            request["IfNoneMatch"] = "*"

        async def put() -> str:
            response = await self._client.put_object(**request)
            return response["ETag"]

        try:
            return await self._transport_retried("put", key, put)
        except (ClientError, BotoCoreError) as exc:
            code = _code(exc)
            if only_if is not None and (
                code in _PRECONDITION_CODES or (not only_if.creates and code in _ABSENT_CODES)
            ):
                raise put_refused(self.description, key, code) from None
            raise self._failure("put", key, exc) from exc

    async def _called(self, operation: str, key: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """``call()`` with its transport retries; what S3 still answers with an error, or
        botocore raises, becomes the ``StoreError`` of ``operation`` on ``key``."""
        try:
            return await self._transport_retried(operation, key, call)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(operation, key, exc) from exc

    async def _transport_retried(
        self, operation: str, key: str, call: Callable[[], Awaitable[_T]]
    ) -> _T:
        """``call()``, retrying the transport failures botocore's own retries never see.

        A response body cut short surfaces after botocore's retry loop (a streamed GET body) or
        as aiohttp's ``ClientPayloadError``, which aiobotocore does not wrap (an error body).
        Those are retried ``_TRANSPORT_ATTEMPTS`` times, then raise ``StoreError``.
        ``ClientError``/``BotoCoreError`` pass through to the caller; cancellation too.
        """
        for attempt in range(1, _TRANSPORT_ATTEMPTS + 1):
            try:
                return await call()
            except (ClientError, BotoCoreError):
                raise
            except Exception as exc:  # aiohttp's, unwrapped; never CancelledError
                if attempt == _TRANSPORT_ATTEMPTS:
                    raise self._failure(operation, key, exc) from exc
                await asyncio.sleep(_TRANSPORT_RETRY_S * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _reason(self, exc: Exception) -> str:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
        return f"{type(exc).__name__}: {exc}"


@contextlib.asynccontextmanager
async def open_s3_store(lake: CloudLake) -> AsyncIterator[S3Store]:
    """An ``S3Store`` on the lake's bucket and root whose client lives for the ``async with``.

    The client is configured by the standard AWS chain (``AWS_ENDPOINT_URL_S3``, region,
    credentials, IRSA web identity). Retries: botocore's ``standard`` mode with
    ``S3_MAX_ATTEMPTS`` attempts, unless ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS`` (or the profile)
    say otherwise; each attempt may take ``S3_CONNECT_TIMEOUT_S`` to connect and the lake's read
    timeout (``S3_READ_TIMEOUT_S`` by default) to answer. So every call returns or raises
    ``StoreError`` in bounded time. ``lake.environ`` is where ``AWS_REGION`` is looked up;
    botocore reads the rest of the chain from the process environment itself.
    """
    session = get_session()
    # botocore reads only AWS_DEFAULT_REGION; every other AWS SDK also honours AWS_REGION.
    region = session.get_config_variable("region") or lake.environ.get("AWS_REGION")
    config = _client_config(session, lake.read_timeout(S3_READ_TIMEOUT_S))
    async with session.create_client("s3", region_name=region, config=config) as client:
        yield S3Store(client, lake.container, lake.root)


def _client_config(session: AioSession, read_timeout_s: float) -> AioConfig:
    """Timeouts always; retry mode and attempts only where the operator set none."""
    retries: dict[str, Any] = {}
    if not (os.environ.get("AWS_RETRY_MODE") or session.get_scoped_config().get("retry_mode")):
        retries["mode"] = "standard"
    if session.get_config_variable("max_attempts") is None:
        retries["total_max_attempts"] = S3_MAX_ATTEMPTS
    return AioConfig(
        retries=retries or None,  # botocore fills in what is missing from the chain
        connect_timeout=S3_CONNECT_TIMEOUT_S,
        read_timeout=read_timeout_s,
    )


class _ShortBodyError(Exception):
    """A streamed body ended early: retried like any transport failure botocore did not see."""


async def _unless_absent(request: Awaitable[_T]) -> _T | None:
    """What ``request`` answers, or None where S3 says its key is absent."""
    try:
        return await request
    except ClientError as exc:
        if _code(exc) in _ABSENT_CODES:
            return None
        raise


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code or str(status or "")
    return ""
