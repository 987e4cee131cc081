"""Where the lake is: ``MESH_LAKE_URL``'s one declaration, its parser and the key and bucket rules.

``LAKE_URL_DEFAULT`` and ``LakeLocation.parse`` are what every reader of ``MESH_LAKE_URL`` uses
(the daemon's model and the offline subsets); ``lake_prefix`` is the rule of every key prefix
(a domain's ``PREFIX``, the root of a cloud lake); ``bucket_problem`` the rule of a bucket or
container on each cloud; ``BUCKET_CHARS`` the characters any cloud's bucket may have (the cloud's
own rule is applied once the lake's scheme is known). ``default_contracts_dir`` is the default
of ``MESH_CONTRACTS_DIR``. Pure: it reads no environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator

__all__ = [
    "BUCKET_CHARS",
    "LAKE_URL_DEFAULT",
    "LakeLocation",
    "LakePrefix",
    "LakeUrl",
    "bucket_problem",
    "default_contracts_dir",
    "lake_prefix",
]

LAKE_URL_DEFAULT = "file://./lake"
BUCKET_CHARS = r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$"
"""Any cloud's bucket characters; ``bucket_problem`` applies the lake's own cloud rule."""
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PREFIX_MAX = 512  # S3 keys end at 1024 bytes; the layout below a prefix needs about 100


def lake_prefix(value: str) -> str:
    """``value`` as a key prefix of the lake (a domain's prefix, the root of an ``s3://`` lake).

    The one rule every reader of these variables applies, so a prefix that S3 or the
    ``file://`` store would refuse (or read differently) stops at configuration, not mid-run:
    segments of letters, digits, ``.``, ``_`` and ``-``, each starting with a letter or digit
    (no empty, ``.``, ``..`` or hidden segment), no leading ``/``; a trailing ``/`` is dropped.
    Raises ``ValueError`` saying what is wrong.
    """
    if value.startswith("/"):
        raise ValueError(f"{value!r} must not start with '/'")
    cleaned = value.rstrip("/")
    if not cleaned:
        raise ValueError("must not be empty")
    if len(cleaned) > _PREFIX_MAX:
        raise ValueError(f"must be at most {_PREFIX_MAX} characters")
    for segment in cleaned.split("/"):
        if not _SEGMENT_RE.match(segment):
            raise ValueError(
                f"segment {segment!r} of {value!r}: each '/'-separated segment is letters, "
                "digits, '.', '_' or '-' starting with a letter or digit "
                "(no empty, '.', '..' or hidden segment)"
            )
    return cleaned


LakePrefix = Annotated[str, AfterValidator(lake_prefix)]
"""A key prefix checked by ``lake_prefix`` (``MESH_{DOMAIN}__PREFIX``)."""


def _parsed_lake_url(value: str) -> str:
    LakeLocation.parse(value)
    return value


LakeUrl = Annotated[str, AfterValidator(_parsed_lake_url)]
"""``MESH_LAKE_URL``, checked by ``LakeLocation.parse`` (kept as given)."""


def default_contracts_dir() -> Path:
    """The project's ``config/contracts`` (next to the package in a checkout or the image)."""
    return Path(__file__).resolve().parents[2] / "config" / "contracts"


@dataclass(frozen=True, slots=True)
class LakeLocation:
    """Where the lake lives: ``s3://bucket[/root]``, ``az://container[/root]``,
    ``gs://bucket[/root]`` or ``file:///path`` (root is a key prefix)."""

    scheme: Literal["s3", "az", "gs", "file"]
    bucket: str  # the S3 or GCS bucket, or the Azure container
    root: str
    path: Path | None

    @classmethod
    def parse(cls, url: str) -> LakeLocation:
        """Parse ``MESH_LAKE_URL``; raises ``ValueError`` saying what is wrong."""
        for scheme, check in _BUCKET_RULES.items():
            if url.startswith(f"{scheme}://"):
                rest = url[len(scheme) + 3 :].strip("/")
                bucket, _, root = rest.partition("/")
                problem = check(bucket)
                if problem:
                    raise ValueError(problem)
                root = root.lstrip("/")  # s3://bucket//root: the double slash is not a segment
                return cls(scheme, bucket, lake_prefix(root) if root else "", None)  # type: ignore[arg-type]
        if url.startswith("file://"):
            raw = url[len("file://") :]
            if not raw:
                raise ValueError("file:// needs a path, e.g. file://./lake or file:///var/lake")
            return cls("file", "", "", Path(raw).expanduser())
        raise ValueError(
            "expected s3://bucket[/prefix], az://container[/prefix], gs://bucket[/prefix] "
            "or file:///path"
        )


def _s3_bucket_problem(name: str) -> str | None:
    if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", name):
        return f"{name!r} is not a valid S3 bucket name"
    return None


def _azure_container_problem(name: str) -> str | None:
    """Azure's rule: 3-63 lowercase letters, digits and single hyphens, letter or digit first."""
    if not re.match(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", name):
        return (
            f"{name!r} is not a valid Azure container name "
            "(3-63 lowercase letters, digits and single hyphens, starting and ending with "
            "a letter or digit)"
        )
    return None


def _gcs_bucket_problem(name: str) -> str | None:
    """GCS's rule: 3-63 characters (222 with dots, 63 per dot-separated part) of lowercase
    letters, digits, ``-``, ``_`` and ``.``, letter or digit at both ends, no ``goog`` prefix
    and no ``google``."""
    valid = re.match(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", name) is not None and (
        len(name) <= 63 or "." in name
    )
    if (
        not valid
        or any(not 0 < len(part) <= 63 for part in name.split("."))
        or name.startswith("goog")
        or "google" in name
    ):
        return f"{name!r} is not a valid GCS bucket name"
    return None


_BUCKET_RULES: dict[str, Callable[[str], str | None]] = {
    "s3": _s3_bucket_problem,
    "az": _azure_container_problem,
    "gs": _gcs_bucket_problem,
}


def bucket_problem(scheme: str, name: str) -> str | None:
    """Why ``name`` is no bucket (container) on the cloud of ``scheme``; None if it is one.

    ``file`` (or another scheme without a cloud) refuses nothing: such a lake has no buckets.
    """
    check = _BUCKET_RULES.get(scheme)
    return None if check is None else check(name)
