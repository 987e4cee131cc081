"""The daemon's settings model: every ``MESH_*`` variable ``mesh-producer run`` reads.

pydantic-settings models with prefix ``MESH_`` and nested delimiter ``__`` (DESIGN.md's table).
``load_settings()`` turns every validation problem into one ``ConfigError`` line that names the
environment variable and what is wrong, so the CLI can exit 2. Components receive their own slice
(``DomainSettings``, ``LakeLocation``), never the whole ``Settings``. Secrets are ``SecretStr``.
Each platform's variables are declared in its folder and composed in by ``settings.platforms``
(the ``Platform*Fields`` bases); this module names no platform.
``DOMAIN_MODELS`` is each domain's model (its defaults: prefix, priority ...), which the offline
subsets (``ports``, ``registry``, ``layout``) take their defaults from.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode

from producer.errors import ConfigError
from producer.settings.base import readable_file
from producer.settings.env import MESH_ENV, one_line
from producer.settings.lake import (
    BUCKET_CHARS,
    LAKE_URL_DEFAULT,
    LakeLocation,
    LakePrefix,
    LakeUrl,
    bucket_problem,
    default_contracts_dir,
)
from producer.settings.names import DEFAULT_PLATFORM, DOMAIN_NAMES, DomainName
from producer.settings.platforms import (
    PLATFORM_RULES,
    PlatformDomainFields,
    PlatformProcessFields,
    PlatformQualityFields,
    PlatformTelephonyFields,
    PlatformWfmFields,
)

__all__ = [
    "DOMAIN_MODELS",
    "SCHEMA_VERSIONS_PATTERN",
    "DomainSettings",
    "Priority",
    "QualitySettings",
    "Settings",
    "TelephonySettings",
    "WfmSettings",
    "default_prefix",
    "load_settings",
]

Priority = Literal["high", "normal", "low"]
SCHEMA_VERSIONS_PATTERN = r"^\d+\.\d+( *, *\d+\.\d+)?$"
"""``MAJOR.MINOR``, or two of them during a major migration (``1.0,2.0``)."""
_VERSION_RE = re.compile(SCHEMA_VERSIONS_PATTERN)
_STREAM_RE = re.compile(
    r"^(kinesis://[a-zA-Z0-9_.-]{1,128}"
    r"|arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[a-zA-Z0-9_.-]{1,128})$"
)
_EMAIL = r"^[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+$"
_ADMIN_TOKEN_MIN = 16
_TOKEN_RE = re.compile(r"^[!-~]+$")  # visible ASCII: what any client sends as a header value


def _schema_versions(value: str | None) -> str | None:
    if value is not None and not _VERSION_RE.match(value):
        raise ValueError(
            f"expected MAJOR.MINOR such as 1.0 (or two, 1.0,2.0, during a major migration), "
            f"got {value!r}"
        )
    return value


SchemaVersions = Annotated[str | None, AfterValidator(_schema_versions)]
"""``SCHEMA_VERSION``: ``MAJOR.MINOR``, or two during a major migration; None: the newest."""


class DomainSettings(PlatformDomainFields):
    """One domain's own source platform and credentials, quota, priority and output port.

    ``platform`` picks the source; each platform's variables (its credentials, its extractors'
    knobs) are its mixin's, composed by ``settings.platforms`` from
    ``producer/platforms/{name}/settings.py``, with its checks. The other platforms' variables
    are not read. The fields declared here apply on every platform.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit_per_minute: int = Field(default=240, gt=0, le=100_000)
    priority: Priority = "normal"
    prefix: LakePrefix = ""
    # Any cloud's characters here; the lake's own cloud rule in _buckets_of_the_lake_cloud.
    bucket: str | None = Field(default=None, pattern=BUCKET_CHARS)
    token_refresh_margin_seconds: float = Field(default=300.0, ge=0)
    schema_version: SchemaVersions = None
    job_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    job_max_wait_seconds: float = Field(
        default=1800.0,
        gt=0,
        le=86_400,
        description="an analytics job not fulfilled after this long fails its window (retried)",
    )
    max_pages_per_window: int = Field(
        default=10_000,
        gt=0,
        description="a window whose results run past this many pages fails (a cursor that "
        "never ends)",
    )
    page_size: int = Field(default=1000, gt=0, le=10_000)
    part_max_records: int = Field(default=50_000, gt=0)
    resweep_hours: float | None = Field(default=None, ge=0, le=24 * 14)
    resweep_interval_seconds: float = Field(default=3600.0, gt=0)
    alert_email_to: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="this domain's dead-letter alert recipients, comma-separated; unset: "
        "`MESH_ALERT_EMAIL_TO`",
    )
    stream: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="the domain's event stream: `kinesis://NAME` or the stream's ARN; during a "
        "major migration one per version of `SCHEMA_VERSION`, comma-separated and in the same "
        "order (`kinesis://tel-v1,kinesis://tel-v2`); unset: no event bus",
    )

    @field_validator("alert_email_to", mode="before")
    @classmethod
    def _split_recipients(cls, value: Any) -> Any:
        return _recipients(value)

    @field_validator("stream", mode="before")
    @classmethod
    def _split_streams(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(","))
        return value

    @field_validator("stream")
    @classmethod
    def _stream_shape(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for stream in value:
            if not _STREAM_RE.match(stream):
                raise ValueError(
                    f"expected kinesis://STREAM_NAME or arn:aws:kinesis:REGION:ACCOUNT:stream/NAME,"
                    f" got {stream!r}"
                )
        versions = info.data.get("schema_version")
        majors = len(versions.split(",")) if versions else 1
        if value and len(value) != majors:
            raise ValueError(
                f"one stream per major written ({majors}: SCHEMA_VERSION={versions or 'newest'}),"
                f" in the order of SCHEMA_VERSION; got {len(value)}"
            )
        return value

    def stream_for(self, version: str) -> str | None:
        """The stream (a name or an ARN) carrying ``version``'s events, or None (no bus)."""
        if not self.stream:
            return None
        versions = [v.strip() for v in (self.schema_version or version).split(",")]
        if version not in versions:
            return None
        stream = self.stream[versions.index(version)]
        return stream.removeprefix("kinesis://")


def _recipients(value: Any) -> Any:
    """Comma-separated addresses → a tuple; each must look like an address."""
    if isinstance(value, str):
        value = tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, tuple | list):
        for address in value:
            if not isinstance(address, str) or not re.match(_EMAIL, address):
                raise ValueError(f"{address!r} is not an email address")
        return tuple(value)
    return value


