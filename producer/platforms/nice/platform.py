"""NICE CXone as a ``SourcePlatform``: the registry's entry for ``PLATFORM=nice``.

``feed`` is ``registry.nice_spec``'s ``Feed`` (Telephony, Quality; WFM is refused with one
line). ``open_source`` is ``wiring.open_nice_source``: it grants and discovers, and the process's
``TenantGates`` (one Data Extraction gate per tenant, shared by every CXone domain) are made by
the first CXone domain of a run and kept in its ``RunShared``. CXone's errors name no
permission, so the permission table is empty.
"""

from __future__ import annotations

from producer.domains.spec import Feed
from producer.platforms.nice.registry import nice_spec
from producer.platforms.nice.wiring import open_nice_source
from producer.platforms.source import Source, SourceContext
from producer.settings import DomainSettings

__all__ = ["PLATFORM"]


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
        """``name``'s CXone clients (granted and discovered now) and extractor."""
        return await open_nice_source(name, domain, context)


PLATFORM = _Nice()
