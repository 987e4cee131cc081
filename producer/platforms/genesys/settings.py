"""Genesys Cloud's configuration: its ``MESH_*`` variables and their checks (settings layer).

``GenesysProcessFields``: the process-wide region and explicit base URLs (``MESH_GENESYS_*``,
shared by every Genesys domain). ``GenesysDomainFields``: a domain's own OAuth client
(``MESH_{DOMAIN}__CLIENT_ID`` and exactly one of ``CLIENT_SECRET``, ``CLIENT_SECRET_FILE``).
``RULES``: the client id required on an enabled domain, the secret exactly once. Mixins of the
settings model (``producer.settings.platforms`` composes them); imports only pydantic and
``producer.settings.base``. Pure declarations.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from producer.settings.base import BASE_URL, PlatformRules, ReadableFile

__all__ = ["RULES", "GenesysDomainFields", "GenesysProcessFields"]


class GenesysProcessFields(BaseModel):
    """The Genesys Cloud region every Genesys domain talks to (``MESH_GENESYS_*``)."""

    genesys_region: str = Field(
        default="mypurecloud.com",
        pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$",
        description="Genesys Cloud region host, e.g. `mypurecloud.ie`; API and login URLs "
        "derive from it",
    )
    genesys_login_url: str | None = Field(
        default=None,
        pattern=BASE_URL,
        description="explicit OAuth base URL, overrides the region (e.g. the simulator's)",
    )
    genesys_api_url: str | None = Field(
        default=None, pattern=BASE_URL, description="explicit API base URL, overrides the region"
    )

    @property
    def api_base_url(self) -> str:
        """Base URL of the platform API (explicit, or ``https://api.<region>``)."""
        return (self.genesys_api_url or f"https://api.{self.genesys_region}").rstrip("/")

    @property
    def login_base_url(self) -> str:
        """Base URL of the OAuth server (explicit, or ``https://login.<region>``)."""
        return (self.genesys_login_url or f"https://login.{self.genesys_region}").rstrip("/")


class GenesysDomainFields(BaseModel):
    """A domain's own Genesys Cloud OAuth client (``MESH_{DOMAIN}__CLIENT_*``)."""

    client_id: str | None = Field(
        default=None,
        min_length=1,
        description="Genesys: the domain's own OAuth client id; required with `PLATFORM=genesys`",
    )
    client_secret: SecretStr | None = Field(
        default=None,
        description="Genesys: its client secret; set this or `CLIENT_SECRET_FILE`, not both",
    )
    client_secret_file: ReadableFile = Field(
        default=None,
        description="file holding the secret, re-read on `invalid_client`, so a rotated "
        "Kubernetes Secret is picked up without restart",
    )


def _secret_once(domain: GenesysDomainFields) -> str | None:
    """The OAuth client's secret, exactly once (on every Genesys domain that is configured)."""
    if domain.client_secret is None and domain.client_secret_file is None:
        return "set CLIENT_SECRET or CLIENT_SECRET_FILE"
    if domain.client_secret is not None and domain.client_secret_file is not None:
        return "set only one of CLIENT_SECRET and CLIENT_SECRET_FILE"
    return None


def _client(domain: GenesysDomainFields | None, name: str) -> str | None:
    if domain is None or domain.client_id is None:
        return f"MESH_{name.upper()}__CLIENT_ID: required because {name} is in MESH_DOMAINS"
    return None


RULES: PlatformRules[GenesysDomainFields] = PlatformRules(enabled=_client, model=_secret_once)
"""Genesys feeds every domain; an enabled one needs its client id, any one its secret once."""
