"""Step 5, sink: what the three cloud object stores share, below their SDKs. No I/O.

Owns ``CloudLake`` (where a cloud store's opener opens it: ``store.open_store`` builds one),
``ObjectNames`` (keys under a root in a bucket or container) and ``CloudStore``, the
``ObjectStore`` base of ``s3.py``, ``gcs.py`` and ``azure.py``: the names and description of
its bucket or container, and the one-line ``StoreError`` of a failed call, worded from the
SDK's exception by the store's own ``_reason``. It knows no SDK.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from producer.errors import StoreError
from producer.lake.objects import ObjectStore, store_error

__all__ = ["CloudLake", "CloudStore", "ObjectNames"]


@dataclass(frozen=True)
class CloudLake:
    """Where a cloud store's opener opens it: a bucket or container, the root inside it (no
    ``/`` needed at either end), the environment its client is configured from, and how long a
    call may wait for an answer per attempt (None: the store's own default)."""

    container: str
    root: str
    environ: Mapping[str, str]
    read_timeout_s: float | None = None

    def read_timeout(self, default: float) -> float:
        """``read_timeout_s``, or the store's ``default`` where it is None."""
        return default if self.read_timeout_s is None else self.read_timeout_s


@dataclass(frozen=True)
class ObjectNames:
    """How a cloud store names the lake's objects: each key under ``root`` (no ``/`` at either
    end) in one bucket or container, ``{scheme}://{container}/{root}`` for people."""

    scheme: str
    container: str
    root: str = ""

    @classmethod
    def under(cls, scheme: str, container: str, root: str) -> ObjectNames:
        """The names under ``root`` as a lake URL gives it (a ``/`` at either end is dropped)."""
        return cls(scheme, container, root.strip("/"))

    @property
    def description(self) -> str:
        """``{scheme}://{container}/{root}``, or ``{scheme}://{container}`` without a root."""
        base = f"{self.scheme}://{self.container}"
        return f"{base}/{self.root}" if self.root else base

    def name(self, key: str) -> str:
        """The object name of ``key`` (or of a key prefix)."""
        return f"{self.root}/{key}" if self.root else key

    def key(self, name: str) -> str:
        """The key of a listed object: its name without the root."""
        return name[len(self.root) + 1 :] if self.root else name


class CloudStore(ObjectStore):
    """An ``ObjectStore`` on one bucket or container of a cloud, its keys under a root.

    ``description`` is ``{scheme}://{container}/{root}``; ``_failure`` is the ``StoreError`` of
    a failed call, its reason in the words of the store's ``_reason``.
    """

    def __init__(self, scheme: str, container: str, root: str) -> None:
        self._names = ObjectNames.under(scheme, container, root)
        self.description = self._names.description

    def _failure(self, operation: str, key: str, exc: Exception) -> StoreError:
        """The ``StoreError`` of ``operation`` on ``key``, which failed with ``exc``."""
        return store_error(self.description, operation, key, self._reason(exc))

    @abstractmethod
    def _reason(self, exc: Exception) -> str:
        """What went wrong, in one line, as the SDK's ``exc`` says it."""
