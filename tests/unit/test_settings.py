"""Settings: DESIGN.md's variables, and one-line errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.errors import ConfigError
from producer.settings import LakeLocation, load_settings


@pytest.fixture
def minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", "client")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", "s3cr3t-value")


@pytest.mark.usefixtures("minimal")
def test_defaults() -> None:
    """The defaults of the design table hold."""
    settings = load_settings()
    assert settings.domains == ("telephony",)  # set by the fixture; the default is all three
    assert settings.window_seconds == 900
    assert settings.http_port == 9108
    assert settings.api_base_url == "https://api.mypurecloud.com"
    assert settings.login_base_url == "https://login.mypurecloud.com"
    telephony = settings.domain("telephony")
    assert telephony.priority == "high"
    assert telephony.prefix == "telephony-cdr-export"
    assert telephony.token_refresh_margin_seconds == 300
    assert telephony.rate_limit_per_minute < 300
    assert settings.lake == LakeLocation("file", "", "", Path("./lake"))


@pytest.mark.usefixtures("minimal")
def test_secret_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """repr() of settings does not reveal the client secret."""
    settings = load_settings()
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in str(settings.domain("telephony"))


@pytest.mark.usefixtures("minimal")
def test_region_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """The region derives both hosts; explicit URLs override them."""
    monkeypatch.setenv("MESH_GENESYS_REGION", "mypurecloud.ie")
    monkeypatch.setenv("MESH_GENESYS_API_URL", "http://127.0.0.1:8089/")
    settings = load_settings()
    assert settings.api_base_url == "http://127.0.0.1:8089"
    assert settings.login_base_url == "https://login.mypurecloud.ie"


@pytest.mark.usefixtures("minimal")
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MESH_WINDOW_SECONDS", "7000", "MESH_WINDOW_SECONDS: must divide a day"),
        ("MESH_WINDOW_SECONDS", "ten", "MESH_WINDOW_SECONDS: Input should be a valid integer"),
        ("MESH_LAKE_URL", "ftp://x", "MESH_LAKE_URL: expected s3://bucket"),
        ("MESH_LAKE_URL", "s3://Bad_Bucket", "MESH_LAKE_URL: 'Bad_Bucket' is not a valid S3"),
        ("MESH_TELEPHONY__PRIORITY", "urgent", "MESH_TELEPHONY__PRIORITY: Input should be"),
        ("MESH_TELEPHONY__RATE_LIMIT_PER_MINUTE", "0", "MESH_TELEPHONY__RATE_LIMIT_PER_MINUTE"),
        ("MESH_TELEPHONY__SCHEMA_VERSION", "v1", "MESH_TELEPHONY__SCHEMA_VERSION: expected"),
        ("MESH_TELEPHONY__SCHEMA_VERSION", "1.0,2.0,3.0", "MESH_TELEPHONY__SCHEMA_VERSION: expe"),
        ("MESH_TELEPHONY__SCHEMA_VERSION", "1.0;2.0", "MESH_TELEPHONY__SCHEMA_VERSION: expected"),
        ("MESH_LOG_FORMAT", "xml", "MESH_LOG_FORMAT: Input should be 'json' or 'console'"),
        (
            "MESH_DOMAINS",
            "telephony,billing",
            "MESH_DOMAINS: 'billing' is not a domain; valid: telephony, quality, wfm",
        ),
        ("MESH_START_AT", "yesterday", "MESH_START_AT: 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_bad_variable_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    """Each bad value gives one line that starts with the variable's name."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert expected in message, message


@pytest.mark.usefixtures("minimal")
def test_two_versions_side_by_side_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """During a major migration a domain names two versions (checked against contracts later)."""
    monkeypatch.setenv("MESH_TELEPHONY__SCHEMA_VERSION", "1.0, 2.0")
    assert load_settings().domain("telephony").schema_version == "1.0, 2.0"


def test_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client id without a secret names the domain's variables."""
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", "client")
    with pytest.raises(
        ConfigError, match="MESH_TELEPHONY: set CLIENT_SECRET or CLIENT_SECRET_FILE"
    ):
        load_settings()


def test_secret_file_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A secret file that is not there is a configuration error naming it."""
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", "client")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(
        ConfigError,
        match=r"^MESH_TELEPHONY__CLIENT_SECRET_FILE: '.*absent' is not a readable file$",
    ):
        load_settings()


def test_domain_start_at_naive_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """A naive MESH_START_AT is read as UTC."""
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", "client")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", "x")
    monkeypatch.setenv("MESH_START_AT", "2025-03-10T00:00:00")
    settings = load_settings()
    assert settings.start_at is not None
    assert settings.start_at.isoformat() == "2025-03-10T00:00:00+00:00"


def test_all_three_domains_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without MESH_DOMAINS all three domains are enabled, each needing its own client."""
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", "t")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", "t")
    with pytest.raises(ConfigError, match="MESH_QUALITY__CLIENT_ID: required"):
        load_settings()
    for name in ("QUALITY", "WFM"):
        monkeypatch.setenv(f"MESH_{name}__CLIENT_ID", name.lower())
        monkeypatch.setenv(f"MESH_{name}__CLIENT_SECRET", "s")
    monkeypatch.setenv("MESH_WFM__BUSINESS_UNITS", "bu-1, bu-2")
    settings = load_settings()
    assert settings.domains == ("telephony", "quality", "wfm")
    assert settings.domain("quality").priority == "normal"
    assert settings.domain("wfm").priority == "low"
    assert settings.domain("wfm").prefix == "wfm-schedules-export"
    wfm = settings.wfm
    assert wfm is not None
    assert wfm.business_units == ("bu-1", "bu-2")
