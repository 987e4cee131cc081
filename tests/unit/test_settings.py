"""Settings: DESIGN.md's variables, and one-line errors that name the variable."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from producer.errors import ConfigError
from producer.governance.ports import read_layout
from producer.settings import LakeLocation, load_settings
from producer.settings.ports import load_output_port
from tests.fixtures.process import clean_env


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
        ("MESH_TELEPHONY__WINDOW_SECONDS", "7000", "MESH_TELEPHONY__WINDOW_SECONDS: must divide"),
        ("MESH_TELEPHONY__WINDOW_SECONDS", "30", "MESH_TELEPHONY__WINDOW_SECONDS: Input should"),
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
def test_a_domain_may_have_its_own_window_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """``MESH_{DOMAIN}__WINDOW_SECONDS`` wins for its domain; the others keep the process-wide
    length; WFM (weekly snapshots) has no such variable."""
    monkeypatch.setenv("MESH_DOMAINS", "telephony,quality")
    monkeypatch.setenv("MESH_QUALITY__CLIENT_ID", "quality-client")
    monkeypatch.setenv("MESH_QUALITY__CLIENT_SECRET", "quality-secret-value")
    monkeypatch.setenv("MESH_WINDOW_SECONDS", "1800")
    monkeypatch.setenv("MESH_QUALITY__WINDOW_SECONDS", "86400")
    settings = load_settings()
    assert settings.window_seconds_of("quality") == 86_400
    assert settings.window_seconds_of("telephony") == 1800
    monkeypatch.setenv("MESH_WFM__WINDOW_SECONDS", "86400")
    with pytest.raises(ConfigError, match=r"^MESH_WFM__WINDOW_SECONDS: "):
        load_settings()


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


@pytest.mark.usefixtures("minimal")
@pytest.mark.parametrize(
    "token", ["Q", "fifteen-chars-Q", "sixteen chars ok", "t\u00f6ken-t\u00f6ken-t\u00f6ken"]
)
def test_a_short_or_unsendable_admin_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """MESH_ADMIN_TOKEN guards a write endpoint: at least 16 visible ASCII characters (no
    space), else one line naming it, and the token itself is never in the message."""
    monkeypatch.setenv("MESH_ADMIN_TOKEN", token)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("MESH_ADMIN_TOKEN: "), message
    assert "\n" not in message
    assert token not in message


@pytest.mark.usefixtures("minimal")
def test_a_sixteen_character_admin_token_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The minimum itself is fine."""
    monkeypatch.setenv("MESH_ADMIN_TOKEN", "0123456789abcdef")
    token = load_settings().admin_token
    assert token is not None
    assert token.get_secret_value() == "0123456789abcdef"


_BAD_PREFIXES = ["a/./b", "a//b", "a/../b", ".", "..", "a/.hidden", "/a", "a b", "a\\b", "a/b?"]


def _offline_port() -> object:
    return load_output_port("telephony")


@pytest.mark.usefixtures("minimal")
@pytest.mark.parametrize("reader", [load_settings, _offline_port, read_layout])
@pytest.mark.parametrize("prefix", _BAD_PREFIXES)
def test_a_prefix_the_stores_cannot_hold_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, reader: Callable[[], object], prefix: str
) -> None:
    """Every reader of MESH_{DOMAIN}__PREFIX (the daemon's settings, the offline commands'
    output port, the governance layout) refuses an empty, '.' or '..' segment, a hidden
    segment, a leading '/' and characters outside letters, digits, '.', '_', '-' with one line
    naming the variable, before anything runs."""
    monkeypatch.setenv("MESH_LAKE_URL", "s3://genesys-data-lake")
    monkeypatch.setenv("MESH_TELEPHONY__PREFIX", prefix)
    with pytest.raises(ConfigError) as caught:
        reader()
    message = str(caught.value)
    assert message.startswith("MESH_TELEPHONY__PREFIX: "), message
    assert "\n" not in message


@pytest.mark.usefixtures("minimal")
@pytest.mark.parametrize("reader", [load_settings, _offline_port, read_layout])
@pytest.mark.parametrize("root", ["a/./b", "a//b", "a/../b", "a/.hidden", "a b"])
def test_a_lake_root_the_stores_cannot_hold_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, reader: Callable[[], object], root: str
) -> None:
    """The root in ``s3://bucket/root`` prefixes every key: the same rule, naming MESH_LAKE_URL."""
    monkeypatch.setenv("MESH_LAKE_URL", f"s3://genesys-data-lake/{root}")
    with pytest.raises(ConfigError) as caught:
        reader()
    assert str(caught.value).startswith("MESH_LAKE_URL: "), str(caught.value)


