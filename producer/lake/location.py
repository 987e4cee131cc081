"""Where a domain's data product lives, for the commands that work on the lake offline.

Owns ``PortSettings``: a pydantic-settings model of only ``MESH_LAKE_URL``, ``MESH_CONTRACTS_DIR``,
``MESH_COMPRESSION``, ``MESH_RESWEEP_HOURS`` and each domain's ``MESH_{DOMAIN}__PREFIX``/
``__BUCKET``/``__SCHEMA_VERSION``/``__PART_MAX_RECORDS``/``__RESWEEP_*``/``__PLATFORM``, so
``status``, ``lake audit`` and ``dlq replay`` run without a domain's OAuth client (the platform
picks the mapper a replay uses). Defaults are the daemon's own (``producer.settings``). It reads
the environment only; it must not open stores or load contracts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from producer.errors import ConfigError
from producer.settings import (
    DOMAIN_NAMES,
    SCHEMA_VERSIONS_PATTERN,
    DomainSettings,
    LakeLocation,
    Platform,
    QualitySettings,
    TelephonySettings,
    WfmSettings,
    bucket_problem,
    default_contracts_dir,
    lake_prefix,
)

__all__ = ["OutputPort", "PortSettings", "load_output_port"]

_DEFAULTS: dict[str, type[DomainSettings]] = {
    "telephony": TelephonySettings,
    "quality": QualitySettings,
    "wfm": WfmSettings,
}


class _Port(BaseModel):
    """A domain's output port; its other ``MESH_{DOMAIN}__*`` variables are not read here."""

    model_config = {"extra": "ignore", "frozen": True}

    prefix: str | None = None
    # Any cloud's characters; load_output_port applies the lake's own cloud rule.
    bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
    schema_version: str | None = Field(default=None, pattern=SCHEMA_VERSIONS_PATTERN)
    part_max_records: int | None = Field(default=None, gt=0)
    resweep_hours: float | None = Field(default=None, ge=0)
    resweep_interval_seconds: float | None = Field(default=None, gt=0)
    platform: Platform = "genesys"

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str | None) -> str | None:
        return None if value is None else lake_prefix(value)


class PortSettings(BaseSettings):
    """The lake, the contracts folder and every domain's output port. Build with the loader."""

    model_config = SettingsConfigDict(
        env_prefix="MESH_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
    )

    lake_url: str = "file://./lake"
    contracts_dir: Path = Field(default_factory=default_contracts_dir)
    compression: Literal["gzip", "zstd"] = "gzip"
    resweep_hours: float | None = Field(default=None, ge=0)
    telephony: _Port = Field(default_factory=_Port)
    quality: _Port = Field(default_factory=_Port)
    wfm: _Port = Field(default_factory=_Port)

    @field_validator("lake_url")
    @classmethod
    def _lake_shape(cls, value: str) -> str:
        LakeLocation.parse(value)
        return value


@dataclass(frozen=True, slots=True)
class OutputPort:
    """One domain's data product in the lake: where it is and how the producer writes it.

    ``bucket`` None means the lake's own bucket; ``schema_version`` None means the newest
    contract. ``resweep_hours`` None means the domain's default (the domain's value, else
    ``MESH_RESWEEP_HOURS``); ``resweep_interval_s`` is the daemon's. ``description`` names it for
    humans (``s3://bucket[/root]/prefix``, never secrets).
    """

    domain: str
    lake: LakeLocation
    bucket: str | None
    prefix: str
    contracts_dir: Path
    compression: str
    schema_version: str | None
    part_max_records: int
    resweep_hours: float | None = None
    resweep_interval_s: float = 3600.0
    platform: Platform = "genesys"  # whose mapper replays its dead letters

    @property
    def description(self) -> str:
        """``s3://bucket/root/prefix`` (or ``az://``, ``gs://``) or ``file:///path/prefix``."""
        if self.lake.scheme == "file":
            assert self.lake.path is not None  # LakeLocation.parse guarantees it for file://
            base = self.lake.path.expanduser().absolute().as_uri()
        else:
            base = f"{self.lake.scheme}://{self.bucket or self.lake.bucket}"
            if self.lake.root:
                base += f"/{self.lake.root}"
        return f"{base}/{self.prefix}" if self.prefix else base


def load_output_port(domain: str) -> OutputPort:
    """``domain``'s output port from the environment, or a one-line ``ConfigError``.

    Unknown domains and bad values are named by their variable, e.g.
    ``MESH_TELEPHONY__PREFIX: segment '.' of 'a/./b': ...``.
    """
    if domain not in DOMAIN_NAMES:
        raise ConfigError(f"--domain: {domain!r} is not one of {', '.join(DOMAIN_NAMES)}")
    try:
        settings = PortSettings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            parts = [str(p).upper() for p in error["loc"] if not str(p).isdigit()]
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"MESH_{'__'.join(parts)}: {message}")
        raise ConfigError("; ".join(problems)) from None
    port: _Port = getattr(settings, domain)
    lake = LakeLocation.parse(settings.lake_url)
    problem = None if port.bucket is None else bucket_problem(lake.scheme, port.bucket)
    if problem:
        raise ConfigError(f"MESH_{domain.upper()}__BUCKET: {problem}")
    defaults = _DEFAULTS[domain].model_fields
    prefix = port.prefix if port.prefix is not None else str(defaults["prefix"].default)
    part_max = port.part_max_records or int(defaults["part_max_records"].default)
    return OutputPort(
        domain=domain,
        lake=lake,
        bucket=port.bucket,
        prefix=prefix,
        contracts_dir=settings.contracts_dir,
        compression=settings.compression,
        schema_version=port.schema_version,
        part_max_records=part_max,
        resweep_hours=port.resweep_hours
        if port.resweep_hours is not None
        else settings.resweep_hours,
        resweep_interval_s=port.resweep_interval_seconds
        or float(defaults["resweep_interval_seconds"].default),
        platform=port.platform,
    )
