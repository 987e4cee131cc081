"""Configuration: the only module that reads the environment.

pydantic-settings models with prefix ``MESH_`` and nested delimiter ``__`` (DESIGN.md's table).
``load_settings()`` turns every validation problem into one ``ConfigError`` line that names the
environment variable and what is wrong, so the CLI can exit 2. Components receive their own slice
(``DomainSettings``, ``LakeLocation``), never the whole ``Settings``. Secrets are ``SecretStr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from producer.errors import ConfigError

__all__ = [
    "DOMAIN_NAMES",
    "SCHEMA_VERSIONS_PATTERN",
    "DomainSettings",
    "LakeLocation",
    "Priority",
    "QualitySettings",
    "Settings",
    "TelephonySettings",
    "WfmSettings",
    "default_contracts_dir",
    "load_settings",
]

Priority = Literal["high", "normal", "low"]
DomainName = Literal["telephony", "quality", "wfm"]
DOMAIN_NAMES: tuple[DomainName, ...] = ("telephony", "quality", "wfm")
SCHEMA_VERSIONS_PATTERN = r"^\d+\.\d+( *, *\d+\.\d+)?$"
"""``MAJOR.MINOR``, or two of them during a major migration (``1.0,2.0``)."""
_VERSION_RE = re.compile(SCHEMA_VERSIONS_PATTERN)


def default_contracts_dir() -> Path:
    """The project's ``config/contracts`` (next to the package in a checkout or the image)."""
    return Path(__file__).resolve().parents[1] / "config" / "contracts"