@pytest.mark.usefixtures("minimal")
def test_good_prefixes_and_roots_are_read_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested prefixes and a trailing '/' are fine, and every reader sees the same value."""
    monkeypatch.setenv("MESH_LAKE_URL", "s3://genesys-data-lake/mesh/prod_1/")
    monkeypatch.setenv("MESH_TELEPHONY__PREFIX", "team-a/telephony.cdr_v2/")
    assert load_settings().domain("telephony").prefix == "team-a/telephony.cdr_v2"
    assert load_settings().lake.root == "mesh/prod_1"
    assert load_output_port("telephony").prefix == "team-a/telephony.cdr_v2"
    assert read_layout().ports["telephony"].base == "mesh/prod_1/team-a/telephony.cdr_v2"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MESH_ADMIN_TOKEN", "x"), ("MESH_TELEPHONY__PREFIX", "a/./b")],
)
def test_the_cli_exits_2_with_one_line(tmp_path: Path, variable: str, value: str) -> None:
    """``run --once`` with the bad value: exit 2 and one stderr line naming the variable, before
    any request (the API address is a closed port) or any write to the lake."""
    env = clean_env() | {
        "MESH_DOMAINS": "telephony",
        "MESH_TELEPHONY__CLIENT_ID": "client",
        "MESH_TELEPHONY__CLIENT_SECRET": "s3cr3t-value",
        "MESH_GENESYS_API_URL": "http://127.0.0.1:9",
        "MESH_GENESYS_LOGIN_URL": "http://127.0.0.1:9",
        "MESH_LAKE_URL": (tmp_path / "lake").as_uri(),
        "MESH_HTTP_PORT": "0",
        "MESH_HTTP_HOST": "127.0.0.1",
        variable: value,
    }
    done = subprocess.run(
        [sys.executable, "-m", "producer", "run", "--once"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"mesh-producer: {variable}: "), lines[0]
    assert not (tmp_path / "lake").exists()


# --- MESH_{DOMAIN}__PLATFORM and the NICE CXone settings --------------------------------------

_NICE = {
    "MESH_DOMAINS": "telephony,quality",
    "MESH_TELEPHONY__PLATFORM": "nice",
    "MESH_TELEPHONY__NICE_AUTH_URL": "https://na1.nice-incontact.com",
    "MESH_TELEPHONY__NICE_ACCESS_KEY_ID": "tel-key",
    "MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET": "nice-s3cr3t-value",
    "MESH_QUALITY__CLIENT_ID": "quality-client",
    "MESH_QUALITY__CLIENT_SECRET": "quality-s3cr3t",
}


@pytest.fixture
def nice_telephony(monkeypatch: pytest.MonkeyPatch) -> None:
    """Telephony on CXone, Quality on Genesys (a deployment mid-migration)."""
    for variable, value in _NICE.items():
        monkeypatch.setenv(variable, value)


@pytest.mark.usefixtures("minimal")
def test_the_platform_is_genesys_unless_set() -> None:
    telephony = load_settings().domain("telephony")
    assert telephony.platform == "genesys"
    assert telephony.nice_auth_url is None


@pytest.mark.usefixtures("nice_telephony")
def test_a_cxone_domain_beside_a_genesys_one() -> None:
    """Each domain names its platform; CXone's defaults hold; no Genesys client is needed."""
    settings = load_settings()
    telephony = settings.domain("telephony")
    assert telephony.platform == "nice"
    assert telephony.client_id is None
    assert telephony.nice_auth_url == "https://na1.nice-incontact.com"
    assert telephony.nice_discovery_url == "https://cxone.niceincontact.com"
    assert telephony.nice_api_version == "v30.0"
    assert telephony.nice_access_key_id == "tel-key"
    assert telephony.nice_completion_lag_seconds == 7200  # type: ignore[attr-defined]
    assert "nice-s3cr3t-value" not in repr(settings)
    assert "nice-s3cr3t-value" not in str(telephony)
    quality = settings.domain("quality")
    assert quality.platform == "genesys"
    assert quality.nice_qm_entity_version == "3"  # type: ignore[attr-defined]
    assert quality.nice_extraction_interval_seconds == 30  # type: ignore[attr-defined]


