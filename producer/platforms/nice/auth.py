"""Step 2a (extract, auth) for NICE CXone: the access-key grant and the API base discovery.

``AccessKeyGrant`` is one ``POST {auth}/authentication/v1/token/access-key`` with the JSON body
``{"accessKeyId", "accessKeySecret"}`` (reference §1.2); it answers ``access_token``,
``expires_in`` and an ``id_token`` whose ``tenantId`` claim names the tenant. It plugs into the
shared ``TokenManager`` (refresh ahead, single flight, 401 -> invalidate -> retry in
``ApiClient``), and reuses ``SecretSource``: a mounted secret file is re-read when it changes
and once more when the key is refused. Refusals carry only our reason words, never the body.

``discover_api`` asks ``{discovery}/.well-known/cxone-configuration?tenantId=`` (§1.3) for the
tenant's ``api_endpoint``: the Reporting API lives only there, so nothing hard-codes an API host.
``open_nice_clients`` wires both into the ``ApiClient``s a CXone domain uses. No secret, token
or id_token ever reaches a log, an error or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import structlog
from pydantic import SecretStr

from producer.api.client import ApiClient
from producer.api.http import DomainHttp
from producer.auth.grant import (
    GrantRefused,
    GrantRequest,
    SecretSource,
    grant_rotating,
    granted_token,
    post_grant,
)
from producer.auth.manager import TokenManager
from producer.errors import TransientSourceError
from producer.platforms.nice import shapes
from producer.platforms.nice.gates import TenantGates
from producer.ratelimit import DomainLimiter

__all__ = [
    "ACCESS_KEY_PATH",
    "DISCOVERY_PATH",
    "AccessKeyGrant",
    "NiceClients",
    "discover_api",
    "open_nice_clients",
    "reporting_base",
]

ACCESS_KEY_PATH = "/authentication/v1/token/access-key"
DISCOVERY_PATH = "/.well-known/cxone-configuration"
_REFUSED = frozenset({400, 401, 403})  # a key the endpoint does not accept (body unconfirmed)
_log = structlog.get_logger("producer.auth")


class AccessKeyGrant:
    """CXone's access-key token request for one domain (a ``GrantEndpoint``).

    ``tenant_id`` is the ``tenantId`` claim of the last ``id_token`` received (None before the
    first grant or when the token carries none); it is an identifier, not a credential.
    """

    def __init__(
        self,
        *,
        domain: str,
        auth_url: str,
        access_key_id: str,
        secret: SecretStr | None,
        secret_file: Path | None,
        session: aiohttp.ClientSession,
        timeout_s: float = 30.0,
    ) -> None:
        self._domain = domain
        self._url = auth_url.rstrip("/") + ACCESS_KEY_PATH
        self._key_id = access_key_id
        self._secret = SecretSource(secret, secret_file)
        self._session = session
        self._timeout_s = timeout_s
        self.tenant_id: str | None = None

    def __repr__(self) -> str:
        return f"AccessKeyGrant(url={self._url!r}, access_key_id={self._key_id!r})"

    def credentials(self) -> tuple[str, ...]:
        """The access key secret, for ``scrub``."""
        secret = self._secret.peek()
        return () if secret is None else (secret,)

    async def grant(self) -> tuple[str, float]:
        """``(access_token, expires_in)``; the secret file is re-read as ``TokenEndpoint`` does."""
        return await grant_rotating(self._secret, self._domain, self._request)

    async def _request(self) -> tuple[str, float]:
        answer = (
            await post_grant(
                self._session,
                self._url,
                GrantRequest(
                    data=orjson.dumps(
                        {
                            "accessKeyId": self._key_id,
                            "accessKeySecret": self._secret.value.get_secret_value(),
                        }
                    ),
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                ),
                timeout_s=self._timeout_s,
                read_body=_orjson_body,
            )
        ).received()
        if answer.status == 200:
            token, lifetime, tenant = _parse_grant(answer.body)
            if tenant is not None:
                self.tenant_id = tenant
            return token, lifetime
        if answer.status in _REFUSED:
            raise GrantRefused("invalid_client", status=answer.status)
        raise GrantRefused("token_endpoint_error", status=answer.status)


async def _orjson_body(response: aiohttp.ClientResponse) -> Any:
    raw = await response.read()
    return orjson.loads(raw) if raw.strip() else None


def _parse_grant(body: Any) -> tuple[str, float, str | None]:
    token, lifetime = granted_token(body)
    return token, lifetime, _tenant_claim(body.get("id_token"))


def _tenant_claim(id_token: Any) -> str | None:
    """The ``tenantId`` claim of a JWT's payload (not verified: it came from the auth host)."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    tenant = claims.get("tenantId") if isinstance(claims, dict) else None
    return tenant if isinstance(tenant, str) and tenant else None


