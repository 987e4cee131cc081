"""What a platform's settings module builds on: its checks' shape and the shared field rules.

Each source platform declares its ``MESH_*`` variables and their checks in
``producer/platforms/{name}/settings.py``; ``producer.settings.platforms`` composes them into the
settings model. Those modules import this one and pydantic only, so this module imports pydantic
and nothing of the producer (importing it never loads a platform's module back). A mixin's own
validators, if any, carry its platform's name (``_nice_...``): pydantic keeps one validator per
name across a model's bases, so two ``_readable`` would silently drop one. Pure declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator

__all__ = ["BASE_URL", "PlatformRules", "ReadableFile", "readable_file"]

BASE_URL = r"^https?://[^\s/]+(:\d+)?/?$"
"""A base URL: scheme and host (and port), no path."""

_Fields_contra = TypeVar("_Fields_contra", contravariant=True)


def _no_problem(_: object) -> None:
    return None


@dataclass(frozen=True, slots=True)
class PlatformRules(Generic[_Fields_contra]):
    """One platform's checks of a domain's settings (each returns one line, or None).

    ``model`` is checked on every domain's model that names the platform (e.g. Genesys' secret
    given exactly once); ``enabled`` on a domain in ``MESH_DOMAINS`` (its required credentials:
    the domain's model, None when none of its variables is set, and its name); ``refuses`` maps
    a domain the platform cannot feed to why, as ``{name} is not supported: ...``. ``model``'s
    and ``refuses``' lines are named by pydantic's location, ``enabled``'s name their variable
    themselves. The type parameter is the platform's per-domain fields (a mixin of
    ``DomainSettings``), so each check reads only its own platform's variables.
    """

    enabled: Callable[[_Fields_contra | None, str], str | None]
    model: Callable[[_Fields_contra], str | None] = _no_problem
    refuses: Mapping[str, str] = field(default_factory=dict)


def readable_file(path: Path | None) -> Path | None:
    """A path setting's check: unset, or a file that exists (its content is read when used)."""
    if path is not None and not path.is_file():
        raise ValueError(f"{str(path)!r} is not a readable file")
    return path


ReadableFile = Annotated[Path | None, AfterValidator(readable_file)]
"""A secret file's setting: unset, or a file that exists (``readable_file``)."""
