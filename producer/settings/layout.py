"""The governance commands' subset of configuration: where each domain's data product lives.

``load_layout_ports()`` reads only ``MESH_LAKE_URL`` and ``MESH_{DOMAIN}__PREFIX`` / ``__BUCKET``
/ ``__STREAM`` (an ``offline_model`` of the daemon's declarations, as raw strings; the defaults
are ``DOMAIN_MODELS``'), so policies can be rendered without any OAuth client variable.
``producer.governance.ports.read_layout`` checks them by the producer's rules and builds the
layout. It reads the environment only, never secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from producer.errors import ConfigError
from producer.settings.env import one_line
from producer.settings.model import DOMAIN_MODELS
from producer.settings.names import DOMAIN_NAMES
from producer.settings.ports import offline_model

__all__ = ["LayoutPorts", "load_layout_ports"]

_LayoutEnv = offline_model(
    "LayoutEnv", process=("lake_url",), port=("prefix", "bucket", "stream"), checked=False
)


@dataclass(frozen=True, slots=True)
class LayoutPorts:
    """The lake URL, each domain's ``(prefix, bucket or None)`` and its ``STREAM`` if set."""

    lake_url: str
    outputs: Mapping[str, tuple[str, str | None]]
    streams: Mapping[str, str]


def load_layout_ports() -> LayoutPorts:
    """The variables from the environment, unchecked; ``ConfigError`` naming the first one
    that cannot be read."""
    try:
        env: Any = _LayoutEnv()
    except ValidationError as exc:
        raise ConfigError(one_line(exc, first_only=True)) from None
    outputs: dict[str, tuple[str, str | None]] = {}
    streams: dict[str, str] = {}
    for domain in DOMAIN_NAMES:
        given = getattr(env, domain)
        default = str(DOMAIN_MODELS[domain].model_fields["prefix"].default)
        outputs[domain] = (default if given.prefix is None else given.prefix, given.bucket)
        if given.stream:
            streams[domain] = given.stream
    return LayoutPorts(lake_url=env.lake_url, outputs=outputs, streams=streams)
