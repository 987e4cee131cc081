"""Step 3 (map) for NICE CXone: the contract's UUID for a CXone contact id. Pure.

The contracts key an interaction by a UUID (``interaction_id``, Quality's ``conversation_id``);
CXone numbers its contacts (``contactId``, an integer, reference §2.1; the QM export's ``acdId``
column holds the same number). ``contact_uuid`` is the name-based UUID (RFC 4122 version 5) of
``cxone-contact:{contactId}`` in ``NAMESPACE``: deterministic, so the Telephony record and the
Quality record of one contact carry the same id and join, and any consumer can compute it from
a CXone contact id. It is never confused with a Genesys conversationId (version 4).
"""

from __future__ import annotations

import uuid
from typing import Any

__all__ = ["NAMESPACE", "contact_number", "contact_uuid"]

NAMESPACE = uuid.UUID("5c6f1d2e-8a47-5b1e-9c3d-4e0f6a7b8c9d")
"""Fixed for ever: changing it would change every published CXone interaction id."""


def contact_number(value: Any) -> int | None:
    """A CXone contact id as an int: a non-negative integer, or its decimal string (CSV)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    return None


def contact_uuid(number: int) -> str:
    """The contract UUID of CXone contact ``number`` (module docstring)."""
    return str(uuid.uuid5(NAMESPACE, f"cxone-contact:{number}"))
