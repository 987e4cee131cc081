"""NICE CXone as a ``SourcePlatform``: the registry's entry for ``PLATFORM=nice``.

``feed`` is ``registry.nice_spec``'s ``Feed`` (Telephony, Quality; WFM is refused with one
line). ``open_source`` grants and discovers through ``wiring.open_nice_source``; the process's
``TenantGates`` (one Data Extraction gate per tenant, shared by every CXone domain) are made by
the first CXone domain of a run and kept in its ``RunShared``. CXone's errors name no
permission, so the permission table is empty.
"""

from __future__ import annotations

from producer.domains.spec import Feed
from producer.platforms.nice.extraction import TenantGates
from producer.platforms.nice.registry import nice_spec
from producer.platforms.nice.wiring import GATE_METRICS_LABEL, open_nice_source, tenant_gates
from producer.platforms.source import Source, SourceContext
from producer.settings import DomainSettings

__all__ = ["PLATFORM"]

_GATES = "nice:tenant-gates"


class _Nice:
    """NICE CXone: an access key per domain, Data Extraction gated per tenant."""

    name = "nice"

    def feed(self, domain: str) -> Feed:
        return nice_spec(domain).feed

    def permission_of(self, path: str) -> str | None:
        return None

    async def open_source(
        self, name: str, domain: DomainSettings, context: SourceContext
    ) -> Source:
        """``name``'s CXone clients (granted and discovered now) and extractor; its Data
        Extraction calls share the run's tenant gates with every other CXone domain."""

        def gates() -> TenantGates:
            return tenant_gates(
                context.settings,
                clock=context.clock,
                metrics=context.metrics.for_domain(GATE_METRICS_LABEL),
            )

        return await open_nice_source(
            name,
            domain,
            session=context.session,
            limiter=context.limiter,
            gates=context.shared.get(_GATES, gates),
            metrics=context.metrics.for_domain(name),
            clock=context.clock,
            retry=context.retry,
            request_timeout_s=context.settings.request_timeout_seconds,
        )


PLATFORM = _Nice()