@pytest.mark.usefixtures("nice_telephony")
def test_every_cxone_variable_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each NICE_* variable reaches its domain's settings (a secret file instead of a secret)."""
    secret_file = tmp_path / "access-key-secret"
    secret_file.write_text("from-a-file")
    monkeypatch.delenv("MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET")
    monkeypatch.setenv("MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET_FILE", str(secret_file))
    monkeypatch.setenv("MESH_TELEPHONY__NICE_DISCOVERY_URL", "http://127.0.0.1:8090")
    monkeypatch.setenv("MESH_TELEPHONY__NICE_API_VERSION", "v27.0")
    monkeypatch.setenv("MESH_TELEPHONY__NICE_COMPLETION_LAG_SECONDS", "600")
    monkeypatch.setenv("MESH_QUALITY__PLATFORM", "nice")
    monkeypatch.setenv("MESH_QUALITY__NICE_AUTH_URL", "http://127.0.0.1:8090/")
    monkeypatch.setenv("MESH_QUALITY__NICE_ACCESS_KEY_ID", "qa-key")
    monkeypatch.setenv("MESH_QUALITY__NICE_ACCESS_KEY_SECRET", "qa-s3cr3t")
    monkeypatch.setenv("MESH_QUALITY__NICE_QM_ENTITY_VERSION", "4")
    monkeypatch.setenv("MESH_QUALITY__NICE_EXTRACTION_INTERVAL_SECONDS", "45")
    settings = load_settings()
    telephony = settings.domain("telephony")
    assert telephony.nice_access_key_secret is None
    assert telephony.nice_access_key_secret_file == secret_file
    assert telephony.nice_discovery_url == "http://127.0.0.1:8090"
    assert telephony.nice_api_version == "v27.0"
    assert telephony.nice_completion_lag_seconds == 600  # type: ignore[attr-defined]
    quality = settings.domain("quality")
    assert quality.platform == "nice"
    assert quality.nice_access_key_id == "qa-key"
    assert quality.nice_access_key_secret is not None
    assert quality.nice_access_key_secret.get_secret_value() == "qa-s3cr3t"
    assert quality.nice_qm_entity_version == "4"  # type: ignore[attr-defined]
    assert quality.nice_extraction_interval_seconds == 45  # type: ignore[attr-defined]


@pytest.mark.usefixtures("nice_telephony")
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MESH_TELEPHONY__PLATFORM", "five9", "MESH_TELEPHONY__PLATFORM: Input should be"),
        ("MESH_TELEPHONY__NICE_AUTH_URL", "na1", "MESH_TELEPHONY__NICE_AUTH_URL: String should"),
        (
            "MESH_TELEPHONY__NICE_DISCOVERY_URL",
            "ftp://x",
            "MESH_TELEPHONY__NICE_DISCOVERY_URL: String should",
        ),
        ("MESH_TELEPHONY__NICE_API_VERSION", "30", "MESH_TELEPHONY__NICE_API_VERSION: String"),
        ("MESH_TELEPHONY__NICE_ACCESS_KEY_ID", "", "MESH_TELEPHONY__NICE_ACCESS_KEY_ID: String"),
        (
            "MESH_TELEPHONY__NICE_COMPLETION_LAG_SECONDS",
            "-1",
            "MESH_TELEPHONY__NICE_COMPLETION_LAG_SECONDS: Input should be greater",
        ),
        (
            "MESH_QUALITY__NICE_QM_ENTITY_VERSION",
            "v3",
            "MESH_QUALITY__NICE_QM_ENTITY_VERSION: String should",
        ),
        (
            "MESH_QUALITY__NICE_EXTRACTION_INTERVAL_SECONDS",
            "0",
            "MESH_QUALITY__NICE_EXTRACTION_INTERVAL_SECONDS: Input should be greater",
        ),
        (
            "MESH_QUALITY__NICE_COMPLETION_LAG_SECONDS",
            "60",
            "MESH_QUALITY__NICE_COMPLETION_LAG_SECONDS: Extra inputs are not permitted",
        ),
        ("MESH_WFM__PLATFORM", "nice", "MESH_WFM__PLATFORM: nice is not supported"),
    ],
)
def test_a_bad_cxone_value_is_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    if variable.startswith("MESH_WFM__"):
        monkeypatch.setenv("MESH_DOMAINS", "telephony,quality,wfm")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.usefixtures("nice_telephony")
