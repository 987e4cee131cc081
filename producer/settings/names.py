"""The names configuration is keyed by: business domains and source platforms, declared once.

``DomainName`` and ``DOMAIN_NAMES`` (the ``MESH_{DOMAIN}__*`` groups, the ``--domain`` choices,
the order domains run and are reported in); ``Platform`` and ``PLATFORM_NAMES`` (the values of
``MESH_{DOMAIN}__PLATFORM``; each names a folder ``producer/platforms/{name}/``) and the
default one. Pure constants.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DEFAULT_PLATFORM", "DOMAIN_NAMES", "PLATFORM_NAMES", "DomainName", "Platform"]

DomainName = Literal["telephony", "quality", "wfm"]
DOMAIN_NAMES: tuple[DomainName, ...] = get_args(DomainName)
Platform = Literal["genesys", "nice"]
PLATFORM_NAMES: tuple[Platform, ...] = get_args(Platform)
DEFAULT_PLATFORM: Platform = "genesys"
"""A domain's platform when ``MESH_{DOMAIN}__PLATFORM`` is unset."""
