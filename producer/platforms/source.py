"""Step 2 (extract): what a source platform offers the daemon, and what the daemon gives it.

A platform's folder ``producer/platforms/{name}/`` has a module ``platform`` exporting
``PLATFORM``, a ``SourcePlatform`` (one record of four fields, the same for every platform): its
``name`` (one of ``settings.PLATFORM_NAMES``), the
``Feed`` of each domain it feeds (its mapper lookup; ``ConfigError`` for a domain it cannot
feed), its permission table (which permission a refused path needs, if it knows) and
``open_source``, which turns a domain's settings into its token manager and extractor.
``SourceContext`` is what the daemon lends ``open_source``: the process's settings, the domain's
HTTP session, limiter and retry policy, the metrics, the clock, and ``RunShared``, where a
platform keeps what its domains share during one run (CXone's per-tenant gates). No I/O here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

import aiohttp

from producer.api.http import DomainHttp
from producer.api.retry import RetryPolicy
from producer.auth.manager import TokenManager
from producer.clock import Clock
from producer.domains.spec import Extractor, Feed
from producer.ratelimit import DomainLimiter
from producer.settings import DomainSettings, Settings
from producer.telemetry.metrics import Metrics

__all__ = ["RunShared", "Source", "SourceContext", "SourcePlatform"]

Source = tuple[TokenManager, Extractor]
"""A domain's token manager (refreshed by the daemon) and its extractor."""
_T = TypeVar("_T")


@dataclass(slots=True)
class RunShared:
    """What a platform's domains share during one run, made by the first domain that asks."""

    _items: dict[str, object] = field(default_factory=dict)

    def get(self, key: str, make: Callable[[], _T]) -> _T:
        """The value kept under ``key``, made by ``make`` the first time."""
        if key not in self._items:
            self._items[key] = make()
        return cast(_T, self._items[key])


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What the daemon lends a platform to open one domain's source."""

    settings: Settings
    session: aiohttp.ClientSession
    limiter: DomainLimiter
    retry: RetryPolicy
    metrics: Metrics
    clock: Clock
    shared: RunShared

    def http(self, name: str) -> DomainHttp:
        """Domain ``name``'s request plumbing: the run's session, clock and retry policy, its
        metrics, and the process-wide timeout and ``Retry-After`` cap of the settings."""
        return DomainHttp(
            domain=name,
            session=self.session,
            metrics=self.metrics.for_domain(name),
            clock=self.clock,
            retry=self.retry,
            request_timeout_s=self.settings.request_timeout_seconds,
            max_retry_after_s=self.settings.max_retry_after_seconds,
        )


@dataclass(frozen=True, slots=True)
class SourcePlatform:
    """A source platform, as ``producer/platforms/{name}/platform.py`` exports it."""

    name: str
    """The value of ``MESH_{DOMAIN}__PLATFORM`` that selects it."""
    feed: Callable[[str], Feed]
    """A domain's mapper, window key and identity on this platform; ``ConfigError`` (one line
    naming ``MESH_{DOMAIN}__PLATFORM``) for a domain it cannot feed."""
    permission_of: Callable[[str], str | None]
    """The permission a refused request to a path needs, if the platform's table knows."""
    open_source: Callable[[str, DomainSettings, SourceContext], Awaitable[Source]]
    """Domain ``name``'s token manager and extractor from its settings."""