@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("MESH_TELEPHONY__NICE_AUTH_URL", "MESH_TELEPHONY__NICE_AUTH_URL: required with"),
        ("MESH_TELEPHONY__NICE_ACCESS_KEY_ID", "MESH_TELEPHONY__NICE_ACCESS_KEY_ID: required"),
        (
            "MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET",
            "MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET: required with",
        ),
    ],
)
def test_missing_cxone_credentials_are_named(
    monkeypatch: pytest.MonkeyPatch, missing: str, named: str
) -> None:
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=f"^{named}"):
        load_settings()


@pytest.mark.usefixtures("nice_telephony")
def test_a_cxone_secret_and_secret_file_together_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("x")
    monkeypatch.setenv("MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET_FILE", str(secret_file))
    with pytest.raises(ConfigError, match=r"^MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET: set only one"):
        load_settings()


@pytest.mark.usefixtures("nice_telephony")
def test_a_missing_cxone_secret_file_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET")
    monkeypatch.setenv("MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(
        ConfigError,
        match=r"^MESH_TELEPHONY__NICE_ACCESS_KEY_SECRET_FILE: '.*absent' is not a readable file$",
    ):
        load_settings()


def test_a_genesys_domain_still_needs_its_client_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the platform named but no client id, the Genesys client id is what is missing."""
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__PLATFORM", "genesys")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", "s3cr3t-value")
    with pytest.raises(ConfigError, match=r"^MESH_TELEPHONY__CLIENT_ID: required"):
        load_settings()


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"MESH_WFM__PLATFORM": "nice"}, "MESH_WFM__PLATFORM"),
        ({"MESH_TELEPHONY__NICE_ACCESS_KEY_ID": None}, "MESH_TELEPHONY__NICE_ACCESS_KEY_ID"),
        ({"MESH_TELEPHONY__NICE_API_VERSION": "latest"}, "MESH_TELEPHONY__NICE_API_VERSION"),
    ],
)
def test_the_cli_exits_2_naming_a_cxone_variable(
    tmp_path: Path, variables: dict[str, str | None], named: str
) -> None:
    """``run --once``: exit 2, one stderr line naming the variable, no request, no lake, and
    no secret in the output."""
    env = (
        clean_env()
        | _NICE
        | {
            "MESH_DOMAINS": "telephony,quality,wfm",
            "MESH_WFM__CLIENT_ID": "wfm-client",
            "MESH_WFM__CLIENT_SECRET": "wfm-s3cr3t",
            "MESH_TELEPHONY__NICE_AUTH_URL": "http://127.0.0.1:9",
            "MESH_TELEPHONY__NICE_DISCOVERY_URL": "http://127.0.0.1:9",
            "MESH_GENESYS_API_URL": "http://127.0.0.1:9",
            "MESH_GENESYS_LOGIN_URL": "http://127.0.0.1:9",
            "MESH_LAKE_URL": (tmp_path / "lake").as_uri(),
            "MESH_HTTP_PORT": "0",
            "MESH_HTTP_HOST": "127.0.0.1",
        }
    )
    for variable, value in variables.items():
        if value is None:
            env.pop(variable)
        else:
            env[variable] = value
    done = subprocess.run(
        [sys.executable, "-m", "producer", "run", "--once"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"mesh-producer: {named}: "), lines[0]
    assert "nice-s3cr3t-value" not in done.stdout + done.stderr
    assert not (tmp_path / "lake").exists()


def test_dlq_replay_reads_the_domain_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """The offline commands know a domain's platform, so ``dlq replay`` maps with its mapper."""
    assert load_output_port("telephony").platform == "genesys"
    monkeypatch.setenv("MESH_TELEPHONY__PLATFORM", "nice")
    assert load_output_port("telephony").platform == "nice"
    monkeypatch.setenv("MESH_TELEPHONY__PLATFORM", "avaya")
    with pytest.raises(ConfigError, match=r"^MESH_TELEPHONY__PLATFORM: Input should be"):
        load_output_port("telephony")
