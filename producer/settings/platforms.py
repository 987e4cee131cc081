"""The source platforms' configuration, composed from each platform's folder.

Each platform declares its ``MESH_*`` variables and its checks in its own folder,
``producer/platforms/{name}/settings.py`` (pydantic mixins and a ``PlatformRules``, settings layer:
they import only pydantic and ``settings.base``). This module composes them, once, for the names
of ``names.PLATFORM_NAMES``:

- ``PLATFORM_RULES``: each platform's ``PlatformRules`` (required credentials, domains it cannot
  feed), checked by ``PlatformChoice``, ``PlatformDomainFields`` and ``model.Settings``.
- ``PlatformChoice`` (``MESH_{DOMAIN}__PLATFORM``), ``PlatformDomainFields`` (it, then every
  platform's variables of any domain), ``PlatformTelephonyFields``, ``PlatformQualityFields``,
  ``PlatformWfmFields`` (every platform's variables of that domain only) and
  ``PlatformProcessFields`` (process-wide ones): the bases ``model``'s domain models and
  ``Settings`` are built on, so attribute access stays typed (mypy sees the fields).

Adding a platform here is its module imported, its ``RULES`` in ``PLATFORM_RULES`` and each of
its mixins in the base list of the class below that collects that kind (its name goes into
``names.Platform``). pydantic takes a model's inherited fields from its last base to its first,
so a new platform's mixin goes first in a list: its variables then come after the others' (in
``docs/configuration.md`` and in a line reporting several problems). ``producer.platforms``'
``__init__`` imports ``settings.names``, so this package is loaded before a platform's settings
module runs, whichever is imported first. Imports no runtime code of a platform
(``producer/platforms/{name}/platform.py`` is the runtime half).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, field_validator, model_validator

from producer.platforms.genesys import settings as genesys
from producer.platforms.nice import settings as nice
from producer.settings.base import PlatformRules
from producer.settings.names import DEFAULT_PLATFORM, PLATFORM_NAMES, Platform

__all__ = [
    "PLATFORM_RULES",
    "PlatformChoice",
    "PlatformDomainFields",
    "PlatformProcessFields",
    "PlatformQualityFields",
    "PlatformTelephonyFields",
    "PlatformWfmFields",
]


class PlatformProcessFields(genesys.GenesysProcessFields):
    """Every platform's process-wide variables (``MESH_GENESYS_REGION`` ...)."""


class PlatformChoice(BaseModel):
    """``MESH_{DOMAIN}__PLATFORM``: the domain's source platform, checked against its rules."""

    domain_name: ClassVar[str] = ""  # the domain of a subclass (``model.DOMAIN_MODELS``)

    platform: Platform = Field(
        default=DEFAULT_PLATFORM,
        description="the domain's source platform: `genesys` (Genesys Cloud) or `nice` "
        "(NICE CXone, Telephony and Quality only; docs/nice.md)",
    )

    @field_validator("platform")
    @classmethod
    def _feeds_the_domain(cls, value: Platform) -> Platform:
        """A platform that cannot feed this domain is refused (``PLATFORM_RULES``)."""
        why = PLATFORM_RULES[value].refuses.get(cls.domain_name)
        if why:
            raise ValueError(why)
        return value


class PlatformDomainFields(nice.NiceDomainFields, genesys.GenesysDomainFields, PlatformChoice):
    """``PLATFORM``, then every platform's variables of any domain, with the platform's checks of
    every configured domain; those of an enabled domain are ``Settings``', which can name the
    domain's variables."""

    @model_validator(mode="after")
    def _platform_model_rules(self) -> PlatformDomainFields:
        problem = PLATFORM_RULES[self.platform].model(self)
        if problem:
            raise ValueError(problem)
        return self


class PlatformTelephonyFields(nice.NiceTelephonyFields):
    """Every platform's variables of Telephony only."""


class PlatformQualityFields(nice.NiceQualityFields):
    """Every platform's variables of Quality only."""


class PlatformWfmFields(BaseModel):
    """Every platform's variables of WFM only (none yet)."""


PLATFORM_RULES: dict[Platform, PlatformRules[PlatformDomainFields]] = {
    "genesys": genesys.RULES,
    "nice": nice.RULES,
}
if set(PLATFORM_RULES) != set(PLATFORM_NAMES):
    raise ImportError("PLATFORM_RULES must have one entry per name of PLATFORM_NAMES")
