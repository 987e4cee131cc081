"""Governance, reading a policy back: which area of which data product an S3 resource reaches.

``place()`` maps a bucket and key pattern (an ARN's key part or a listing prefix) to an ``Area``
(data of one major or of every major, dead letters, checkpoint state, registry, or a whole
product) or says why it is no area: outside the lake, or a wildcard spanning the lake root or
several domains. Pure; it only follows the ``LakeLayout`` and IAM's ``*``/``?`` wildcards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from producer.governance.ports import DomainPort, LakeLayout

__all__ = ["Area", "AreaKind", "Unplaced", "arn", "parse_s3_arn", "place"]

AreaKind = Literal["data", "dead-letters", "state", "registry", "product"]

_WILDCARDS = re.compile(r"[*?$]")  # $ starts a policy variable: its value is not known here
_DATA_MAJOR = re.compile(r"^v(\d+)/")
_DATA_ANY = re.compile(r"^v\d*$")
_ARN = re.compile(r"^arn:(?P<partition>[^:]+):s3:::(?P<bucket>[^/]+)(?:/(?P<key>.*))?$")


@dataclass(frozen=True, slots=True)
class Area:
    """A part of one domain's product; ``major`` only for data (None: every major)."""

    kind: AreaKind
    domain: str
    major: int | None = None

    def describe(self) -> str:
        """Human words for the area, e.g. ``telephony data v1`` or ``wfm dead letters``."""
        if self.kind == "data":
            major = "of every major" if self.major is None else f"v{self.major}"
            return f"{self.domain} data {major}"
        names = {"dead-letters": "dead letters (failed-records/)", "state": "checkpoint state"}
        return f"{self.domain} {names.get(self.kind, self.kind)}"


@dataclass(frozen=True, slots=True)
class Unplaced:
    """A resource that is no area: ``outside`` the lake's products, or ``too-broad`` a wildcard."""

    reason: Literal["outside", "too-broad"]
    detail: str


def arn(partition: str, bucket: str, key: str | None = None) -> str:
    """``arn:{partition}:s3:::{bucket}`` or, with a key (pattern), ``.../{key}``."""
    return f"arn:{partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def parse_s3_arn(resource: str) -> tuple[str, str, str | None] | None:
    """``(partition, bucket, key or None)`` of an S3 ARN, or None when it is not one."""
    match = _ARN.match(resource)
    if match is None:
        return None
    return match["partition"], match["bucket"], match["key"]


def place(layout: LakeLayout, bucket: str, pattern: str) -> Area | Unplaced:
    """The area that every key matching ``pattern`` in ``bucket`` belongs to.

    A wildcard must sit inside one area of one product (``.../v1/*``, ``.../failed-records/*``),
    or at least inside one product (``{prefix}/*`` gives ``product``); one that reaches above a
    product (``*``, ``{root}/*``, ``{root}/tele*``) is ``too-broad``.
    """
    if _WILDCARDS.search(bucket):
        return Unplaced("too-broad", f"the bucket name {bucket!r} is a wildcard")
    ports = layout.in_bucket(bucket)
    if not ports:
        return Unplaced("outside", f"bucket {bucket!r} holds no data product of this lake")
    found = _WILDCARDS.search(pattern)
    head = pattern if found is None else pattern[: found.start()]
    wild = found is not None
    for port in ports:
        for folder in (port.base + "/", port.registry_dir):
            if wild and folder.startswith(head) and head != folder:
                detail = f"{pattern!r} reaches above {port.domain}'s {folder!r}"
                return Unplaced("too-broad", detail)
    for port in ports:
        area = _in_port(port, head, wild)
        if area is not None:
            return area
    return Unplaced("outside", f"{pattern!r} is in no domain's product folder")


def _in_port(port: DomainPort, head: str, wild: bool) -> Area | None:
    folders: tuple[tuple[AreaKind, str], ...] = (
        ("registry", port.registry_dir),
        ("dead-letters", port.dead_letters),
        ("state", port.state),
    )
    for kind, folder in folders:
        if head.startswith(folder):
            return Area(kind, port.domain)
    base = port.base + "/"
    if not head.startswith(base):
        return None
    rest = head[len(base) :]
    major = _DATA_MAJOR.match(rest)
    if major is not None:
        return Area("data", port.domain, int(major[1]))
    if not wild:
        return None
    if _DATA_ANY.match(rest):
        return Area("data", port.domain, None)
    names = (port.dead_letters[len(base) :], port.state[len(base) :], "v")
    return Area("product", port.domain) if any(n.startswith(rest) for n in names) else None
