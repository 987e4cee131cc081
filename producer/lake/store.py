"""Step 5, sink: the object store under the lake: ``file://`` here, ``s3://`` in ``s3.py``,
``az://`` in ``azure.py``, ``gs://`` in ``gcs.py`` (a cloud's module and SDK imported only for
such a lake, by ``load_store_code`` or at first use). A new backend is its store module and one
row of ``_CLOUD_STORES``.

Owns ``FileStore`` (the ``ObjectStore`` seam of ``objects.py`` on a local directory, same layout
as on S3, crash-safe: atomic renames, and orphaned temp files of a killed writer swept later)
and ``open_store``, which opens the right store for a lake URL. It knows nothing of keys,
windows or formats. Re-exports the seam so callers import one module.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import cast

from producer.errors import ConfigError, PreconditionFailedError
from producer.lake.cloud import CloudLake
from producer.lake.objects import (
    ObjectStore,
    ObjectWrite,
    Precondition,
    StoredObject,
    content_etag,
    md5_etag,
    store_error,
)
from producer.settings import LakeLocation

__all__ = [
    "OBJECT_MODE",
    "ORPHAN_TEMP_AGE_S",
    "FileStore",
    "ObjectStore",
    "Precondition",
    "StoredObject",
    "load_store_code",
    "md5_etag",
    "open_store",
]

# A temp file this old is an orphan of a killed writer (a live put renames its temp within
# seconds, even for a 50 000-line part), so the next put of the same key removes it.
ORPHAN_TEMP_AGE_S = 600.0
OBJECT_MODE = 0o640
"""Mode of a new object, less the umask: lake objects hold raw source data, never world-readable."""


class FileStore(ObjectStore):
    """An ``ObjectStore`` on a local directory (``file://``), with the same layout as on S3.

    Writes go to a hidden temp file in the target's directory, are fsynced, then renamed into
    place; a writer killed mid-put leaves only its hidden temp file, which the store never lists
    and the next put in that directory removes once older than ``ORPHAN_TEMP_AGE_S``.
    If-None-Match is an exclusive create (``os.link``); If-Match, plain puts and deletes of an
    existing key lock it with ``flock`` and re-check the inode, so conditional writes are safe
    across processes on one host. Objects are created ``OBJECT_MODE`` (0640) less the umask.
    ETags are quoted MD5 hex, as on S3. Object metadata is not kept. Blocking I/O runs in worker
    threads; a cancelled call still finishes its atomic step.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.description = self.root.as_uri()

    async def get(self, key: str) -> StoredObject | None:
        return await asyncio.to_thread(self._get, key)

    async def etag(self, key: str) -> str | None:
        return await content_etag(self, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def list_keys(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    async def _write(self, write: ObjectWrite) -> str:
        return await asyncio.to_thread(self._put, write)

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
            raise store_error(self.description, "get", key, str(exc.strerror)) from exc
        return StoredObject(data, md5_etag(data))

    def _put(self, write: ObjectWrite) -> str:
        key, only_if = write.key, write.only_if
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = _write_temp(path, write.data)
            try:
                if write.creates:
                    try:
                        os.link(temp, path)  # atomic create-exclusive, never replaces
                    except FileExistsError:
                        raise PreconditionFailedError(
                            f"{self.description}: {key!r} already exists"
                        ) from None
                else:
                    with _locked(path) as current:
                        if only_if is not None and (
                            current is None or _etag_of(current) != only_if.etag
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
            raise store_error(self.description, "put", key, str(exc.strerror)) from exc
        _sweep_orphans(path.parent)
        return write.etag

    def _delete(self, key: str) -> None:
        path = self._path(key)
        try:
            with _locked(path) as current:
                if current is not None:
                    path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        except OSError as exc:
            raise store_error(self.description, "delete", key, str(exc.strerror)) from exc

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


# A cloud store module's opener (``open_s3_store``, ``open_azure_store``, ``open_gcs_store``):
# its store on a ``CloudLake``, open for the ``async with``.
_CloudOpener = Callable[[CloudLake], contextlib.AbstractAsyncContextManager[ObjectStore]]


# Each cloud scheme's store module and its opener (a ``_CloudOpener``), imported at first use.
_CLOUD_STORES: dict[str, tuple[str, str]] = {
    "s3": ("producer.lake.s3", "open_s3_store"),
    "az": ("producer.lake.azure", "open_azure_store"),
    "gs": ("producer.lake.gcs", "open_gcs_store"),
}


@contextlib.asynccontextmanager
async def open_store(
    location: LakeLocation,
    bucket: str | None = None,
    *,
    read_timeout_s: float | None = None,
) -> AsyncIterator[ObjectStore]:
    """The store for ``location``, open for the duration of the ``async with``.

    ``file``: a ``FileStore`` on ``location.path``. ``s3``: an ``S3Store`` whose client is
    configured by the standard AWS chain (``AWS_ENDPOINT_URL_S3``, region, credentials, IRSA web
    identity) with bounded retries and timeouts (``s3.open_s3_store``), closed on exit.
    ``az``: an ``AzureBlobStore`` (``azure.open_azure_store``: the account from ``AZURE_STORAGE_*``,
    the default Azure credential chain). ``gs``: a ``GcsStore`` (``gcs.open_gcs_store``:
    Application Default Credentials, ``STORAGE_EMULATOR_HOST``). ``bucket`` overrides the lake's
    bucket or container (a domain's own output port); ``read_timeout_s`` bounds a cloud store's
    wait for an answer (None: the store's own default).
    """
    if location.scheme == "file":
        if location.path is None:
            raise ConfigError("MESH_LAKE_URL: file:// needs a path")
        yield FileStore(location.path)
        return
    module, name = _CLOUD_STORES[location.scheme]
    opener = cast(_CloudOpener, getattr(importlib.import_module(module), name))
    lake = CloudLake(bucket or location.bucket, location.root, os.environ, read_timeout_s)
    async with opener(lake) as store:
        yield store


def load_store_code(location: LakeLocation) -> None:
    """Import the store module and SDK ``location`` needs now (a second or more), not at its
    first use: the daemon calls it before it says it started, so a lake pays for its own cloud's
    SDK only, and before the first window."""
    if location.scheme in _CLOUD_STORES:
        importlib.import_module(_CLOUD_STORES[location.scheme][0])


def _sweep_orphans(directory: Path) -> None:
    """Remove temp files of killed writers in ``directory``; best effort, never raises."""
    cutoff = time.time() - ORPHAN_TEMP_AGE_S
    with contextlib.suppress(OSError):
        for temp in directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()


def _write_temp(path: Path, data: bytes) -> Path:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, OBJECT_MODE)
        with open(fd, "wb") as handle:
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
