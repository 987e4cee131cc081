"""What configuration checks for a domain on each source platform, declared once per platform.

``PLATFORM_RULES`` has one ``PlatformRules`` per name of ``PLATFORM_NAMES``: ``model`` (checked on
every domain's model that names the platform, e.g. Genesys' secret given exactly once),
``enabled`` (checked for a domain in ``MESH_DOMAINS``: its required credentials) and ``refuses``
(domains the platform cannot feed, and why). Each problem is one line; ``model``'s and
``refuses``' are named by pydantic's location, ``enabled``'s name their variable themselves.
The platform's variables are fields of ``model.DomainSettings``; this module imports no platform
code (``producer/platforms/`` holds the runtime half). Pure functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from producer.settings.names import PLATFORM_NAMES, Platform

if TYPE_CHECKING:
    from producer.settings.model import DomainSettings

__all__ = ["PLATFORM_RULES", "PlatformRules"]


@dataclass(frozen=True, slots=True)
class PlatformRules:
    """One platform's checks of a domain's settings (each returns one line, or None)."""

    enabled: Callable[[DomainSettings | None, str], str | None]
    model: Callable[[DomainSettings], str | None] = lambda _: None
    refuses: Mapping[str, str] = field(default_factory=dict)


def _genesys_secret(domain: DomainSettings) -> str | None:
    """The OAuth client's secret, exactly once (on every Genesys domain that is configured)."""
    if domain.client_secret is None and domain.client_secret_file is None:
        return "set CLIENT_SECRET or CLIENT_SECRET_FILE"
    if domain.client_secret is not None and domain.client_secret_file is not None:
        return "set only one of CLIENT_SECRET and CLIENT_SECRET_FILE"
    return None


def _genesys_client(domain: DomainSettings | None, name: str) -> str | None:
    if domain is None or domain.client_id is None:
        return f"MESH_{name.upper()}__CLIENT_ID: required because {name} is in MESH_DOMAINS"
    return None


def _nice_access_key(domain: DomainSettings | None, name: str) -> str | None:
    """What a CXone domain ``name`` is missing, as one line naming the variable, or None."""
    variable = f"MESH_{name.upper()}__"
    required = f"required with {variable}PLATFORM=nice"
    if domain is None or domain.nice_auth_url is None:
        return f"{variable}NICE_AUTH_URL: {required}"
    if domain.nice_access_key_id is None:
        return f"{variable}NICE_ACCESS_KEY_ID: {required}"
    if domain.nice_access_key_secret is None and domain.nice_access_key_secret_file is None:
        return f"{variable}NICE_ACCESS_KEY_SECRET: {required} (or NICE_ACCESS_KEY_SECRET_FILE)"
    if domain.nice_access_key_secret is not None and domain.nice_access_key_secret_file:
        return (
            f"{variable}NICE_ACCESS_KEY_SECRET: set only one of NICE_ACCESS_KEY_SECRET and "
            "NICE_ACCESS_KEY_SECRET_FILE"
        )
    return None


PLATFORM_RULES: dict[Platform, PlatformRules] = {
    "genesys": PlatformRules(enabled=_genesys_client, model=_genesys_secret),
    "nice": PlatformRules(
        enabled=_nice_access_key,
        refuses={
            "wfm": "nice is not supported: CXone documents no published-schedule source with a "
            "host, path and shift fields (see docs/nice.md); use genesys"
        },
    ),
}
if set(PLATFORM_RULES) != set(PLATFORM_NAMES):
    raise ImportError("PLATFORM_RULES must have one entry per name of PLATFORM_NAMES")