def _divides_a_day(value: int | None) -> int | None:
    if value is not None and 86_400 % value:
        raise ValueError("must divide a day (86400) evenly, e.g. 300, 900, 3600")
    return value


class _WindowedFields(BaseModel):
    """The window length of a domain exported in consecutive windows (Telephony, Quality)."""

    window_seconds: int | None = Field(
        default=None,
        ge=60,
        le=86_400,
        description="this domain's window length; must divide a day (86400) evenly; unset: "
        "`MESH_WINDOW_SECONDS` (a daily window suits Quality on CXone: one Data Extraction job a "
        "day, docs/nice.md)",
    )

    @field_validator("window_seconds")
    @classmethod
    def _tiles_a_day(cls, value: int | None) -> int | None:
        return _divides_a_day(value)


class TelephonySettings(PlatformTelephonyFields, _WindowedFields, DomainSettings):
    """Telephony defaults: high priority, ``telephony-cdr-export``."""

    domain_name: ClassVar[str] = "telephony"

    priority: Priority = "high"
    prefix: LakePrefix = "telephony-cdr-export"


class _QualityFields(BaseModel):
    """Quality's own variables: a base listed after the platforms', so they come first."""

    settle_seconds: float = Field(default=120.0, ge=0)


class QualitySettings(PlatformQualityFields, _QualityFields, _WindowedFields, DomainSettings):
    """Quality defaults: normal priority, ``qms-scores-export``; windows by changed date."""

    domain_name: ClassVar[str] = "quality"

    priority: Priority = "normal"
    prefix: LakePrefix = "qms-scores-export"
    page_size: int = Field(default=100, gt=0, le=10_000)


