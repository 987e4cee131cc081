"""Step 5, sink: the object store under the lake, ``s3://`` (aiobotocore) or ``file://``.

Owns the ``ObjectStore`` seam and its two implementations: whole-object get/put/delete/list with
S3 ETags and conditional puts (If-Match, If-None-Match), which the writer and the checkpoint CAS
build on. It knows nothing of keys, windows or formats. The only module importing aiobotocore;
it never creates an S3 client outside ``open_store`` and never logs credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from producer.errors import ConfigError, PreconditionFailedError, StoreError
from producer.settings import LakeLocation

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client

__all__ = ["FileStore", "ObjectStore", "S3Store", "StoredObject", "md5_etag", "open_store"]

_PRECONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_ABSENT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_TYPES = {".gz": "application/gzip", ".zst": "application/zstd", ".json": "application/json"}


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes and the ETag they were read with (quoted, as S3 returns it)."""

    data: bytes
    etag: str


class ObjectStore(Protocol):
    """Whole-object storage addressed by ``/``-separated keys relative to the lake root.

    ``put`` is atomic: readers see the old object or the new one, never a part, also when the
    caller is cancelled. Conditional puts raise ``PreconditionFailedError``; every other failure
    raises ``StoreError`` naming the key.
    """

    description: str

    async def get(self, key: str) -> StoredObject | None:
        """The object, or None if absent."""
        ...

    async def etag(self, key: str) -> str | None:
        """The object's ETag (a HEAD), or None if absent."""
        ...

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Write ``data``; returns the new ETag.

        ``if_match``: only replace the object that has this ETag. ``if_none_match``: only create.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; an absent one is fine."""
        ...

    async def list_keys(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix`` (a plain string prefix), sorted."""
        ...


def md5_etag(data: bytes) -> str:
    """The ETag S3 gives a single-part, unencrypted (or SSE-S3) upload of ``data``."""
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


