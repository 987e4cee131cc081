"""The ``contracts`` commands' subset of configuration: lake, buckets, contracts folder.

``load_registry_settings()`` reads only ``MESH_LAKE_URL``, ``MESH_CONTRACTS_DIR`` and
``MESH_{DOMAIN}__BUCKET`` (an ``offline_model`` of the daemon's declarations, unchecked), so
contract commands run in CI without a domain's OAuth client. The lake URL and buckets are
checked when used (``contracts check`` needs neither). It reads the environment only; it must
not open stores or load contracts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from producer.errors import ConfigError
from producer.settings.env import one_line
from producer.settings.lake import LakeLocation, bucket_problem
from producer.settings.names import DOMAIN_NAMES
from producer.settings.ports import offline_model

__all__ = ["RegistrySettings", "load_registry_settings"]

_RegistryEnv = offline_model(
    "RegistryEnv", process=("lake_url", "contracts_dir"), port=("bucket",), checked=False
)


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    """Where the registry lives and where the contract files are. Build with the loader."""

    lake_url: str
    contracts_dir: Path
    buckets: Mapping[str, str | None]

    @property
    def lake(self) -> LakeLocation:
        """The parsed ``MESH_LAKE_URL``; ``ConfigError`` naming the variable if it is wrong."""
        try:
            return LakeLocation.parse(self.lake_url)
        except ValueError as exc:
            raise ConfigError(f"MESH_LAKE_URL: {exc}") from None

    def bucket(self, domain: str) -> str | None:
        """``MESH_{DOMAIN}__BUCKET`` if set (the domain's own bucket), else None (the lake's)."""
        bucket = self.buckets.get(domain) or None  # "" is unset
        problem = None if bucket is None else bucket_problem("s3", bucket)
        if problem:
            raise ConfigError(f"MESH_{domain.upper()}__BUCKET: {problem}")
        return bucket


def load_registry_settings() -> RegistrySettings:
    """``RegistrySettings`` from the environment, or a one-line ``ConfigError``."""
    try:
        env: Any = _RegistryEnv()
    except ValidationError as exc:
        raise ConfigError(one_line(exc)) from None
    return RegistrySettings(
        lake_url=env.lake_url,
        contracts_dir=env.contracts_dir,
        buckets={domain: getattr(env, domain).bucket for domain in DOMAIN_NAMES},
    )
