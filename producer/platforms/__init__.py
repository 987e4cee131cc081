"""Source platforms: one folder per contact-center platform (its client, extractors, simulator).

``source_platform(name)`` is the registry: the ``PLATFORM`` exported by
``producer/platforms/{name}/platform.py`` (a ``source.SourcePlatform``), for each name of
``settings.PLATFORM_NAMES``. The daemon and ``producer.domains`` reach a platform only through
it, so neither names one. A platform's module is imported when it is first asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# At module level: the settings package loads before any platform's ``settings.py`` runs (it
# composes them), whichever of the two is imported first.
from producer.settings.names import PLATFORM_NAMES

if TYPE_CHECKING:
    from producer.platforms.source import SourcePlatform

__all__ = ["source_platform"]


def source_platform(name: str) -> SourcePlatform:
    """The platform named ``name``; KeyError for a name that is not in ``PLATFORM_NAMES``."""
    if name not in PLATFORM_NAMES:
        raise KeyError(name)
    module = importlib.import_module(f"producer.platforms.{name}.platform")
    found: SourcePlatform = module.PLATFORM
    if found.name != name:
        raise ImportError(f"producer.platforms.{name}.platform exports {found.name!r}")
    return found
