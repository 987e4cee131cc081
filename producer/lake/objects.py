"""Step 5, sink: the object-store seam the writer and the checkpoint build on. No I/O.

Owns the ``ObjectStore`` base class (whole-object get/put/delete/list with S3 ETags and
conditional puts; it owns the public ``put`` and hands each store one ``ObjectWrite``), the
``StoredObject``, ``Precondition`` and ``ObjectWrite`` values, the MD5 ETag rule, and what every
implementation shares: the content type a key is stored with, the one-line ``StoreError`` naming
the key and the ``PreconditionFailedError`` of a refused conditional put. What only the cloud
stores share is in ``cloud.py``. The implementations live in ``store.py`` (``file://``, and
``open_store``), ``s3.py``, ``gcs.py`` and ``azure.py``; this module knows none.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath

from producer.errors import PreconditionFailedError, StoreError

__all__ = [
    "ObjectStore",
    "ObjectWrite",
    "Precondition",
    "StoredObject",
    "content_etag",
    "content_type",
    "md5_etag",
    "put_refused",
    "store_error",
]

_TYPES = {".gz": "application/gzip", ".zst": "application/zstd", ".json": "application/json"}


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes and the ETag they were read with (quoted, as S3 returns it)."""

    data: bytes
    etag: str


@dataclass(frozen=True)
class Precondition:
    """What a conditional put must find at its key: the object whose ETag is ``etag``
    (If-Match), or no object at all when ``etag`` is None (If-None-Match: ``*``).

    ``Precondition(etag)`` with the ETag a caller last read (None: it read nothing) is a
    compare-and-swap; ``create()`` and ``replacing(etag)`` name the two cases.
    """

    etag: str | None

    @classmethod
    def create(cls) -> Precondition:
        """Only create: refused when the key holds an object."""
        return cls(None)

    @classmethod
    def replacing(cls, etag: str) -> Precondition:
        """Only replace the object that has ``etag``: refused when it changed or is gone."""
        return cls(etag)

    @property
    def creates(self) -> bool:
        """True for a create-only put."""
        return self.etag is None


@dataclass(frozen=True)
class ObjectWrite:
    """One put as ``ObjectStore.put`` hands it to a store: ``data`` at ``key``, over whatever is
    there unless ``only_if`` says what must be, with ``metadata`` (which a store may not keep)."""

    key: str
    data: bytes
    only_if: Precondition | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def expected(self) -> str | None:
        """The ETag the object must have (If-Match), or None: a create-only or plain put."""
        return None if self.only_if is None else self.only_if.etag

    @property
    def creates(self) -> bool:
        """True for a create-only put (If-None-Match: ``*``)."""
        return self.only_if is not None and self.only_if.creates

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` the object is stored with (``content_type`` of its key)."""
        return content_type(self.key)

    @cached_property
    def md5(self) -> bytes:
        """The MD5 digest of ``data``, computed once."""
        return hashlib.md5(self.data, usedforsecurity=False).digest()

    @property
    def etag(self) -> str:
        """The MD5 ETag of ``data`` (``md5_etag``): what a store that keeps MD5s returns."""
        return '"' + self.md5.hex() + '"'


class ObjectStore(ABC):
    """Whole-object storage addressed by ``/``-separated keys relative to the lake root.

    ``put`` is atomic: readers see the old object or the new one, never a part, also when the
    caller is cancelled. A put whose ``Precondition`` does not hold raises
    ``PreconditionFailedError``; every other failure raises ``StoreError`` naming the key.
    A store implements ``_write``, which carries out the ``ObjectWrite`` of one ``put``.
    """

    description: str

    @abstractmethod
    async def get(self, key: str) -> StoredObject | None:
        """The object, or None if absent."""

    @abstractmethod
    async def etag(self, key: str) -> str | None:
        """The object's ETag (a HEAD), or None if absent."""

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        only_if: Precondition | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Write ``data``, over whatever is there unless ``only_if`` says what must be; returns
        the new ETag."""
        return await self._write(ObjectWrite(key, data, only_if, dict(metadata or {})))

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; an absent one is fine."""

    @abstractmethod
    async def list_keys(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix`` (a plain string prefix), sorted."""

    @abstractmethod
    async def _write(self, write: ObjectWrite) -> str:
        """Carry out ``write`` (see ``put``); returns the new ETag."""


def md5_etag(data: bytes) -> str:
    """The ETag S3 gives a single-part, unencrypted (or SSE-S3) upload of ``data``."""
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


async def content_etag(store: ObjectStore, key: str) -> str | None:
    """The ETag of the object's content, read whole: for an object stored without an MD5."""
    found = await store.get(key)
    return None if found is None else found.etag


def content_type(key: str) -> str:
    """The ``Content-Type`` a key is stored with, by its suffix."""
    return _TYPES.get(PurePosixPath(key).suffix, "application/octet-stream")


def store_error(description: str, operation: str, key: str, reason: str) -> StoreError:
    """The ``StoreError`` of a failed call: ``{store}: {operation} {key!r} failed: {reason}``."""
    return StoreError(f"{description}: {operation} {key!r} failed: {reason}")


def put_refused(description: str, key: str, reason: str) -> PreconditionFailedError:
    """The error of a put whose precondition the store refused, ``reason`` its own code."""
    return PreconditionFailedError(f"{description}: conditional put of {key!r} refused ({reason})")
