"""Step 5, sink: the object-store seam the writer and the checkpoint build on. No I/O.

Owns the ``ObjectStore`` protocol (whole-object get/put/delete/list with S3 ETags and conditional
puts), the ``StoredObject`` value and the MD5 ETag rule. The implementations live in
``store.py`` (``file://``, and ``open_store``) and ``s3.py`` (``s3://``); this module knows none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ObjectStore", "StoredObject", "check_conditions", "md5_etag"]


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