class WfmSettings(PlatformWfmFields, DomainSettings):
    """WFM defaults: low priority, ``wfm-schedules-export``; weekly snapshots."""

    domain_name: ClassVar[str] = "wfm"

    priority: Priority = "low"
    prefix: LakePrefix = "wfm-schedules-export"
    business_units: Annotated[tuple[str, ...], NoDecode] = ()
    snapshot_seconds: float = Field(default=3600.0, gt=0)
    horizon_weeks: int = Field(default=2, ge=0, le=26)

    @field_validator("business_units", mode="before")
    @classmethod
    def _split_units(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class _EnabledDomains(BaseModel):
    """``MESH_DOMAINS``: a base listed after the platforms', so it comes first (in
    ``docs/configuration.md`` and in a line reporting several problems)."""

    domains: Annotated[tuple[DomainName, ...], NoDecode] = DOMAIN_NAMES

    @field_validator("domains", mode="before")
    @classmethod
    def _split_domains(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = [part.strip().lower() for part in value.split(",") if part.strip()]
            if not names:
                raise ValueError("must name at least one domain")
            unknown = [name for name in names if name not in DOMAIN_NAMES]
            if unknown:
                raise ValueError(
                    f"{', '.join(map(repr, unknown))} is not a domain; "
                    f"valid: {', '.join(DOMAIN_NAMES)}"
                )
            return tuple(dict.fromkeys(names))
        return value


class Settings(PlatformProcessFields, _EnabledDomains, BaseSettings):
    """Every ``MESH_*`` variable (the platforms' process-wide ones from
    ``PlatformProcessFields``). Build it with ``load_settings()`` to get one-line errors."""

    model_config = MESH_ENV

    lake_url: LakeUrl = LAKE_URL_DEFAULT
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
    alert_smtp_host: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.-]+$",
        description="SMTP relay for dead-letter alert emails; unset: no email",
    )
    alert_smtp_port: int = Field(default=587, ge=1, le=65_535, description="the relay's port")
    alert_smtp_starttls: bool = Field(
        default=True, description="STARTTLS before anything else; required with a user"
    )
    alert_smtp_username: str | None = Field(
        default=None, min_length=1, description="SMTP login; with `MESH_ALERT_SMTP_PASSWORD_FILE`"
    )
    alert_smtp_password_file: Path | None = Field(
        default=None, description="the SMTP password, re-read at each send (rotation)"
    )
    alert_smtp_ca_file: Path | None = Field(
        default=None, description="extra CA bundle for the relay's certificate (a private CA)"
    )
    alert_email_from: str | None = Field(
        default=None, pattern=_EMAIL, description="sender of alert emails; required with a host"
    )
    alert_email_to: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="recipients, comma-separated, of domains without their own "
        "`MESH_{DOMAIN}__ALERT_EMAIL_TO`",
    )
    telephony: TelephonySettings | None = None
    quality: QualitySettings | None = None
    wfm: WfmSettings | None = None

    @field_validator("alert_email_to", mode="before")
    @classmethod
    def _split_recipients(cls, value: Any) -> Any:
        return _recipients(value)

    @field_validator("alert_smtp_password_file", "alert_smtp_ca_file")
    @classmethod
    def _readable_file(cls, path: Path | None) -> Path | None:
        return readable_file(path)

    @model_validator(mode="after")
    def _email_complete(self) -> Settings:
        if self.alert_smtp_host is None:
            return self
        if self.alert_email_from is None:
            raise ValueError("MESH_ALERT_EMAIL_FROM: required with MESH_ALERT_SMTP_HOST")
        if (self.alert_smtp_username is None) != (self.alert_smtp_password_file is None):
            raise ValueError(
                "MESH_ALERT_SMTP_USERNAME: set it together with MESH_ALERT_SMTP_PASSWORD_FILE"
            )
        if self.alert_smtp_username is not None and not self.alert_smtp_starttls:
            raise ValueError(
                "MESH_ALERT_SMTP_STARTTLS: must stay true with a user; credentials are never "
                "sent over an unencrypted connection"
            )
        return self

    @field_validator("start_at", mode="before")
    @classmethod
    def _iso_instant(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip():
            try:
                datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"{value.strip()!r} is not an ISO 8601 time; expected e.g. "
                    "2026-12-01T00:00:00Z or 2026-12-01"
                ) from None
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_token_strength(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (
            len(value.get_secret_value()) < _ADMIN_TOKEN_MIN
            or not _TOKEN_RE.match(value.get_secret_value())
        ):
            raise ValueError(
                f"must be at least {_ADMIN_TOKEN_MIN} visible ASCII characters without spaces, "
                "e.g. from `openssl rand -hex 24`"
            )
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
        _divides_a_day(value)
        return value

    @model_validator(mode="after")
    def _enabled_domains_configured(self) -> Settings:
        for name in self.domains:
            domain: DomainSettings | None = getattr(self, name)
            platform = domain.platform if domain is not None else DEFAULT_PLATFORM
            problem = PLATFORM_RULES[platform].enabled(domain, name)
            if problem:
                raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _buckets_of_the_lake_cloud(self) -> Settings:
        """A domain's own bucket or container must be valid on the lake's cloud."""
        scheme = self.lake_url.partition("://")[0]
        for name in self.domains:
            domain = getattr(self, name)
            bucket = domain.bucket if domain is not None else None
            problem = bucket_problem(scheme, bucket) if bucket is not None else None
            if problem:
                raise ValueError(f"MESH_{name.upper()}__BUCKET: {problem}")
        return self

    @model_validator(mode="after")
    def _lake_account(self) -> Settings:
        if self.lake_url.startswith("az://"):
            from producer.lake.azure_account import azure_account

            try:
                azure_account(os.environ)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

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

    def window_seconds_of(self, name: str) -> int:
        """Domain ``name``'s window length: its own ``MESH_{DOMAIN}__WINDOW_SECONDS``, else
        ``MESH_WINDOW_SECONDS`` (a snapshot domain has no windows of this kind)."""
        domain = getattr(self, name)
        if isinstance(domain, _WindowedFields) and domain.window_seconds is not None:
            return domain.window_seconds
        return self.window_seconds


DOMAIN_MODELS: dict[str, type[DomainSettings]] = {
    "telephony": TelephonySettings,
    "quality": QualitySettings,
    "wfm": WfmSettings,
}
"""Each domain's model, in ``DOMAIN_NAMES`` order: its own defaults and extra variables."""
if (
    tuple(DOMAIN_MODELS) != DOMAIN_NAMES
    or any(model.domain_name != name for name, model in DOMAIN_MODELS.items())
    or any(
        Settings.model_fields[name].annotation != DOMAIN_MODELS[name] | None
        for name in DOMAIN_NAMES
    )
):
    raise ImportError("Settings and DOMAIN_MODELS must have one field per name of DOMAIN_NAMES")


def default_prefix(domain: str) -> str | None:
    """A known domain's default output prefix (its contracts' default ``destination``)."""
    model = DOMAIN_MODELS.get(domain)
    return None if model is None else str(model.model_fields["prefix"].default)


def load_settings() -> Settings:
    """Build ``Settings`` from the environment, or raise a one-line ``ConfigError``.

    Every problem is named by its variable, e.g.
    ``MESH_WINDOW_SECONDS: must divide a day (86400) evenly``.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(one_line(exc)) from None
