"""How every settings model reads the environment, and how its problems become one line.

``MESH_ENV`` is the one pydantic-settings configuration (prefix ``MESH_``, nested delimiter
``__``, names not case sensitive, other variables ignored) of the daemon's model and of every
offline subset. ``one_line`` turns a ``ValidationError`` into the ``ConfigError`` text the CLI
prints before exit 2: each problem as ``MESH_{VARIABLE}: what is wrong``.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

__all__ = ["MESH_ENV", "one_line", "variable_of"]

MESH_ENV = SettingsConfigDict(
    env_prefix="MESH_",
    env_nested_delimiter="__",
    case_sensitive=False,
    extra="ignore",
    frozen=True,
)


def variable_of(loc: tuple[int | str, ...]) -> str:
    """The environment variable of a validation error's location (list indexes dropped)."""
    parts = [str(p) for p in loc if not str(p).isdigit()]
    return "MESH_" + "__".join(p.upper() for p in parts) if parts else ""


def one_line(exc: ValidationError, *, first_only: bool = False) -> str:
    """Every problem of ``exc`` (or only the first) as ``VARIABLE: message``, joined by ``; ``."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        variable = variable_of(tuple(error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{variable}: {message}" if variable else message)
        if first_only:
            break
    return "; ".join(problems)
