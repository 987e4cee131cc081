"""Governance, where each data product lives: its bucket and key prefixes, as producers see them.

``read_layout()`` takes only ``MESH_LAKE_URL`` and ``MESH_{DOMAIN}__PREFIX`` / ``__BUCKET`` /
``__STREAM`` (from ``producer.settings.layout``, with the defaults and rules of
``producer.settings``), so policies can be rendered without any OAuth client variable. A stream
must be given by its ARN there (a policy needs the account and region a ``kinesis://NAME``
lacks). ``LakeLayout`` is pure:
the key prefix of every area of every domain (data per major, DLQ, checkpoint state, registry)
and its stream ARNs. It never reads secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import TypeAdapter, ValidationError

from producer.errors import ConfigError
from producer.lake.keys import DLQ_DIR
from producer.settings import (
    DOMAIN_MODELS,
    DomainSettings,
    LakeLocation,
    bucket_problem,
    lake_prefix,
)
from producer.settings.layout import load_layout_ports

__all__ = ["DomainPort", "LakeLayout", "build_layout", "read_layout"]

STATE_DIR = "_state"
_STREAM_ARN = re.compile(r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[a-zA-Z0-9_.-]{1,128}$")
REGISTRY_DIR = "_registry"


@dataclass(frozen=True, slots=True)
class DomainPort:
    """One domain's output port: ``bucket``, ``base`` (lake root + prefix) and registry folder."""

    domain: str
    bucket: str
    base: str
    registry: str
    streams: tuple[str, ...] = ()  # the ARNs of its event streams (AWS), one per major

    def data(self, major: int) -> str:
        """Key prefix of one major's data: ``{base}/v{major}/``."""
        return f"{self.base}/v{major}/"

    @property
    def data_any(self) -> str:
        """Key prefix shared by every major's data folder: ``{base}/v``."""
        return f"{self.base}/v"

    @property
    def dead_letters(self) -> str:
        """Key prefix of the DLQ: ``{base}/failed-records/``."""
        return f"{self.base}/{DLQ_DIR}/"

    @property
    def state(self) -> str:
        """Key prefix of the checkpoint: ``{base}/_state/``."""
        return f"{self.base}/{STATE_DIR}/"

    @property
    def registry_dir(self) -> str:
        """Key prefix of the domain's registry entries: ``{root}/_registry/{domain}/``."""
        return f"{self.registry}/"


@dataclass(frozen=True, slots=True)
class LakeLayout:
    """Every domain's port in an S3 lake; ``root`` is the key prefix of ``MESH_LAKE_URL``."""

    root: str
    ports: Mapping[str, DomainPort]
    scheme: str = "s3"  # s3, az (the bucket is a container) or gs

    @property
    def buckets(self) -> frozenset[str]:
        """Every bucket some domain writes to."""
        return frozenset(port.bucket for port in self.ports.values())

    def in_bucket(self, bucket: str) -> list[DomainPort]:
        """The ports living in ``bucket``, in domain order."""
        return [port for port in self.ports.values() if port.bucket == bucket]


def build_layout(
    lake_url: str,
    outputs: Mapping[str, tuple[str, str | None]],
    *,
    streams: Mapping[str, tuple[str, ...]] | None = None,
) -> LakeLayout:
    """The layout for ``lake_url`` and each domain's ``(prefix, bucket or None)``, and the
    stream ARNs of the domains that publish events (``streams``).

    Raises ``ConfigError`` naming the variable: a lake that is not ``s3://``, an invalid prefix
    or bucket, or two domains whose prefixes nest (one producer could then write the other's data).
    """
    try:
        location = LakeLocation.parse(lake_url)
    except ValueError as exc:
        raise ConfigError(f"MESH_LAKE_URL: {exc}") from None
    if location.scheme == "file":
        raise ConfigError(
            "MESH_LAKE_URL: access policies need an s3:// lake (or az://, gs://), not file://"
        )
    ports: dict[str, DomainPort] = {}
    for domain, (given_prefix, given_bucket) in outputs.items():
        try:
            prefix = lake_prefix(given_prefix)
        except ValueError as exc:
            raise ConfigError(f"MESH_{domain.upper()}__PREFIX: {exc}") from None
        bucket = location.bucket
        if given_bucket is not None:
            bucket = _validated(domain, "bucket", given_bucket)
            problem = bucket_problem(location.scheme, bucket)
            if problem:
                raise ConfigError(f"MESH_{domain.upper()}__BUCKET: {problem}")
        ports[domain] = DomainPort(
            domain=domain,
            bucket=bucket,
            base=_join(location.root, prefix),
            registry=_join(location.root, REGISTRY_DIR, domain),
            streams=(streams or {}).get(domain, ()),
        )
    _check_disjoint(list(ports.values()))
    return LakeLayout(root=location.root, ports=ports, scheme=location.scheme)


def read_layout() -> LakeLayout:
    """The layout from the environment the producers use, for every known domain.

    Reads ``MESH_LAKE_URL``, ``MESH_{DOMAIN}__PREFIX`` and ``MESH_{DOMAIN}__BUCKET`` only; the
    defaults are those of ``producer.settings``. Raises ``ConfigError`` naming the variable.
    """
    given = load_layout_ports()
    streams = {domain: _stream_arns(domain, value) for domain, value in given.streams.items()}
    return build_layout(given.lake_url, given.outputs, streams=streams)


def _stream_arns(domain: str, value: str) -> tuple[str, ...]:
    """``MESH_{DOMAIN}__STREAM`` as ARNs; ``ConfigError`` for a name without its ARN."""
    arns = tuple(part.strip() for part in value.split(","))
    for stream in arns:
        if not _STREAM_ARN.match(stream):
            raise ConfigError(
                f"MESH_{domain.upper()}__STREAM: policies need each stream's ARN "
                f"(arn:aws:kinesis:REGION:ACCOUNT:stream/NAME), got {stream!r}"
            )
    return arns


def _validated(domain: str, field: str, value: str) -> str:
    """``value`` checked against the producer's own rule for this field."""
    rule = DOMAIN_MODELS.get(domain, DomainSettings).model_fields[field]
    try:
        checked: str = TypeAdapter(Annotated[str, rule]).validate_python(value)
    except ValidationError as exc:
        message = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise ConfigError(f"MESH_{domain.upper()}__{field.upper()}: {message}") from None
    return checked


def _check_disjoint(ports: list[DomainPort]) -> None:
    for index, port in enumerate(ports):
        for other in ports[index + 1 :]:
            if port.bucket != other.bucket:
                continue
            a, b = port.base + "/", other.base + "/"
            if a.startswith(b) or b.startswith(a):
                raise ConfigError(
                    f"MESH_{other.domain.upper()}__PREFIX: {other.base!r} and {port.domain}'s "
                    f"{port.base!r} nest in bucket {port.bucket}: each domain needs its own prefix"
                )


def _join(*segments: str) -> str:
    return "/".join(segment for segment in segments if segment)