class FileStore:
    """An ``ObjectStore`` on a local directory (``file://``), with the same layout as on S3.

    Writes go to a hidden temp file in the target's directory, are fsynced, then renamed into
    place. If-None-Match is an exclusive create (``os.link``); If-Match, plain puts and deletes of
    an existing key lock it with ``flock`` and re-check the inode, so conditional writes are safe
    across processes on one host. ETags are quoted MD5 hex, as on S3. Object metadata is not
    kept. Blocking I/O runs in worker threads; a cancelled call still finishes its atomic step.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.description = self.root.as_uri()

    async def get(self, key: str) -> StoredObject | None:
        return await asyncio.to_thread(self._get, key)

    async def etag(self, key: str) -> str | None:
        found = await self.get(key)
        return None if found is None else found.etag

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        _check_conditions(if_match, if_none_match)
        return await asyncio.to_thread(self._put, key, data, if_match, if_none_match)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def list_keys(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    def _path(self, key: str) -> Path:
        segments = key.split("/")
        if any(not segment or segment.startswith(".") for segment in segments) or "\0" in key:
            raise ValueError(f"key {key!r} has an empty or hidden ('.') segment")
        return self.root.joinpath(*segments)

    def _get(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StoreError(f"{self.description}: get {key!r} failed: {exc.strerror}") from exc
        return StoredObject(data, md5_etag(data))

    def _put(self, key: str, data: bytes, if_match: str | None, if_none_match: bool) -> str:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = _write_temp(path, data)
            try:
                if if_none_match:
                    try:
                        os.link(temp, path)  # atomic create-exclusive, never replaces
                    except FileExistsError:
                        raise PreconditionFailedError(
                            f"{self.description}: {key!r} already exists"
                        ) from None
                else:
                    with _locked(path) as current:
                        if if_match is not None and (
                            current is None or _etag_of(current) != if_match
                        ):
                            raise PreconditionFailedError(
                                f"{self.description}: {key!r} is not at the expected ETag"
                            )
                        os.replace(temp, path)
                _fsync_dir(path.parent)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        except PreconditionFailedError:
            raise
        except OSError as exc:
            raise StoreError(f"{self.description}: put {key!r} failed: {exc.strerror}") from exc
        return md5_etag(data)

    def _delete(self, key: str) -> None:
        path = self._path(key)
        try:
            with _locked(path) as current:
                if current is not None:
                    path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        except OSError as exc:
            raise StoreError(f"{self.description}: delete {key!r} failed: {exc.strerror}") from exc

    def _list(self, prefix: str) -> list[str]:
        folder = prefix.rpartition("/")[0]
        start = self._path(folder) if folder else self.root
        keys: list[str] = []
        for directory, subdirs, files in os.walk(start):
            subdirs[:] = [name for name in subdirs if not name.startswith(".")]
            relative = Path(directory).relative_to(self.root).as_posix()
            base = "" if relative == "." else relative + "/"
            keys.extend(
                base + name
                for name in files
                if not name.startswith(".") and (base + name).startswith(prefix)
            )
        return sorted(keys)


class S3Store:
    """An ``ObjectStore`` on an S3 bucket through an aiobotocore client the caller owns.

    ``root`` is a key prefix inside the bucket (``s3://bucket/root``). Conditional puts use
    ``IfMatch`` / ``IfNoneMatch="*"``; a 412 (or a 409 ConditionalRequestConflict, or a 404 for
    If-Match on a missing key) raises ``PreconditionFailedError``. botocore's own retries apply
    (tuned by the standard ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS``); what is left is ``StoreError``.
    """

    def __init__(self, client: S3Client, bucket: str, root: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.root = root.strip("/")
        self.description = f"s3://{bucket}/{self.root}" if self.root else f"s3://{bucket}"

    async def get(self, key: str) -> StoredObject | None:
        try:
            response = await self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            async with response["Body"] as body:
                data = await body.read()
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) in _ABSENT_CODES:
                return None
            raise self._failure("get", key, exc) from exc
        return StoredObject(data, response["ETag"])

    async def etag(self, key: str) -> str | None:
        try:
            response = await self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) in _ABSENT_CODES:
                return None
            raise self._failure("head", key, exc) from exc
        return response["ETag"]

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        _check_conditions(if_match, if_none_match)
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "Body": data,
            "ContentType": _content_type(key),
        }
        if metadata:
            request["Metadata"] = dict(metadata)
        if if_match is not None:
            request["IfMatch"] = if_match
        if if_none_match:
            request["IfNoneMatch"] = "*"
        try:
            response = await self._client.put_object(**request)
        except (ClientError, BotoCoreError) as exc:
            code = _code(exc)
            conditional = if_match is not None or if_none_match
            if conditional and (
                code in _PRECONDITION_CODES or (if_match is not None and code in _ABSENT_CODES)
            ):
                raise PreconditionFailedError(
                    f"{self.description}: conditional put of {key!r} refused ({code})"
                ) from None
            raise self._failure("put", key, exc) from exc
        return response["ETag"]

    async def delete(self, key: str) -> None:
        try:
            await self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) not in _ABSENT_CODES:
                raise self._failure("delete", key, exc) from exc

    async def list_keys(self, prefix: str) -> list[str]:
        cut = len(self.root) + 1 if self.root else 0
        keys: list[str] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                keys.extend(item["Key"][cut:] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("list", prefix, exc) from exc
        return sorted(keys)

    def _key(self, key: str) -> str:
        return f"{self.root}/{key}" if self.root else key

    def _failure(self, operation: str, key: str, exc: Exception) -> StoreError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return StoreError(f"{self.description}: {operation} {key!r} failed: {reason}")


@contextlib.asynccontextmanager
async def open_store(
    location: LakeLocation, bucket: str | None = None
) -> AsyncIterator[ObjectStore]:
    """The store for ``location``, open for the duration of the ``async with``.

    ``file``: a ``FileStore`` on ``location.path``. ``s3``: an aiobotocore S3 client configured
    by the standard AWS chain (``AWS_ENDPOINT_URL_S3``, region, credentials, IRSA web identity),
    closed on exit; ``bucket`` overrides the lake's bucket (a domain's own output port).
    """
    if location.scheme == "file":
        if location.path is None:
            raise ConfigError("MESH_LAKE_URL: file:// needs a path")
        yield FileStore(location.path)
        return
    session = get_session()
    # botocore reads only AWS_DEFAULT_REGION; every other AWS SDK also honours AWS_REGION.
    region = session.get_config_variable("region") or os.environ.get("AWS_REGION")
    async with session.create_client("s3", region_name=region) as client:
        yield S3Store(client, bucket or location.bucket, location.root)


def _check_conditions(if_match: str | None, if_none_match: bool) -> None:
    if if_match is not None and if_none_match:
        raise ValueError("if_match and if_none_match exclude each other")


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code or str(status or "")
    return ""


def _content_type(key: str) -> str:
    return _TYPES.get(Path(key).suffix, "application/octet-stream")


def _write_temp(path: Path, data: bytes) -> Path:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return temp


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int | None]:
    """Hold an exclusive ``flock`` on the file currently at ``path`` (None if there is none).

    The file may be replaced between our open and our lock; then the lock is on an orphan
    inode, so re-check that ``path`` still names the locked inode and retry if not.
    """
    while True:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                continue
            locked = os.fstat(fd)
            if (current.st_ino, current.st_dev) != (locked.st_ino, locked.st_dev):
                continue
            yield fd
            return
        finally:
            os.close(fd)
    yield None


def _etag_of(fd: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 20):
        digest.update(chunk)
    return '"' + digest.hexdigest() + '"'
