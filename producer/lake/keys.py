"""Step 5, sink: the deterministic, Hive-style object keys of the lake. Pure, no I/O.

Owns the layout of DESIGN.md (data parts under ``v{MAJOR}``, DLQ parts under ``failed-records``,
the checkpoint under ``_state``, contracts under ``_registry``) and its inverse, ``parse_part_key``.
The same window and part always give the same key, so a re-run overwrites instead of duplicating.
Keys are relative to the lake root: the store adds the root (``s3://bucket/root``), not this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from typing import Literal

from producer.windows import Window, parse_instant

__all__ = [
    "DLQ_DIR",
    "LEASE_FILE",
    "MAX_PART",
    "OLDER_MAJOR_DLQ_FIRST_PART",
    "OLDER_MAJOR_DLQ_PARTS",
    "PRIMARY_DLQ_PARTS",
    "PUBLISHED_DIR",
    "STREAM_DLQ_FIRST_PART",
    "STREAM_DLQ_PARTS",
    "PartKey",
    "PartKind",
    "checkpoint_key",
    "data_key",
    "dlq_key",
    "extension",
    "parse_part_key",
    "published_key",
    "published_prefix",
    "registry_key",
    "window_part_prefix",
]

PartKind = Literal["data", "dlq"]

DLQ_DIR = "failed-records"
MAX_PART = 99_999  # five digits keep part keys sorting numerically
OLDER_MAJOR_DLQ_FIRST_PART = 80_000
"""DLQ parts from this number up hold the rejections of the older major written side by side.

During a major migration a window is written under two majors; each major's rejections are a
series of their own in the window's DLQ key space, so the newest major's (what the checkpoint
counts, what ``dlq replay`` and ``lake audit`` work on) stay exactly as with one major.
"""
STREAM_DLQ_FIRST_PART = 70_000
"""DLQ parts from this number up to ``OLDER_MAJOR_DLQ_FIRST_PART`` hold records the event stream
refused for good (reason ``too_large_for_stream``).

