"""The slice of configuration the ``contracts`` commands read: lake, buckets, contracts folder.

Owns ``RegistrySettings``, a pydantic-settings model of only ``MESH_LAKE_URL``,
``MESH_CONTRACTS_DIR`` and ``MESH_{DOMAIN}__BUCKET``, so contract commands run in CI without a
domain's OAuth client. The lake URL and buckets are checked when used (``contracts check`` needs
neither). It reads the environment only; it must not open stores or load contracts.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from producer.errors import ConfigError
from producer.settings import LakeLocation, default_contracts_dir

__all__ = ["RegistrySettings", "load_registry_settings"]

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class _Port(BaseModel):
    """A domain's output port; every other ``MESH_{DOMAIN}__*`` variable is not ours."""

    model_config = {"extra": "ignore", "frozen": True}

    bucket: str | None = None


class RegistrySettings(BaseSettings):
    """Where the registry lives and where the contract files are. Build with the loader."""

    model_config = SettingsConfigDict(
        env_prefix="MESH_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
    )

    lake_url: str = "file://./lake"
    contracts_dir: Path = Field(default_factory=default_contracts_dir)
    telephony: _Port | None = None
    quality: _Port | None = None
    wfm: _Port | None = None

    @property
    def lake(self) -> LakeLocation:
        """The parsed ``MESH_LAKE_URL``; ``ConfigError`` naming the variable if it is wrong."""
        try:
            return LakeLocation.parse(self.lake_url)
        except ValueError as exc:
            raise ConfigError(f"MESH_LAKE_URL: {exc}") from None

    def bucket(self, domain: str) -> str | None:
        """``MESH_{DOMAIN}__BUCKET`` if set (the domain's own bucket), else None (the lake's)."""
        port = getattr(self, domain, None)
        bucket = (port.bucket if isinstance(port, _Port) else None) or None  # "" is unset
        if bucket is not None and not _BUCKET.match(bucket):
            raise ConfigError(
                f"MESH_{domain.upper()}__BUCKET: {bucket!r} is not a valid S3 bucket name"
            )
        return bucket


def load_registry_settings() -> RegistrySettings:
    """``RegistrySettings`` from the environment, or a one-line ``ConfigError``."""
    try:
        return RegistrySettings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            parts = [str(p).upper() for p in error["loc"] if not str(p).isdigit()]
            problems.append(f"MESH_{'__'.join(parts)}: {error['msg']}")
        raise ConfigError("; ".join(problems)) from None