def reporting_base(api_endpoint: str, api_version: str) -> str:
    """The versioned Reporting base: ``{api_endpoint}/inContactAPI/services/{version}``."""
    return f"{api_endpoint.rstrip('/')}/inContactAPI/services/{api_version}"


async def discover_api(discovery: ApiClient, tokens: TokenManager, grant: AccessKeyGrant) -> str:
    """The tenant's ``api_endpoint``: a token first (for its ``tenantId``), then discovery.

    Raises ``AuthError`` when no token can be had, ``TransientSourceError`` when the token names
    no tenant or discovery keeps answering without an ``api_endpoint`` URL.
    """
    await tokens.token()
    tenant = grant.tenant_id
    if tenant is None:
        raise TransientSourceError("the CXone id_token carries no tenantId claim")
    response = await discovery.call(
        "GET", DISCOVERY_PATH, params={"tenantId": tenant}, auth=False, expect=shapes.discovery
    )
    endpoint: str = response.body["api_endpoint"]
    _log.info("cxone_api_discovered", api_endpoint=discovery.scrub(endpoint))
    return endpoint


@dataclass(frozen=True, slots=True)
class NiceClients:
    """The ``ApiClient``s of one CXone domain, sharing one token lifecycle.

    ``reporting``: the versioned Reporting base on the discovered API host. ``area``: the auth
    (area) host, where Data Extraction lives, limited by ``extraction_gate`` (shared by every
    domain of the tenant). ``downloads``: absolute pre-signed URLs, sent without a token.
    """

    tokens: TokenManager
    grant: AccessKeyGrant
    reporting: ApiClient
    area: ApiClient
    downloads: ApiClient
    extraction_gate: DomainLimiter
    api_endpoint: str


async def open_nice_clients(
    http: DomainHttp,
    *,
    auth_url: str,
    discovery_url: str,
    api_version: str,
    access_key_id: str,
    secret: SecretStr | None,
    secret_file: Path | None,
    limiter: DomainLimiter,
    gates: TenantGates,
    margin_seconds: float = 300.0,
) -> NiceClients:
    """Grant, discover the API host, and build the domain's clients (see ``NiceClients``), every
    one on the domain's ``http``."""
    grant = AccessKeyGrant(
        domain=http.domain,
        auth_url=auth_url,
        access_key_id=access_key_id,
        secret=secret,
        secret_file=secret_file,
        session=http.session,
        timeout_s=http.request_timeout_s,
    )
    tokens = TokenManager(
        http,
        token_url=auth_url.rstrip("/") + ACCESS_KEY_PATH,
        client_id=access_key_id,
        client_secret=None,
        client_secret_file=None,
        margin_seconds=margin_seconds,
        endpoint=grant,
    )

    def client(base_url: str, gate: DomainLimiter) -> ApiClient:
        return ApiClient(http, base_url=base_url, tokens=tokens, limiter=gate)

    endpoint = await discover_api(client(discovery_url, limiter), tokens, grant)
    assert grant.tenant_id is not None  # discovery needed it
    gate = gates.gate(grant.tenant_id)
    return NiceClients(
        tokens=tokens,
        grant=grant,
        reporting=client(reporting_base(endpoint, api_version), limiter),
        area=client(auth_url, gate),
        downloads=client(auth_url, limiter),
        extraction_gate=gate,
        api_endpoint=endpoint,
    )