Those records are landed in the lake as well: they are a series of their own, so they are
neither counted as dead-lettered (fetched = landed + dead-lettered still holds) nor replayed,
and a re-export of the window leaves them to the bus step that wrote them.
"""
PRIMARY_DLQ_PARTS = range(STREAM_DLQ_FIRST_PART)
STREAM_DLQ_PARTS = range(STREAM_DLQ_FIRST_PART, OLDER_MAJOR_DLQ_FIRST_PART)
OLDER_MAJOR_DLQ_PARTS = range(OLDER_MAJOR_DLQ_FIRST_PART, MAX_PART + 1)

LEASE_FILE = "lease.json"  # in _state/: the domain's writer lease (producer/lake/lease.py)
PUBLISHED_DIR = "published"  # in _state/: the event stream's markers (producer/bus/published.py)

_EXTENSIONS = {"gzip": ".ndjson.gz", "zstd": ".ndjson.zst"}
_DOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_VERSION_RE = re.compile(r"^\d+\.\d+$")
_STAMP = r"\d{8}T\d{6}Z"
_PART_RE = re.compile(
    rf"^(?:(?P<prefix>.+)/)?(?:v(?P<major>\d+)|{DLQ_DIR})"
    rf"/dt=(?P<dt>\d{{4}}-\d{{2}}-\d{{2}})/hour=(?P<hour>\d{{2}})"
    rf"/(?P<domain>[a-z0-9][a-z0-9_]*)-(?P<start>{_STAMP})-(?P<end>{_STAMP})"
    rf"-part-(?P<part>\d{{5}})(?P<ext>\.ndjson\.(?:gz|zst))$"
)


@dataclass(frozen=True, slots=True)
class PartKey:
    """What a part key says: ``major`` is None for a DLQ part (failed records are not versioned)."""

    kind: PartKind
    prefix: str
    major: int | None
    domain: str
    window: Window
    part: int
    compression: str


def extension(compression: str) -> str:
    """``.ndjson.gz`` for gzip, ``.ndjson.zst`` for zstd; ``ValueError`` for anything else."""
    try:
        return _EXTENSIONS[compression]
    except KeyError:
        raise ValueError(f"unknown compression {compression!r} (gzip or zstd)") from None


def data_key(  # noqa: PLR0917 -- the positional signature is the agreed API
    prefix: str, major: int, domain: str, window: Window, part: int, compression: str = "gzip"
) -> str:
    """``{prefix}/v{major}/dt=YYYY-MM-DD/hour=HH/{domain}-{start}-{end}-part-{NNNNN}{ext}``.

    dt/hour come from the window start in UTC. Raises ``ValueError`` for a part outside
    0..99999, a negative major, an unknown compression or a malformed domain/prefix.
    """
    _check_part(part)
    return window_part_prefix("data", prefix, domain, window, major) + _suffix(part, compression)


def dlq_key(prefix: str, domain: str, window: Window, part: int, compression: str = "gzip") -> str:
    """``{prefix}/failed-records/dt=YYYY-MM-DD/hour=HH/{domain}-{start}-{end}-part-{NNNNN}{ext}``."""
    _check_part(part)
    return window_part_prefix("dlq", prefix, domain, window) + _suffix(part, compression)


def window_part_prefix(
    kind: PartKind, prefix: str, domain: str, window: Window, major: int | None = None
) -> str:
    """The key prefix shared by every part of one window and kind, whatever the compression.

    Listing it returns exactly that window's parts (``...{domain}-{start}-{end}-part-``); the
    writer uses it to find stale parts of an earlier attempt. ``major`` is required for data.
    """
    if not _DOMAIN_RE.match(domain):
        raise ValueError(f"domain {domain!r} must match {_DOMAIN_RE.pattern}")
    if kind == "data":
        if major is None or major < 0:
            raise ValueError(f"data parts need a major version >= 0, got {major!r}")
        folder = f"v{major}"
    else:
        folder = DLQ_DIR
    partition = window.start.astimezone(UTC).strftime("dt=%Y-%m-%d/hour=%H")
    return _join(_clean_prefix(prefix), folder, partition, f"{domain}-{window.label}-part-")


def parse_part_key(key: str) -> PartKey:
    """Inverse of ``data_key``/``dlq_key``; ``ValueError`` for a key that is not a part key."""
    match = _PART_RE.match(key)
    if match is None:
        raise ValueError(f"not a lake part key: {key!r}")
    window = Window(parse_instant(match["start"]), parse_instant(match["end"]))
    major = None if match["major"] is None else int(match["major"])
    compression = "gzip" if match["ext"].endswith(".gz") else "zstd"
    parsed = PartKey(
        kind="dlq" if major is None else "data",
        prefix=match["prefix"] or "",
        major=major,
        domain=match["domain"],
        window=window,
        part=int(match["part"]),
        compression=compression,
    )
    # The partition must agree with the window start, or the key was not made here.
    expected = window_part_prefix(
        parsed.kind, parsed.prefix, parsed.domain, window, parsed.major
    ) + _suffix(parsed.part, compression)
    if expected != key:
        raise ValueError(f"partition does not match the window start in {key!r}")
    return parsed


def checkpoint_key(prefix: str) -> str:
    """``{prefix}/_state/checkpoint.json``: one checkpoint per data product."""
    return _join(_clean_prefix(prefix), "_state", "checkpoint.json")


def published_prefix(prefix: str, major: int) -> str:
    """``{prefix}/_state/published/v{major}/``: the event stream's markers of one major."""
    return _join(_clean_prefix(prefix), "_state", PUBLISHED_DIR, f"v{major}") + "/"


def published_key(prefix: str, major: int, window: Window) -> str:
    """``{prefix}/_state/published/v{major}/{window label}.ids``: the event ids the stream took
    for one window (``producer/bus/published.py``)."""
    return f"{published_prefix(prefix, major)}{window.label}.ids"


def registry_key(domain: str, version: str) -> str:
    """``_registry/{domain}/{MAJOR.MINOR}.json``: shared by every product of the lake."""
    if not _DOMAIN_RE.match(domain):
        raise ValueError(f"domain {domain!r} must match {_DOMAIN_RE.pattern}")
    if not _VERSION_RE.match(version):
        raise ValueError(f"version {version!r} must be MAJOR.MINOR such as 1.0")
    return f"_registry/{domain}/{version}.json"


def _suffix(part: int, compression: str) -> str:
    return f"{part:05d}{extension(compression)}"


def _check_part(part: int) -> None:
    if not 0 <= part <= MAX_PART:
        raise ValueError(f"part number {part} outside 0..{MAX_PART}")


def _clean_prefix(prefix: str) -> str:
    cleaned = prefix.strip("/")
    if any(segment in ("", ".", "..") for segment in cleaned.split("/")) and cleaned:
        raise ValueError(f"prefix {prefix!r} has an empty, '.' or '..' segment")
    return cleaned


def _join(*segments: str) -> str:
    return "/".join(segment for segment in segments if segment)
