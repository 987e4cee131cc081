"""Step 5, sink: the object-store seam the writer and the checkpoint build on. No I/O.

Owns the ``ObjectStore`` protocol (whole-object get/put/delete/list with S3 ETags and conditional
puts), the ``StoredObject`` value, the MD5 ETag rule, and what every implementation shares: the
content type a key is stored with and the one-line ``StoreError`` naming the key. The
implementations live in ``store.py`` (``file://``, and ``open_store``), ``s3.py``, ``gcs.py`` and
``azure.py``; this module knows none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from producer.errors import StoreError

__all__ = [
    "ObjectStore",
    "StoredObject",
    "check_conditions",
    "content_etag",
    "content_type",
    "md5_etag",
    "store_error",
]

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


def check_conditions(if_match: str | None, if_none_match: bool) -> None:
    """``ValueError`` when a put asks for both conditions (they exclude each other)."""
    if if_match is not None and if_none_match:
        raise ValueError("if_match and if_none_match exclude each other")


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
