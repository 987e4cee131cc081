"""Simulator request checks: a required date field of a request body, read as an aware instant.

The quality search and the WFM agent-schedule search refuse a date field the same way: missing
or empty, not ISO-8601, or without an offset. Only their wording differs (reference §6.2, §7),
so each route module states its own ``InstantErrors`` and ``required_instant`` applies them,
raising ``BadRequest`` (a 400) as the platform answers. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from producer.platforms.genesys.simulator.responses import BadRequest

__all__ = ["InstantErrors", "required_instant"]


@dataclass(frozen=True, slots=True)
class InstantErrors:
    """How one API words a refused date field: ``str.format`` templates over ``name`` (the
    field) and ``value`` (what was sent); the code of a missing field varies by API, the code
    of an unreadable or offset-less one is always ``invalid.date``."""

    missing_code: str
    missing: str
    invalid: str
    naive: str


def required_instant(value: Any, name: str, errors: InstantErrors) -> datetime:
    """``value`` as a timezone-aware datetime; ``BadRequest`` worded by ``errors`` otherwise."""
    if not isinstance(value, str) or not value:
        raise BadRequest(errors.missing_code, errors.missing.format(name=name))
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest("invalid.date", errors.invalid.format(name=name, value=value)) from None
    if when.tzinfo is None:
        raise BadRequest("invalid.date", errors.naive.format(name=name, value=value))
    return when
