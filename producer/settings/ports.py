"""The offline subsets of configuration, and the lake commands' one: a domain's output port.

The commands that work on the lake or the contracts without running a domain (``status``,
``lake audit``, ``dlq replay``, ``backfill``'s port, ``contracts``, ``governance``) must run
without any domain's OAuth client or access key. Each reads a subset of the daemon's variables,
built here by ``offline_model`` from the one declaration of each variable in ``model``: the
process-wide fields (``MESH_LAKE_URL``, ``MESH_CONTRACTS_DIR`` ...) are ``Settings``' own and each
domain's port fields (``PREFIX``, ``BUCKET``, ``SCHEMA_VERSION`` ...) are ``DomainSettings``' with
the same rules (a value the daemon refuses, an offline command refuses too), unset when not
given (the domain's default is ``DOMAIN_MODELS``'). A subset built ``checked=False`` reads the
raw strings and checks them where used (``registry``, ``layout``). The domains are
``DOMAIN_NAMES``.

This module's subset is the lake commands': ``load_output_port(domain)`` gives ``OutputPort``
(lake, bucket, prefix, contracts folder, compression, schema version, part size, re-sweep,
platform). It reads the environment only; it must not open stores or load contracts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_settings import BaseSettings

from producer.errors import ConfigError
from producer.settings.env import MESH_ENV, one_line
from producer.settings.lake import LakeLocation, bucket_problem
from producer.settings.model import DOMAIN_MODELS, DomainSettings, Settings
from producer.settings.names import DEFAULT_PLATFORM, DOMAIN_NAMES, Platform

__all__ = ["OutputPort", "load_output_port", "offline_model"]

_LAKE_FIELDS = ("lake_url", "contracts_dir", "compression", "resweep_hours")
_PORT_FIELDS = (
    "prefix",
    "bucket",
    "schema_version",
    "part_max_records",
    "resweep_hours",
    "resweep_interval_seconds",
    "platform",
)


def _port_field(name: str, *, checked: bool) -> tuple[Any, Any]:
    """``DomainSettings``' field ``name`` as read offline: unset (None) unless given."""
    if not checked:
        return (str | None, None)
    field = DomainSettings.model_fields[name]
    inner: Any = (
        Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    )
    return (inner | None, None)


def _process_field(name: str, *, checked: bool) -> tuple[Any, Any]:
    """``Settings``' field ``name`` with its default; unchecked: its raw string."""
    field = Settings.model_fields[name]
    if not checked and field.annotation is str:
        return (str, field.default)
    if field.default_factory is not None:
        return (field.annotation, Field(default_factory=field.default_factory))
    inner: Any = (
        Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    )
    return (inner, field.default)


def offline_model(
    model_name: str,
    *,
    process: Iterable[str],
    port: Iterable[str],
    checked: bool = True,
) -> type[BaseSettings]:
    """A settings model reading only the ``process`` fields of ``Settings`` and, for every
    domain of ``DOMAIN_NAMES``, the ``port`` fields of ``DomainSettings`` (as a nested model
    that is always present; an unset field is None)."""
    port_fields = {name: _port_field(name, checked=checked) for name in port}
    port_model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{model_name}Port",
        __config__=ConfigDict(extra="ignore", frozen=True),
        **port_fields,
    )
    fields: dict[str, Any] = {name: _process_field(name, checked=checked) for name in process}
    fields.update(
        {domain: (port_model, Field(default_factory=port_model)) for domain in DOMAIN_NAMES}
    )
    built: type[BaseSettings] = create_model(model_name, __base__=_OfflineSettings, **fields)
    return built


class _OfflineSettings(BaseSettings):
    """The base of every offline subset: read as the daemon's model reads."""

    model_config = MESH_ENV


_LakeSettings = offline_model("LakeSettings", process=_LAKE_FIELDS, port=_PORT_FIELDS)


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
    platform: Platform = DEFAULT_PLATFORM  # whose mapper replays its dead letters

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
        settings: Any = _LakeSettings()
    except ValidationError as exc:
        raise ConfigError(one_line(exc)) from None
    port = getattr(settings, domain)
    lake = LakeLocation.parse(settings.lake_url)
    problem = None if port.bucket is None else bucket_problem(lake.scheme, port.bucket)
    if problem:
        raise ConfigError(f"MESH_{domain.upper()}__BUCKET: {problem}")
    defaults = DOMAIN_MODELS[domain].model_fields

    def given(name: str) -> Any:
        value = getattr(port, name)
        return defaults[name].default if value is None else value

    return OutputPort(
        domain=domain,
        lake=lake,
        bucket=port.bucket,
        prefix=given("prefix"),
        contracts_dir=settings.contracts_dir,
        compression=settings.compression,
        schema_version=port.schema_version,
        part_max_records=given("part_max_records"),
        resweep_hours=port.resweep_hours
        if port.resweep_hours is not None
        else settings.resweep_hours,
        resweep_interval_s=given("resweep_interval_seconds"),
        platform=given("platform"),
    )
