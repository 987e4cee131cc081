"""NICE CXone as a ``SourcePlatform``: the registry's entry for ``PLATFORM=nice``.

``feed`` is ``registry.nice_spec``'s ``Feed`` (Telephony, Quality; WFM is refused with one
line). ``open_source`` is ``wiring.open_nice_source``: it grants and discovers, and the process's
``TenantGates`` (one Data Extraction gate per tenant, shared by every CXone domain) are made by
the first CXone domain of a run and kept in its ``RunShared``. CXone's errors name no
permission, so the permission table is empty.
"""

from __future__ import annotations

from producer.platforms.nice.registry import nice_spec
from producer.platforms.nice.wiring import open_nice_source
from producer.platforms.source import SourcePlatform

__all__ = ["PLATFORM"]


PLATFORM = SourcePlatform(
    name="nice",
    feed=lambda domain: nice_spec(domain).feed,
    permission_of=lambda path: None,
    open_source=open_nice_source,
)
