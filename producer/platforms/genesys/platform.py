"""Genesys Cloud as a ``SourcePlatform``: the registry's entry for ``PLATFORM=genesys``.

Its ``open_source``, ``open_genesys_source``, builds a domain's OAuth client (``TokenManager``,
tokens fetched lazily, the login host from ``MESH_GENESYS_REGION``/``_LOGIN_URL``) and the shared
``ApiClient`` with this platform's permission table, then the domain's extractor of
``feeds.genesys_feed``.
"""

from __future__ import annotations

from producer.api.client import ApiClient
from producer.auth.manager import TokenManager
from producer.errors import ConfigError
from producer.platforms.genesys.feeds import genesys_feed
from producer.platforms.genesys.permissions import required_permission
from producer.platforms.source import Source, SourceContext, SourcePlatform
from producer.settings import DomainSettings

__all__ = ["PLATFORM", "open_genesys_source"]


async def open_genesys_source(name: str, domain: DomainSettings, context: SourceContext) -> Source:
    """``name``'s OAuth client and extractor on Genesys Cloud (tokens fetched lazily)."""
    feed = genesys_feed(name)
    if domain.client_id is None:  # Settings requires it on genesys
        raise ConfigError(f"MESH_{name.upper()}__CLIENT_ID: required with PLATFORM=genesys")
    http = context.http(name)
    tokens = TokenManager(
        http,
        token_url=f"{context.settings.login_base_url}/oauth/token",
        client_id=domain.client_id,
        client_secret=domain.client_secret,
        client_secret_file=domain.client_secret_file,
        margin_seconds=domain.token_refresh_margin_seconds,
    )
    api = ApiClient(
        http,
        base_url=context.settings.api_base_url,
        tokens=tokens,
        limiter=context.limiter,
        permission_of=required_permission,
    )
    return tokens, feed.make_extractor(api, domain, context.clock)


PLATFORM = SourcePlatform(
    name="genesys",
    feed=lambda domain: genesys_feed(domain).feed,
    permission_of=required_permission,
    open_source=open_genesys_source,
)