class DomainSettings(BaseModel):
    """One domain's own OAuth client, quota, priority and output port."""

    model_config = {"extra": "forbid", "frozen": True}

    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    rate_limit_per_minute: int = Field(default=240, gt=0, le=100_000)
    priority: Priority = "normal"
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    token_refresh_margin_seconds: float = Field(default=300.0, ge=0)
    schema_version: str | None = None
    job_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    page_size: int = Field(default=1000, gt=0, le=10_000)
    part_max_records: int = Field(default=50_000, gt=0)
    resweep_hours: float | None = Field(default=None, ge=0, le=24 * 14)
    resweep_interval_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("schema_version")
    @classmethod
    def _version_shape(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION_RE.match(value):
            raise ValueError(
                f"expected MAJOR.MINOR such as 1.0 (or two, 1.0,2.0, during a major migration), "
                f"got {value!r}"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/"):
            raise ValueError("must not contain '..'")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> DomainSettings:
        if self.client_secret is None and self.client_secret_file is None:
            raise ValueError("set CLIENT_SECRET or CLIENT_SECRET_FILE")
        if self.client_secret is not None and self.client_secret_file is not None:
            raise ValueError("set only one of CLIENT_SECRET and CLIENT_SECRET_FILE")
        path = self.client_secret_file
        if path is not None and not path.is_file():
            raise ValueError(f"CLIENT_SECRET_FILE {str(path)!r} is not a readable file")
        return self


class TelephonySettings(DomainSettings):
    """Telephony defaults: high priority, ``telephony-cdr-export``."""

    priority: Priority = "high"
    prefix: str = Field(default="telephony-cdr-export", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class QualitySettings(DomainSettings):
    """Quality defaults: normal priority, ``qms-scores-export``; windows by changed date."""

    priority: Priority = "normal"
    prefix: str = Field(default="qms-scores-export", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    page_size: int = Field(default=100, gt=0, le=10_000)
    settle_seconds: float = Field(default=120.0, ge=0)


class WfmSettings(DomainSettings):
    """WFM defaults: low priority, ``wfm-schedules-export``; weekly snapshots."""

    priority: Priority = "low"
    prefix: str = Field(default="wfm-schedules-export", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    business_units: Annotated[tuple[str, ...], NoDecode] = ()
    snapshot_seconds: float = Field(default=3600.0, gt=0)
    horizon_weeks: int = Field(default=2, ge=0, le=26)

    @field_validator("business_units", mode="before")
    @classmethod
    def _split_units(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


@dataclass(frozen=True, slots=True)
class LakeLocation:
    """Where the lake lives: ``s3://bucket[/root]`` or ``file:///path`` (root is a key prefix)."""

    scheme: Literal["s3", "file"]
    bucket: str
    root: str
    path: Path | None

    @classmethod
    def parse(cls, url: str) -> LakeLocation:
        """Parse ``MESH_LAKE_URL``; raises ``ValueError`` saying what is wrong."""
        if url.startswith("s3://"):
            rest = url[len("s3://") :].strip("/")
            bucket, _, root = rest.partition("/")
            if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
                raise ValueError(f"{bucket!r} is not a valid S3 bucket name")
            return cls("s3", bucket, root.strip("/"), None)
        if url.startswith("file://"):
            raw = url[len("file://") :]
            if not raw:
                raise ValueError("file:// needs a path, e.g. file://./lake or file:///var/lake")
            return cls("file", "", "", Path(raw).expanduser())
        raise ValueError("expected s3://bucket[/prefix] or file:///path")


class Settings(BaseSettings):
    """Every ``MESH_*`` variable. Build it with ``load_settings()`` to get one-line errors."""

    model_config = SettingsConfigDict(
        env_prefix="MESH_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
    )

    domains: Annotated[tuple[DomainName, ...], NoDecode] = DOMAIN_NAMES
    genesys_region: str = Field(default="mypurecloud.com", pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$")
    genesys_login_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    genesys_api_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    lake_url: str = "file://./lake"
    start_at: datetime | None = None
    window_seconds: int = Field(default=900, ge=60, le=86_400)
    http_port: int = Field(default=9108, ge=0, le=65_535)
    http_host: str = "0.0.0.0"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    contracts_dir: Path = Field(default_factory=default_contracts_dir)
    compression: Literal["gzip", "zstd"] = "gzip"
    shutdown_grace_seconds: float = Field(default=20.0, gt=0, le=3600)
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    request_retry_seconds: float = Field(default=300.0, gt=0)
    max_retry_after_seconds: float = Field(default=180.0, gt=0)
    resweep_hours: float | None = Field(default=None, ge=0)
    lease_seconds: float = Field(
        default=60.0,
        ge=8,
        le=3600,
        description="writer lease of a domain: a second writer waits this long after a crash; "
        "each lake write must finish within a quarter of it",
    )
    org_rate_limit_per_minute: int | None = Field(default=None, gt=0)
    admin_token: SecretStr | None = None
    alert_webhook_url: SecretStr | None = None  # a Slack webhook URL is itself a credential
    alert_threshold_ratio: float = Field(default=0.05, gt=0, le=1)
    alert_min_records: int = Field(default=50, ge=1)
    alert_window_seconds: int = Field(default=3600, gt=0)
    alert_cooldown_seconds: int | None = Field(
        default=None,
        gt=0,
        description="after an alert, no other for the same domain this long; "
        "unset: `MESH_ALERT_WINDOW_SECONDS`",
    )
    telephony: TelephonySettings | None = None
    quality: QualitySettings | None = None
    wfm: WfmSettings | None = None

    @field_validator("domains", mode="before")
    @classmethod
    def _split_domains(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = [part.strip().lower() for part in value.split(",") if part.strip()]
            if not names:
                raise ValueError("must name at least one domain")
            return tuple(dict.fromkeys(names))
        return value

    @field_validator("lake_url")
    @classmethod
    def _lake_shape(cls, value: str) -> str:
        LakeLocation.parse(value)
        return value

    @field_validator("start_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    @field_validator("window_seconds")
    @classmethod
    def _tiles_a_day(cls, value: int) -> int:
        if 86_400 % value:
            raise ValueError("must divide a day (86400) evenly, e.g. 300, 900, 3600")
        return value

    @model_validator(mode="after")
    def _enabled_domains_configured(self) -> Settings:
        for name in self.domains:
            if getattr(self, name) is None:
                raise ValueError(
                    f"MESH_{name.upper()}__CLIENT_ID: required because {name} is in MESH_DOMAINS"
                )
        return self

    @property
    def api_base_url(self) -> str:
        """Base URL of the platform API (explicit, or ``https://api.<region>``)."""
        return (self.genesys_api_url or f"https://api.{self.genesys_region}").rstrip("/")

    @property
    def login_base_url(self) -> str:
        """Base URL of the OAuth server (explicit, or ``https://login.<region>``)."""
        return (self.genesys_login_url or f"https://login.{self.genesys_region}").rstrip("/")

    @property
    def lake(self) -> LakeLocation:
        """The parsed ``MESH_LAKE_URL``."""
        return LakeLocation.parse(self.lake_url)

    def domain(self, name: str) -> DomainSettings:
        """The settings of an enabled domain."""
        found: DomainSettings | None = getattr(self, name)
        if found is None:
            raise KeyError(name)
        return found


def _variable(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not str(p).isdigit()]
    return "MESH_" + "__".join(p.upper() for p in parts) if parts else ""


def load_settings() -> Settings:
    """Build ``Settings`` from the environment, or raise a one-line ``ConfigError``.

    Every problem is named by its variable, e.g.
    ``MESH_WINDOW_SECONDS: must divide a day (86400) evenly``.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            variable = _variable(tuple(error["loc"]))
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{variable}: {message}" if variable else message)
        raise ConfigError("; ".join(problems)) from None
