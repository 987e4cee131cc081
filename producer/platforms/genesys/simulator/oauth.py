"""Simulator routes for OAuth 2 client credentials and the token endpoints (reference §2).

``POST /oauth/token`` mints opaque tokens (HTTP Basic or form credentials; OAuth-style error
bodies, not the API error body), and ``GET/HEAD/DELETE /api/v2/tokens/me`` describe or revoke
the calling token. Bearer checks for every other API call live in ``app.py``'s middleware.
Never puts a secret or a token in a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from producer.platforms.genesys.simulator.responses import (
    BEARER_TOKEN,
    CLIENT_ID,
    SIMULATOR,
    json_response,
)

__all__ = ["add_routes"]

_ORG_ID = "5b3a1d0e-6c7f-4f2a-9f1e-0d7c3b2a1e44"


def add_routes(app: web.Application) -> None:
    """Register the token endpoint and ``/api/v2/tokens/me`` on ``app``."""
    app.router.add_post("/oauth/token", _token)
    app.router.add_get("/api/v2/tokens/me", _token_info, allow_head=False)
    app.router.add_route("HEAD", "/api/v2/tokens/me", _token_probe)
    app.router.add_delete("/api/v2/tokens/me", _token_revoke)


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    body = {"error": error, "description": description, "error_description": description}
    return json_response(body, status=status)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


async def _token(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    form = await request.post()
    credentials: tuple[str, str] | None = None
    header = request.headers.get("Authorization")
    if header:
        credentials = _basic_credentials(header)
    else:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if isinstance(client_id, str) and isinstance(secret, str):
            credentials = (client_id, secret)
    if credentials is not None:
        request[CLIENT_ID] = credentials[0]
    if credentials is None or not sim.authenticate_client(*credentials):
        failed = "authentication failed"
        return _oauth_error(sim.config.invalid_client_status, "invalid_client", failed)
    grant_type = form.get("grant_type")
    if not isinstance(grant_type, str) or not grant_type:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "unsupported grant type")
    token = sim.issue_token(credentials[0])
    lifetime = sim.config.token_lifetime_seconds
    return json_response({"access_token": token, "token_type": "bearer", "expires_in": lifetime})


async def _token_info(request: web.Request) -> web.Response:
    client_id = request[CLIENT_ID]
    org = {"id": _ORG_ID, "name": "Simulated Org", "selfUri": f"/api/v2/organizations/{_ORG_ID}"}
    body = {
        "organization": org,
        "homeOrganization": org,
        "authorizedScope": ["analytics", "quality", "workforce-management"],
        "OAuthClient": {
            "id": client_id,
            "name": f"{client_id} (simulated)",
            "authorizedGrantType": "CLIENT_CREDENTIALS",
            "roleDivisions": [],
            "state": "active",
            "organization": org,
        },
    }
    return json_response(body)


async def _token_probe(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def _token_revoke(request: web.Request) -> web.Response:
    request.app[SIMULATOR].revoke_token(request[BEARER_TOKEN])
    return web.Response(status=204)
