"""Step 3 (map): the result type every domain mapper returns.

A mapper turns one source object into a contract record or a rejection; it never raises. The
worker sends ``ok`` results on to validation and everything else to the dead-letter path with
its issues and stage. Pure value type: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from producer.contracts.validate import Issue

__all__ = ["Mapped"]


@dataclass(frozen=True)
class Mapped:
    """The result of mapping one source object.

    ``record`` set and no ``issues``: mapped OK (``stage`` is ``"mapping"``). Otherwise rejected
    at ``stage`` ``"parse"`` (source unusable, ``record`` None) or ``"mapping"`` (``record``
    holds what could be mapped, for the DLQ).
    """

    record: dict[str, Any] | None
    issues: tuple[Issue, ...]
    stage: str

    @property
    def ok(self) -> bool:
        """True when the source mapped to a record with no issues."""
        return self.record is not None and not self.issues
