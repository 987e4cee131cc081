"""Each reader of ``MESH_{DOMAIN}__BUCKET`` applies the naming rule of the lake's own cloud.

The daemon's settings, the offline commands' output port (``lake audit``, ``status``) and the
governance layout must agree: a name one of them accepts on a cloud, the others accept too, and
a name that cloud would reject is refused by all three with one line naming the variable.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from producer.errors import ConfigError
from producer.governance.ports import read_layout
from producer.settings import load_settings
from producer.settings.ports import load_output_port


def _daemon() -> str | None:
    return load_settings().domain("telephony").bucket


def _offline_port() -> str | None:
    return load_output_port("telephony").bucket


def _governance() -> str | None:
    return read_layout().ports["telephony"].bucket


_READERS = [_daemon, _offline_port, _governance]


@pytest.fixture(autouse=True)
def _domain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", "client")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "acct")


@pytest.mark.parametrize("reader", _READERS)
@pytest.mark.parametrize(
    ("lake_url", "bucket"),
    [
        ("gs://genesys-data-lake", "my_bucket"),  # GCS allows underscores
        ("az://genesys-data-lake", "telephony-lake"),
        ("s3://genesys-data-lake", "telephony.lake"),
    ],
)
def test_a_bucket_valid_on_the_lakes_cloud_is_accepted_everywhere(
    monkeypatch: pytest.MonkeyPatch,
    reader: Callable[[], str | None],
    lake_url: str,
    bucket: str,
) -> None:
    """A domain's own bucket that its cloud allows is the domain's bucket for every reader."""
    monkeypatch.setenv("MESH_LAKE_URL", lake_url)
    monkeypatch.setenv("MESH_TELEPHONY__BUCKET", bucket)
    assert reader() == bucket


@pytest.mark.parametrize("reader", _READERS)
@pytest.mark.parametrize(
    ("lake_url", "bucket", "cloud"),
    [
        ("az://genesys-data-lake", "two--hyphens", "Azure container"),
        ("s3://genesys-data-lake", "my_bucket", "S3 bucket"),  # S3 does not allow underscores
        ("gs://genesys-data-lake", "goog-lake", "GCS bucket"),
    ],
)
def test_a_bucket_the_lakes_cloud_rejects_is_refused_everywhere(
    monkeypatch: pytest.MonkeyPatch,
    reader: Callable[[], str | None],
    lake_url: str,
    bucket: str,
    cloud: str,
) -> None:
    """One line naming the variable and the cloud's rule, before anything runs."""
    monkeypatch.setenv("MESH_LAKE_URL", lake_url)
    monkeypatch.setenv("MESH_TELEPHONY__BUCKET", bucket)
    with pytest.raises(ConfigError) as caught:
        reader()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("MESH_TELEPHONY__BUCKET: "), message
    assert f"not a valid {cloud} name" in message, message
