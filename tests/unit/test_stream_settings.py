"""``MESH_{DOMAIN}__STREAM``: the event stream of a domain, one per major written, by order."""

from __future__ import annotations

import pytest

from producer.errors import ConfigError
from producer.settings import load_settings

_ARN = "arn:aws:kinesis:eu-west-1:123456789012:stream/tel-v2"


@pytest.fixture(autouse=True)
def minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", "client")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", "s3cr3t-value")


def test_unset_means_no_stream() -> None:
    assert load_settings().domain("telephony").stream_for("1.0") is None


def test_a_name_or_an_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_TELEPHONY__STREAM", "kinesis://tel-v1")
    assert load_settings().domain("telephony").stream_for("1.0") == "tel-v1"
    monkeypatch.setenv("MESH_TELEPHONY__STREAM", _ARN)
    assert load_settings().domain("telephony").stream_for("1.0") == _ARN


def test_one_stream_per_major_in_the_order_of_schema_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MESH_TELEPHONY__SCHEMA_VERSION", "2.0,1.0")
    monkeypatch.setenv("MESH_TELEPHONY__STREAM", f"{_ARN}, kinesis://tel-v1")
    domain = load_settings().domain("telephony")
    assert (domain.stream_for("2.0"), domain.stream_for("1.0")) == (_ARN, "tel-v1")
    assert domain.stream_for("3.0") is None


@pytest.mark.parametrize(
    ("versions", "streams", "problem"),
    [
        (None, "kafka://tel", "expected kinesis://STREAM_NAME"),
        (None, "kinesis://", "expected kinesis://STREAM_NAME"),
        (None, "kinesis://a,kinesis://b", "one stream per major written (1"),
        ("1.0,2.0", "kinesis://a", "one stream per major written (2"),
        (None, "arn:aws:s3:::bucket", "expected kinesis://STREAM_NAME"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, versions: str | None, streams: str, problem: str
) -> None:
    if versions:
        monkeypatch.setenv("MESH_TELEPHONY__SCHEMA_VERSION", versions)
    monkeypatch.setenv("MESH_TELEPHONY__STREAM", streams)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("MESH_TELEPHONY__STREAM: ")
    assert problem in message
    assert "\n" not in message
